//! The .deb: `cargo deb` (cargo-deb, which `.ci/run` installs) packs the binary these tests
//! were built with (`--profile dev --no-build`: a release build would double CI's compile
//! time; the package's layout is the same), and the package is unpacked into a scratch root
//! with `dpkg -x`. Checked there: the binary runs, /etc/ceilo holds the shipped config and
//! definitions and `ceilo check` accepts them, the units' command lines are ones the binary
//! accepts, `systemd-analyze verify` accepts the units, their hardening scores as systemd
//! rates it, and the maintainer scripts create the ceilo user.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const UNITS: [&str; 3] = [
    "ceilo-notification.service",
    "ceilo-polling.service",
    "ceilo-ipmi.service",
];
const UNIT_DIR: &str = "usr/lib/systemd/system";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = cmd.output().unwrap_or_else(|e| panic!("{shown}: {e}"));
    assert!(
        out.status.success(),
        "{shown}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The .deb, built once per test run under the cargo target dir.
fn deb() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| {
        let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package");
        let _ = std::fs::remove_dir_all(&out_dir);
        std::fs::create_dir_all(&out_dir).expect("output dir");
        // The binary of this test run: <target>/debug/ceilo, which cargo-deb's dev profile takes.
        let binary = Path::new(env!("CARGO_BIN_EXE_ceilo"));
        let target_dir = binary.parent().and_then(Path::parent).expect("target dir");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(&cargo)
            .args(["deb", "--no-build", "--profile", "dev", "--fast", "-p", "ceilo", "--output"])
            .arg(&out_dir)
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(repo())
            .output()
            .expect("run cargo");
        assert!(
            out.status.success(),
            "cargo deb failed (is cargo-deb installed? `cargo install cargo-deb --locked`, as .ci/run does):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let debs: Vec<PathBuf> = std::fs::read_dir(&out_dir)
            .expect("output dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "deb"))
            .collect();
        assert_eq!(debs.len(), 1, "{debs:?}");
        debs.into_iter().next().expect("one .deb")
    })
}

/// The package unpacked with `dpkg -x` (and its control files with `dpkg -e`) into a fresh
/// scratch root.
fn unpack(tag: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("package-root-{tag}"));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("root");
    run(Command::new("dpkg").arg("-x").arg(deb()).arg(&root));
    run(Command::new("dpkg").arg("-e").arg(deb()).arg(root.join("DEBIAN")));
    root
}

/// Every file under `dir`, by path relative to it.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                out.insert(path.strip_prefix(dir).expect("prefix").to_path_buf(), bytes);
            }
        }
    }
    out
}

/// The value of `key=` in a unit file (the last one, as systemd reads it).
fn unit_setting(unit: &str, key: &str) -> String {
    unit.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in\n{unit}"))
        .to_owned()
}

#[test]
fn the_deb_holds_the_binary_the_config_and_the_units() {
    let root = unpack("layout");

    let version = run(Command::new(root.join("usr/bin/ceilo")).arg("--version"));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("ceilo {}", env!("CARGO_PKG_VERSION"))
    );

    // /etc/ceilo is config/ as shipped, file for file; ceilo.yaml (secrets) not world-readable.
    assert_eq!(files(&root.join("etc/ceilo")), files(&repo().join("config")));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("etc/ceilo/ceilo.yaml"))
        .expect("ceilo.yaml")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    let conffiles = std::fs::read_to_string(root.join("DEBIAN/conffiles")).expect("conffiles");
    for file in files(&repo().join("config")).keys() {
        let path = format!("/etc/ceilo/{}", file.display());
        assert!(
            conffiles.lines().any(|l| l == path),
            "{path} is not a conffile:\n{conffiles}"
        );
    }
    run(Command::new(root.join("usr/bin/ceilo"))
        .args(["check", "--config-dir"])
        .arg(root.join("etc/ceilo")));

    let control = std::fs::read_to_string(root.join("DEBIAN/control")).expect("control");
    let depends = control
        .lines()
        .find(|l| l.starts_with("Depends: "))
        .expect("Depends");
    assert!(depends.contains("libvirt0"), "{depends}");
    assert!(depends.contains("systemd-sysusers"), "{depends}");

    for name in UNITS {
        let unit = std::fs::read_to_string(root.join(UNIT_DIR).join(name)).expect(name);
        assert_eq!(unit_setting(&unit, "Type"), "notify");
        assert_eq!(unit_setting(&unit, "User"), "ceilo");
        assert_eq!(unit_setting(&unit, "ExecReload"), "/bin/kill -HUP $MAINPID");
        // The packaged binary takes the unit's command line: with the shipped memory://
        // config it refuses to start as a split agent (exit 1, saying why), not as a usage
        // error (exit 2).
        let exec = unit_setting(&unit, "ExecStart");
        let mut words = exec.split_whitespace();
        assert_eq!(words.next(), Some("/usr/bin/ceilo"));
        let args: Vec<String> = words
            .map(|w| w.replace("/etc/ceilo", &root.join("etc/ceilo").display().to_string()))
            .collect();
        let out = Command::new(root.join("usr/bin/ceilo"))
            .args(&args)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {exec}: {stderr}");
        assert!(stderr.contains("the transport is memory://"), "{name}: {stderr}");
    }
    // The IPMI agent polls the ipmi namespace alone, and of the host's devices may open the
    // BMC's, which the package's udev rule gives to group ceilo.
    let ipmi = std::fs::read_to_string(root.join(UNIT_DIR).join("ceilo-ipmi.service")).expect("ipmi unit");
    assert!(unit_setting(&ipmi, "ExecStart").contains(" --polling-namespaces ipmi "));
    assert_eq!(unit_setting(&ipmi, "DevicePolicy"), "closed");
    assert_eq!(unit_setting(&ipmi, "DeviceAllow"), "/dev/ipmi0 rw");
    let rule =
        std::fs::read_to_string(root.join("usr/lib/udev/rules.d/60-ceilo-ipmi.rules")).expect("udev rule");
    assert!(
        rule.lines()
            .any(|l| l.starts_with("SUBSYSTEM==\"ipmi\", KERNEL==\"ipmi[0-9]*\"")
                && l.contains("GROUP=\"ceilo\"")
                && l.contains("MODE=\"0660\"")),
        "{rule}"
    );
}

#[test]
fn the_maintainer_scripts_create_the_ceilo_user() {
    let root = unpack("user");
    let sysusers = root.join("usr/lib/sysusers.d/ceilo.conf");
    assert!(sysusers.is_file());
    let postinst = std::fs::read_to_string(root.join("DEBIAN/postinst")).expect("postinst");
    assert!(postinst.contains("systemd-sysusers"), "{postinst}");
    assert!(
        postinst.contains("dpkg-statoverride --update --add root ceilo 0640 /etc/ceilo/ceilo.yaml"),
        "{postinst}"
    );
    // What postinst runs, on the scratch root: the user and its group appear there.
    run(Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.display()))
        .arg(&sysusers));
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).expect("passwd");
    let user = passwd
        .lines()
        .find(|l| l.starts_with("ceilo:"))
        .expect("ceilo user");
    let fields: Vec<&str> = user.split(':').collect();
    assert!(
        fields[2].parse::<u32>().expect("uid") < 1000,
        "a system user: {user}"
    );
    assert_eq!(fields[5], "/var/lib/ceilo");
    assert!(fields[6].ends_with("nologin"), "{user}");
    let group = std::fs::read_to_string(root.join("etc/group")).expect("group");
    assert!(group.lines().any(|l| l.starts_with("ceilo:")), "{group}");
}

/// A scratch root with the package and what a Debian host with systemd has: systemd's own
/// units (the targets the units order against), /bin/kill (procps) and /bin/udevadm (udev),
/// copied from this host.
fn root_with_systemd() -> PathBuf {
    let root = unpack("systemd");
    let units = root.join(UNIT_DIR);
    for entry in std::fs::read_dir("/usr/lib/systemd/system").expect("this host's systemd units") {
        let path = entry.expect("entry").path();
        let target = units.join(path.file_name().expect("name"));
        if path.is_file() && !target.exists() {
            std::fs::copy(&path, &target).expect("copy unit");
        }
    }
    std::fs::create_dir_all(root.join("bin")).expect("bin");
    for tool in ["kill", "udevadm"] {
        let path = format!("/bin/{tool}");
        std::fs::copy(&path, root.join("bin").join(tool)).expect(&path);
    }
    root
}

#[test]
fn systemd_analyze_verify_accepts_the_units() {
    let root = root_with_systemd();
    let out = Command::new("systemd-analyze")
        .arg(format!("--root={}", root.display()))
        .arg("verify")
        .args(UNITS)
        .output()
        .expect("systemd-analyze (package systemd, which .ci/run installs)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // verify exits 0 on what it only warns about (an unknown key, a bad value): none of that
    // for ours. (Warnings about this host's own units are not ours to fix; a line is ours when
    // it names one of our units: the scratch root's path may hold "ceilo" too.)
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| UNITS.iter().any(|unit| l.contains(unit)))
        .collect();
    assert!(ours.is_empty(), "{}", ours.join("\n"));
}

#[test]
fn the_units_are_hardened() {
    let root = root_with_systemd();
    for unit in UNITS {
        // systemd's exposure score, 0 (locked down) to 10; 2.0 and under is "OK". The
        // threshold is in tenths.
        let out = Command::new("systemd-analyze")
            .arg(format!("--root={}", root.display()))
            .args(["security", "--offline=yes", "--threshold=20", "--no-pager", unit])
            .output()
            .expect("systemd-analyze");
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{unit}:\n{report}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // And what the issue asks for by name, as systemd reads it.
        for (setting, says) in [
            ("User=/DynamicUser=", "static non-root user"),
            ("NoNewPrivileges=", "cannot acquire new privileges"),
            ("ProtectSystem=", "strict read-only access"),
            ("ProtectHome=", "no access to home directories"),
            ("PrivateTmp=", "no access to other software's temporary files"),
        ] {
            let line = report
                .lines()
                .find(|l| l.contains(&format!(" {setting} ")))
                .unwrap_or_else(|| panic!("{unit}: no {setting} in\n{report}"));
            assert!(line.starts_with('✓') && line.contains(says), "{unit}: {line}");
        }
    }
}
