//! The real Ceilometer 27 that side-by-side tests run beside ceilo: the venv of
//! `scripts/libvirt-lab.sh ceilometer` (`CEILOMETER_VENV`, default /opt/ceilometer-venv),
//! installed once by `.ci/run` or by the first test that asks.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::process::Command;

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
