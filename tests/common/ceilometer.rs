//! The real Ceilometer 27 that side-by-side tests run beside ceilo: the venv of
//! `scripts/libvirt-lab.sh ceilometer` (`CEILOMETER_VENV`, default /opt/ceilometer-venv),
//! installed once by `.ci/run` or by the first test that asks.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::process::{Child, Command};

/// The venv, installed if it is not there yet.
pub fn venv() -> PathBuf {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/libvirt-lab.sh");
    let ok = Command::new("bash")
        .arg(&script)
        .arg("ceilometer")
        .status()
        .expect("libvirt-lab.sh");
    assert!(
        ok.success(),
        "libvirt-lab.sh ceilometer failed: no Ceilometer 27 to compare with"
    );
    std::env::var_os("CEILOMETER_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/ceilometer-venv"))
}

/// A Ceilometer service a test started, its stderr in a log: stopped on drop with the workers
/// it forked ([`stop`]).
pub struct Service {
    child: Child,
    log: PathBuf,
}

impl Service {
    /// `command` (an agent of the venv) started, stdout discarded, stderr into `log`.
    pub fn spawn(mut command: Command, log: PathBuf) -> Service {
        let stderr = std::fs::File::create(&log).expect("the service's log");
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start {:?}: {e}", command.get_program()));
        Service { child, log }
    }

    /// What it wrote to stderr so far (oslo.log's records with `use_stderr`).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Stop a Ceilometer service started as `child`: the cotyledon master and every worker it
/// forked. Killing the master alone leaves its workers running (idle, ~85 MB each) after the
/// test.
pub fn stop(child: &mut Child) {
    let tree = process_tree(child.id());
    let _ = child.kill();
    let _ = child.wait();
    for pid in tree.into_iter().skip(1) {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
}

/// `pid` and its descendants (pid first), as /proc lists them now.
pub fn process_tree(pid: u32) -> Vec<u32> {
    // After the command name: state, then the parent's pid.
    let parent_of = |p: u32| stat_fields(p)?.get(1)?.parse().ok();
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| Some((p, parent_of(p)?)))
        .collect();
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    tree
}

/// The fields of /proc/<pid>/stat after the command name (field 3, `state`, first).
pub fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}
