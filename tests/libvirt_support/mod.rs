//! Real guests for the libvirt pollster tests: `scripts/libvirt-lab.sh` installs libvirt and
//! QEMU when missing (skipped when present), starts virtlogd/libvirtd when not running and
//! builds the guest kernel + initramfs once under the cargo target dir; [`TestGuest`] defines
//! and starts a small TCG guest that looks like a nova instance (nova metadata with a flavor
//! id, owner and image; a qcow2 disk; an `ethernet` interface with a managed tap; a balloon
//! with stats), each with a unique name, uuid, MAC and tap, destroyed and undefined on drop.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ceilo::polling::libvirt::stats::{self, DomainStats};
use virt::connect::Connect;
use virt::domain::Domain;

pub const URI: &str = "qemu:///system";

/// Every meter of Ceilometer 27's compute pollsters that libvirt can give.
pub const COMPUTE_METERS: [&str; 30] = [
    "power.state",
    "cpu",
    "vcpus",
    "memory",
    "memory.available",
    "memory.usage",
    "memory.resident",
    "memory.swap.in",
    "memory.swap.out",
    "disk.root.size",
    "disk.ephemeral.size",
    "disk.device.read.requests",
    "disk.device.read.bytes",
    "disk.device.write.requests",
    "disk.device.write.bytes",
    "disk.device.read.latency",
    "disk.device.write.latency",
    "disk.device.capacity",
    "disk.device.allocation",
    "disk.device.usage",
    "network.incoming.bytes",
    "network.incoming.packets",
    "network.outgoing.bytes",
    "network.outgoing.packets",
    "network.incoming.packets.drop",
    "network.outgoing.packets.drop",
    "network.incoming.packets.error",
    "network.outgoing.packets.error",
    "network.incoming.bytes.delta",
    "network.outgoing.bytes.delta",
];

/// Where the guest kernel/initramfs and the test disks live (world-traversable: QEMU runs as
/// libvirt-qemu).
fn lab_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("libvirt-lab")
}

/// Install/start libvirt and build the guest, once per test binary. Test binaries that run side
/// by side (`scripts/test.sh`) share the lab directory and libvirtd: one sets them up at a time,
/// and none while another restarts libvirtd.
pub fn lab() -> &'static Path {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY.get_or_init(|| {
        let _setting_up = MachineLock::take("libvirt-lab", libc::LOCK_EX);
        let _libvirtd = MachineLock::take("libvirtd", libc::LOCK_SH);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/libvirt-lab.sh");
        let dir = lab_dir();
        for args in [
            vec!["install".to_string()],
            vec!["guest".into(), dir.join("guest").display().to_string()],
        ] {
            let out = Command::new("bash")
                .arg(&script)
                .args(&args)
                .output()
                .expect("run libvirt-lab.sh");
            assert!(
                out.status.success(),
                "libvirt-lab.sh {args:?}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::create_dir_all(dir.join("disks")).expect("disks dir");
        dir
    })
}

/// A lock every process on the machine sees (`flock` on a file in /tmp, released when dropped or
/// when the process dies): libvirtd is the machine's, not a test's.
pub struct MachineLock(std::fs::File);

impl MachineLock {
    fn take(name: &str, mode: libc::c_int) -> MachineLock {
        use std::os::fd::AsRawFd;
        let path = format!("/tmp/ceilo-{name}.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: flock on a descriptor this function owns; it blocks until the lock is given.
        let taken = unsafe { libc::flock(file.as_raw_fd(), mode) };
        assert_eq!(taken, 0, "flock {path}: {}", std::io::Error::last_os_error());
        MachineLock(file)
    }
}

/// Held by a test that uses libvirtd, in any test binary: libvirtd is not restarted meanwhile.
pub fn libvirtd_shared() -> MachineLock {
    lab();
    MachineLock::take("libvirtd", libc::LOCK_SH)
}

/// Held by the test that restarts libvirtd: no other test uses it meanwhile.
pub fn libvirtd_alone() -> MachineLock {
    lab();
    MachineLock::take("libvirtd", libc::LOCK_EX)
}

pub fn connect() -> Connect {
    lab();
    Connect::open(Some(URI)).expect("connect to qemu:///system")
}

/// Short random hex (unique names, taps, MACs).
pub fn hex(n: usize) -> String {
    uuid::Uuid::new_v4().simple().to_string()[..n].to_owned()
}

/// What a test guest is, as nova would have described it.
#[derive(Debug, Clone)]
pub struct Spec {
    pub uuid: String,
    pub name: String,
    pub display_name: String,
    pub tap: String,
    pub mac: String,
    pub user_id: String,
    pub project_id: String,
    pub image_id: String,
    /// With nova metadata (false: a domain that is not OpenStack's).
    pub nova: bool,
}

impl Spec {
    pub fn new() -> Spec {
        let h = hex(8);
        Spec {
            uuid: uuid::Uuid::new_v4().to_string(),
            name: format!("ceilo-t-{h}"),
            display_name: format!("vm-{h}"),
            tap: format!("ct{h}"),
            mac: format!("fa:16:3e:{}:{}:{}", &h[0..2], &h[2..4], &h[4..6]),
            user_id: hex(32),
            project_id: hex(32),
            image_id: uuid::Uuid::new_v4().to_string(),
            nova: true,
        }
    }

    pub fn xml(&self, lab: &Path) -> String {
        let guest = lab.join("guest");
        let disk = lab.join("disks").join(format!("{}.qcow2", self.name));
        let console = lab.join("disks").join(format!("{}.log", self.name));
        let metadata = if self.nova {
            format!(
                r#"<metadata>
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:package version="27.0.0"/>
      <nova:name>{display}</nova:name>
      <nova:creationTime>2026-01-01 00:00:00</nova:creationTime>
      <nova:flavor name="m1.tiny" id="1">
        <nova:memory>128</nova:memory>
        <nova:disk>1</nova:disk>
        <nova:swap>0</nova:swap>
        <nova:ephemeral>0</nova:ephemeral>
        <nova:vcpus>1</nova:vcpus>
      </nova:flavor>
      <nova:owner>
        <nova:user uuid="{user}">admin</nova:user>
        <nova:project uuid="{project}">admin</nova:project>
      </nova:owner>
      <nova:root type="image" uuid="{image}"/>
    </nova:instance>
  </metadata>"#,
                display = self.display_name,
                user = self.user_id,
                project = self.project_id,
                image = self.image_id
            )
        } else {
            String::new()
        };
        format!(
            r#"<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  {metadata}
  <memory unit='MiB'>128</memory>
  <features><tcg><tb-cache unit='MiB'>64</tb-cache></tcg></features>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 panic=-1</cmdline>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='ethernet'>
      <mac address='{mac}'/>
      <target dev='{tap}' managed='yes'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'><source path='{console}'/></serial>
    <memballoon model='virtio'><stats period='2'/></memballoon>
  </devices>
</domain>"#,
            name = self.name,
            uuid = self.uuid,
            kernel = guest.join("vmlinuz").display(),
            initrd = guest.join("initrd.gz").display(),
            disk = disk.display(),
            mac = self.mac,
            tap = self.tap,
            console = console.display(),
        )
    }
}

/// A defined (and, with [`TestGuest::start`], running) domain; destroyed, undefined and its
/// disk removed on drop.
pub struct TestGuest {
    pub spec: Spec,
    pub conn: Connect,
    pub domain: Domain,
}

impl TestGuest {
    /// Define a guest (not started).
    pub fn define(spec: Spec) -> TestGuest {
        let lab = lab();
        let disk = lab.join("disks").join(format!("{}.qcow2", spec.name));
        let out = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&disk)
            .arg("64M")
            .output()
            .expect("qemu-img");
        assert!(
            out.status.success(),
            "qemu-img: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conn = connect();
        let domain = Domain::define_xml(&conn, &spec.xml(lab)).expect("define the guest");
        TestGuest { spec, conn, domain }
    }

    /// Define and start a guest with nova metadata.
    pub fn start(spec: Spec) -> TestGuest {
        let g = TestGuest::define(spec);
        g.domain.create().expect("start the guest");
        g
    }

    /// The guest's qcow2 image on the host.
    pub fn disk_path(&self) -> PathBuf {
        lab_dir().join("disks").join(format!("{}.qcow2", self.spec.name))
    }

    /// A new connection and domain handle (after libvirtd restarted).
    pub fn reconnect(&mut self) {
        self.conn = connect();
        self.domain = Domain::lookup_by_uuid_string(&self.conn, &self.spec.uuid).expect("look the guest up");
    }

    /// This guest's record of one bulk stats call (None: not active).
    pub fn stats(&self) -> Option<DomainStats> {
        stats::fetch(&self.conn, false)
            .expect("domain stats")
            .remove(&self.spec.uuid)
    }

    /// Wait until the guest's init runs: balloon stats from the guest driver, a disk write
    /// and packets out.
    pub fn wait_booted(&self) {
        let mut last = None;
        let booted = (0..240).any(|_| {
            last = self.stats();
            let up = last.as_ref().is_some_and(|s| {
                s.balloon.contains_key("usable")
                    && s.net(&self.spec.tap).is_some_and(|n| n.tx_pkts.unwrap_or(0) > 0)
                    && s.block("vda").is_some_and(|b| b.wr_reqs.unwrap_or(0) > 0)
            });
            if !up {
                std::thread::sleep(Duration::from_millis(500));
            }
            up
        });
        let console = lab_dir().join("disks").join(format!("{}.log", self.spec.name));
        assert!(
            booted,
            "{} did not boot in 120 s; last stats {last:?}; console:\n{}",
            self.spec.name,
            std::fs::read_to_string(&console).unwrap_or_default()
        );
    }
}

impl Drop for TestGuest {
    fn drop(&mut self) {
        let _ = self.domain.destroy();
        let _ = self.domain.undefine();
        let lab = lab_dir().join("disks");
        let _ = std::fs::remove_file(lab.join(format!("{}.qcow2", self.spec.name)));
        let _ = std::fs::remove_file(lab.join(format!("{}.log", self.spec.name)));
    }
}

pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}
