//! What is wrong with a config or definition file, said as `ceilo check` and `ceilo run` both
//! print it: the file, the line when it is known, and the message.
//!
//! One type for every file: the loaders that validate (pipelines, settings) return it, and
//! the two subcommands print it the same way. It says nothing about how a file is read.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem: `file:line: message`, or `file: message` when no line is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    /// 1-based.
    pub line: Option<usize>,
    pub message: String,
}

impl Problem {
    pub fn new(path: &Path, line: Option<usize>, message: impl fmt::Display) -> Problem {
        Problem {
            path: path.to_owned(),
            line,
            message: message.to_string(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_line_when_it_is_known() {
        let path = Path::new("/etc/ceilo/pipeline.yaml");
        assert_eq!(
            Problem::new(path, Some(7), "sink \"k\": bad").to_string(),
            "/etc/ceilo/pipeline.yaml:7: sink \"k\": bad"
        );
        assert_eq!(
            Problem::new(path, None, "cannot read").to_string(),
            "/etc/ceilo/pipeline.yaml: cannot read"
        );
    }
}
