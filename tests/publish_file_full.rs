//! `file://` on a disk that fills up: the publisher holds what it could not write and retries,
//! and once there is room again the file has every sample exactly once, every line whole.
//!
//! The disk is a small tmpfs the test mounts (root, as `.ci/run` runs) and unmounts.

mod runtime_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use runtime_support::*;

const NOTIFICATIONS: usize = 400;

/// A tmpfs of `size` mounted on a directory of its own, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "ceilo-test"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount a tmpfs (the test runs as root)");
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the disk with `filler` until a write fails, then frees `keep` bytes of it.
    fn fill_leaving(&self, keep: u64) -> PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut f = std::fs::File::create(&filler).expect("filler");
        let block = vec![b'x'; 4096];
        while f.write_all(&block).is_ok() {}
        let len = f.metadata().expect("filler size").len();
        f.set_len(len.saturating_sub(keep)).expect("free some");
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_holds_the_samples_and_they_are_written_once_each_when_room_returns() {
    let disk = SmallDisk::mount("1m");
    let filler = disk.fill_leaving(48 * 1024);
    let out = disk.path().join("samples.json");
    let broker = Broker::new("filefull");
    let dir = config_dir(&settings(100, 10));
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        pipeline_to(&format!("file://{}?json", out.display())),
    )
    .expect("pipeline.yaml");
    let agent = Agent::start(dir.path(), &broker.url());
    let rt = runtime();
    wait_until("the agent consuming", Duration::from_secs(30), || {
        broker.consumed_queues().contains("notifications.sample")
    });
    rt.block_on(publish(&broker.url(), &polling_messages("full", NOTIFICATIONS)));

    wait_until(
        "the publisher failing on the full disk",
        Duration::from_secs(60),
        || agent.log_text().contains("No space left on device"),
    );
    // While the disk is full, what was not written is held, never acked.
    std::thread::sleep(Duration::from_secs(2));
    let acked = metric(&agent, "ceilo_notifications_acked_total");
    assert!(
        acked < NOTIFICATIONS as f64,
        "{acked} acked although the disk is full"
    );

    std::fs::remove_file(filler).expect("make room");
    // The lines written so far (a last one being written may be cut: it is not counted yet).
    let ids = || -> Option<HashMap<String, usize>> {
        let text = std::fs::read_to_string(&out).ok()?;
        let mut ids = HashMap::new();
        for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            let sample: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a line that is not whole JSON ({e}): {line:?}"));
            let id = sample["id"].as_str().expect("id").to_owned();
            *ids.entry(id).or_default() += 1;
        }
        Some(ids)
    };
    wait_until("every sample in the file", Duration::from_secs(60), || {
        ids().is_some_and(|ids| ids.len() == NOTIFICATIONS)
    });
    wait_until("every notification acked", Duration::from_secs(30), || {
        broker.counts("notifications.sample") == (0, 0)
    });
    assert!(
        std::fs::read_to_string(&out).expect("file").ends_with('\n'),
        "the last line is whole"
    );
    let twice: Vec<(String, usize)> = ids().expect("file").into_iter().filter(|(_, n)| *n > 1).collect();
    assert!(twice.is_empty(), "samples written more than once: {twice:?}");
    assert!(agent.terminate().success());
}
