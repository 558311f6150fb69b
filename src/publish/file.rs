//! `file://`: samples and events as JSON lines (`Sample.as_dict()` / `Event.as_dict()` shapes),
//! rotated like Python's `RotatingFileHandler` (`max_bytes`, `backup_count`), which is what
//! Ceilometer's file publisher uses. A flush is durable after `write` + `fsync` (unless
//! `fsync=0`); the blocking I/O runs on tokio's blocking pool, never on an actor thread.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{Items, Output, PublishError, Write};
use crate::event::message::event_json;
use crate::model::json_write::write_value;
use crate::model::sample::write_sample_as_dict;

struct FileState {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max_bytes: u64,
    backup_count: u32,
    fsync: bool,
}

impl FileState {
    fn io(&self) -> impl FnOnce(std::io::Error) -> PublishError + '_ {
        move |source| PublishError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn open(&mut self) -> Result<&mut File, PublishError> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(self.io())?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(self.io())?;
            self.size = file.metadata().map_err(self.io())?.len();
            self.file = Some(file);
        }
        let io_err = || PublishError::Encode("file vanished".into());
        self.file.as_mut().ok_or_else(io_err)
    }

    fn rollover(&mut self) -> Result<(), PublishError> {
        if let Some(f) = self.file.take() {
            if self.fsync {
                f.sync_all().map_err(self.io())?;
            }
        }
        let name = |i: u32| -> PathBuf {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{i}"));
            p.into()
        };
        for i in (1..self.backup_count).rev() {
            let (from, to) = (name(i), name(i + 1));
            if from.exists() {
                std::fs::rename(&from, &to).map_err(self.io())?;
            }
        }
        std::fs::rename(&self.path, name(1)).map_err(self.io())?;
        self.size = 0;
        Ok(())
    }

    fn write_lines(&mut self, lines: &[u8]) -> Result<(), PublishError> {
        for line in lines.split_inclusive(|b| *b == b'\n') {
            self.open()?;
            if self.max_bytes > 0
                && self.backup_count > 0
                && self.size > 0
                && self.size + line.len() as u64 >= self.max_bytes
            {
                self.rollover()?;
                self.open()?;
            }
            let file = self.open()?;
            let res = file.write_all(line);
            res.map_err(self.io())?;
            self.size += line.len() as u64;
        }
        if self.fsync {
            if let Some(f) = &self.file {
                f.sync_data().map_err(self.io())?;
            }
        }
        Ok(())
    }
}

pub struct FileOutput {
    name: String,
    state: Arc<Mutex<FileState>>,
    runtime: tokio::runtime::Handle,
}

impl FileOutput {
    pub fn new(
        path: &Path,
        max_bytes: u64,
        backup_count: u32,
        fsync: bool,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        FileOutput {
            name: format!("file://{}", path.display()),
            state: Arc::new(Mutex::new(FileState {
                path: path.to_owned(),
                file: None,
                size: 0,
                max_bytes,
                backup_count,
                fsync,
            })),
            runtime,
        }
    }

    /// The JSON lines of a flush.
    pub fn encode(flush: &Items) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 * flush.len());
        for s in &flush.samples {
            write_sample_as_dict(&mut out, s);
            out.push(b'\n');
        }
        for e in &flush.events {
            write_value(&mut out, &event_json(e));
            out.push(b'\n');
        }
        out
    }
}

impl Output for FileOutput {
    fn name(&self) -> &str {
        &self.name
    }

    fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
        let lines = Arc::new(Self::encode(&flush));
        let state = self.state.clone();
        let runtime = self.runtime.clone();
        Ok(Arc::new(move || {
            let (lines, state) = (lines.clone(), state.clone());
            let job = runtime.spawn_blocking(move || {
                let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
                let res = state.write_lines(&lines);
                if res.is_err() {
                    state.file = None; // reopen on retry
                }
                res
            });
            Box::pin(async move {
                job.await
                    .map_err(|e| PublishError::Encode(format!("file writer: {e}")))?
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_like_rotating_file_handler() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.log");
        let mut st = FileState {
            path: path.clone(),
            file: None,
            size: 0,
            max_bytes: 10,
            backup_count: 2,
            fsync: true,
        };
        st.write_lines(b"aaaa\nbbbb\ncccc\ndddd\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "dddd\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("s.log.1")).unwrap(),
            "cccc\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("s.log.2")).unwrap(),
            "bbbb\n"
        );
        assert!(!dir.path().join("s.log.3").exists());
    }
}
