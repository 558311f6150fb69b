//! `file://`: one line per sample or event, as Ceilometer's file publisher logs them:
//! `str(x.as_dict())` (Python's dict repr), or `json.dumps(x.as_dict())` with `?json`; rotated
//! like Python's `RotatingFileHandler` (`max_bytes`, `backup_count`), which that publisher
//! uses. A flush is durable after `write` + `fsync` (unless `fsync=0`); the blocking I/O runs
//! on tokio's blocking pool, never on an actor thread.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::NaiveDateTime;

use super::{Items, Output, PublishError, Write};
use crate::model::json_write::{write_f64, write_i64, write_str, write_value};
use crate::model::py::datetime;
use crate::model::py::repr::{py_repr, write_float_repr, write_str_repr};
use crate::model::sample::{write_sample_as_dict, write_sample_as_dict_repr};
use crate::model::{Event, OwnedValue, TraitValue};

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
        for i in self.backups().map_err(self.io())?.into_iter().rev() {
            std::fs::rename(name(i), name(i + 1)).map_err(self.io())?;
        }
        std::fs::rename(&self.path, name(1)).map_err(self.io())?;
        self.size = 0;
        Ok(())
    }

    /// The numbers of the backups there are (`path.N`, 1 ≤ N < backup_count), ascending: those
    /// RotatingFileHandler moves up, found in one directory listing rather than by asking for
    /// every number below `backup_count` (up to 4 billion) whether it exists.
    fn backups(&self) -> std::io::Result<Vec<u32>> {
        use std::os::unix::ffi::OsStrExt;
        let Some(file_name) = self.path.file_name() else {
            return Ok(Vec::new());
        };
        let prefix = [file_name.as_bytes(), b"."].concat();
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(number) = name.as_bytes().strip_prefix(prefix.as_slice()) else {
                continue;
            };
            // Only the names Python writes, `str(i)`: no sign, no leading zero.
            let i = std::str::from_utf8(number)
                .ok()
                .and_then(|n| n.parse::<u32>().ok());
            if let Some(i) = i.filter(|i| i.to_string().as_bytes() == number) {
                if (1..self.backup_count).contains(&i) {
                    found.push(i);
                }
            }
        }
        found.sort_unstable();
        Ok(found)
    }

    /// Writes `lines` from byte `*done` on (what an earlier attempt at the same flush did not
    /// write), moving `*done` past each line once it is written whole. A retry after a failure
    /// (a full disk) so resumes at the first line not written, and the part of a line the
    /// failure cut short is cut off the file again: no line is written twice, none is left
    /// broken. A failed sync starts the flush over (the kernel may have dropped what it had
    /// not written yet), so its lines are written at least once.
    fn write_lines(&mut self, lines: &[u8], done: &mut usize) -> Result<(), PublishError> {
        for line in lines[*done..].split_inclusive(|b| *b == b'\n') {
            self.open()?;
            // Python adds the record's length in characters to the file's position in bytes.
            let chars = line.iter().filter(|b| (**b as i8) >= -0x40).count() as u64;
            if self.max_bytes > 0
                && self.backup_count > 0
                && self.size > 0
                && self.size + chars >= self.max_bytes
            {
                self.rollover()?;
                self.open()?;
            }
            let whole = self.size;
            let file = self.open()?;
            if let Err(e) = file.write_all(line) {
                let _ = file.set_len(whole);
                return Err(self.io()(e));
            }
            self.size += line.len() as u64;
            *done += line.len();
        }
        if self.fsync {
            if let Some(f) = &self.file {
                if let Err(e) = f.sync_data() {
                    *done = 0;
                    return Err(self.io()(e));
                }
            }
        }
        Ok(())
    }
}

pub struct FileOutput {
    name: String,
    /// `?json`: lines are `json.dumps` of the dicts rather than their `str()`.
    json: bool,
    state: Arc<Mutex<FileState>>,
    runtime: tokio::runtime::Handle,
}

impl FileOutput {
    pub fn new(
        path: &Path,
        max_bytes: u64,
        backup_count: u32,
        fsync: bool,
        json: bool,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        FileOutput {
            name: format!("file://{}", path.display()),
            json,
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

    /// The lines of a flush.
    pub fn encode(flush: &Items, json: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 * flush.len());
        for s in &flush.samples {
            if json {
                write_sample_as_dict(&mut out, s);
            } else {
                write_sample_as_dict_repr(&mut out, s);
            }
            out.push(b'\n');
        }
        for e in &flush.events {
            EventDict { out: &mut out, json }.write(e);
            out.push(b'\n');
        }
        out
    }
}

/// Ceilometer's `Event.as_dict()`, `{message_id, event_type, generated, traits: [{name, dtype,
/// value}], raw}` with its datetimes as they are, written as `str()` writes the dict, or as
/// `json.dumps(..., default=str)` does (datetimes as `str(dt)`: a space before the time).
struct EventDict<'a> {
    out: &'a mut Vec<u8>,
    json: bool,
}

impl EventDict<'_> {
    fn write(&mut self, e: &Event) {
        self.key("{", "message_id");
        match &e.message_id {
            Some(id) => self.text(id),
            None => self.value(&crate::model::meter_message::NULL),
        }
        self.key(", ", "event_type");
        self.text(&e.event_type);
        self.key(", ", "generated");
        self.datetime(&e.generated);
        self.key(", ", "traits");
        self.out.push(b'[');
        for (i, t) in e.traits.iter().enumerate() {
            self.key(if i == 0 { "{" } else { ", {" }, "name");
            self.text(&t.name);
            self.key(", ", "dtype");
            write_i64(self.out, i64::from(t.value.dtype()));
            self.key(", ", "value");
            match &t.value {
                TraitValue::Text(s) | TraitValue::Untyped(s) => self.text(s),
                TraitValue::Int(n) => write_i64(self.out, *n),
                TraitValue::Float(f) if self.json => write_f64(self.out, *f),
                TraitValue::Float(f) => write_float_repr(self.out, *f),
                TraitValue::Datetime(dt) => self.datetime(dt),
            }
            self.out.push(b'}');
        }
        self.out.push(b']');
        self.key(", ", "raw");
        self.value(&e.raw);
        self.out.push(b'}');
    }

    fn key(&mut self, before: &str, key: &str) {
        self.out.extend_from_slice(before.as_bytes());
        self.text(key);
        self.out.extend_from_slice(b": ");
    }

    fn text(&mut self, s: &str) {
        if self.json {
            write_str(self.out, s);
        } else {
            write_str_repr(self.out, s);
        }
    }

    fn value(&mut self, v: &OwnedValue) {
        if self.json {
            write_value(self.out, v);
        } else {
            py_repr(self.out, v);
        }
    }

    fn datetime(&mut self, dt: &NaiveDateTime) {
        if self.json {
            write_str(self.out, &datetime::str_of(dt));
        } else {
            self.out.extend_from_slice(datetime::repr_of(dt).as_bytes());
        }
    }
}

impl Output for FileOutput {
    fn name(&self) -> &str {
        &self.name
    }

    fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
        let lines = Arc::new(Self::encode(&flush, self.json));
        let state = self.state.clone();
        let runtime = self.runtime.clone();
        // Bytes of `lines` written by this flush's attempts so far (they run one after another).
        let written = Arc::new(AtomicUsize::new(0));
        Ok(Arc::new(move || {
            let (lines, state, written) = (lines.clone(), state.clone(), written.clone());
            let job = runtime.spawn_blocking(move || {
                let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
                let mut done = written.load(Ordering::Relaxed);
                let res = state.write_lines(&lines, &mut done);
                written.store(done, Ordering::Relaxed);
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

    /// A file state as the publisher starts with one: nothing open, nothing written yet.
    fn state(path: PathBuf, max_bytes: u64, backup_count: u32, fsync: bool) -> FileState {
        FileState {
            path,
            file: None,
            size: 0,
            max_bytes,
            backup_count,
            fsync,
        }
    }

    /// Ceilometer 27's file publisher wrote these lines for the same samples and events
    /// (`tests/fixtures/publishers/record_ceilometer.py`): `str()` of the dicts without `?json`,
    /// `json.dumps` with it.
    #[test]
    fn lines_are_what_ceilometers_file_publisher_writes() {
        use crate::publish::fixtures;
        let items = Items {
            samples: fixtures::samples(),
            events: fixtures::events(),
            dead: Vec::new(),
        };
        for (json, recording) in [(false, "file_repr.txt"), (true, "file_json.txt")] {
            let written = String::from_utf8(FileOutput::encode(&items, json)).unwrap();
            let expected = fixtures::read(recording);
            for (ours, theirs) in written.lines().zip(expected.lines()) {
                assert_eq!(ours, theirs, "{recording}");
            }
            assert_eq!(written, expected, "{recording}");
        }
    }

    /// RotatingFileHandler adds the record's length in characters, not bytes, to the file's
    /// size: a line of 3 characters in 7 bytes fits where 7 ASCII ones would roll over.
    #[test]
    fn a_line_counts_its_characters_toward_max_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.log");
        let mut st = state(path.clone(), 10, 1, false);
        st.write_lines("abcd\n☃☃\n".as_bytes(), &mut 0).unwrap();
        let read = || std::fs::read_to_string(&path).unwrap();
        assert_eq!(read(), "abcd\n☃☃\n", "5 bytes + 3 characters < 10");
        st.write_lines(b"x\n", &mut 0).unwrap();
        assert_eq!(read(), "x\n", "12 bytes + 2 characters >= 10");
    }

    #[test]
    fn rotates_like_rotating_file_handler() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.log");
        let mut st = state(path.clone(), 10, 2, true);
        st.write_lines(b"aaaa\nbbbb\ncccc\ndddd\n", &mut 0).unwrap();
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

    /// With the largest `backup_count`, a rotation used to ask for 4 billion names whether they
    /// exist (an hour or so): the publisher stalled at its first rotation.
    #[test]
    fn a_huge_backup_count_rotates_at_once_and_moves_only_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.log");
        // Not backups: Python's names are `str(i)`.
        for other in ["s.log.01", "s.log.+1", "s.log.x", "t.log.1"] {
            std::fs::write(dir.path().join(other), other).unwrap();
        }
        let (done, finished) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || {
            let mut st = state(p, 10, u32::MAX, false);
            done.send(st.write_lines(b"aaaa\nbbbb\ncccc\ndddd\n", &mut 0))
                .unwrap();
        });
        finished
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("three rotations within 20 s")
            .unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(read("s.log"), "dddd\n");
        assert_eq!(read("s.log.1"), "cccc\n");
        assert_eq!(read("s.log.2"), "bbbb\n");
        assert_eq!(read("s.log.3"), "aaaa\n");
        for other in ["s.log.01", "s.log.+1", "s.log.x", "t.log.1"] {
            assert_eq!(read(other), other);
        }
    }
}
