//! What is wrong with a config or definition file, said as `ceilo check` and `ceilo run` both
//! print it: the file, the line when it is known, and the message.
//!
//! One type for every file: the loaders that validate (pipelines, settings, meter, event and
//! Gnocchi resource definitions) return it or an error that becomes it, and the two subcommands
//! print it the same way (a reload logs it so). It says nothing about how a file is read.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem: `file:line: message`, `file:line:column: message` when the column is known
/// too (a YAML syntax error), or `file: message` when no line is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    /// 1-based.
    pub line: Option<usize>,
    /// 1-based; only with a line.
    pub column: Option<usize>,
    pub message: String,
}

impl Problem {
    pub fn new(path: &Path, line: Option<usize>, message: impl fmt::Display) -> Problem {
        Problem {
            path: path.to_owned(),
            line,
            column: None,
            message: message.to_string(),
        }
    }

    /// The same problem, pointing at `column` of its line.
    pub fn at_column(self, column: usize) -> Problem {
        Problem {
            column: Some(column),
            ..self
        }
    }
}

/// A problem is what a loader fails with when it stops at the first one.
impl std::error::Error for Problem {}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "{}:{line}:{column}: {}", self.path.display(), self.message)
            }
            (Some(line), None) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            (None, _) => write!(f, "{}: {}", self.path.display(), self.message),
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
            Problem::new(path, Some(3), "invalid YAML")
                .at_column(5)
                .to_string(),
            "/etc/ceilo/pipeline.yaml:3:5: invalid YAML"
        );
        assert_eq!(
            Problem::new(path, None, "cannot read").to_string(),
            "/etc/ceilo/pipeline.yaml: cannot read"
        );
    }
}
