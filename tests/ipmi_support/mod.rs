//! A real BMC for the IPMI pollster tests: OpenIPMI's simulator (`ipmi_sim`, Debian's
//! `openipmi`) serving RMCP+ on a free UDP port of 127.0.0.1, with a sensor data repository
//! compiled by its `sdrcomp` from [`SENSORS`], and an `ipmitool` of its own on a directory put
//! first on the agents' `PATH`: the real `ipmitool` pointed at the simulator, as the agents run
//! `ipmitool` on a node whose BMC it reaches locally. Stopped on drop.

#![allow(dead_code)]

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A sensor of the simulated board: its SDR (type, unit, conversion `value = m × raw ×
/// 10^r_exp`) and its raw reading; `None` leaves its scanning off, which ipmitool reads as
/// `Disabled`.
pub struct SimSensor {
    pub id: &'static str,
    pub sensor_type: &'static str,
    /// The sensor type's code (`ipmi_sim`'s `sensor_add`).
    pub type_code: u8,
    pub base_unit: &'static str,
    pub m: i32,
    pub r_exp: i32,
    pub raw: Option<u8>,
    /// The SDR's normal maximum (raw), which ipmitool prints as `Normal Maximum`.
    pub normal_max: Option<u8>,
}

/// The board: what each of Ceilometer's rules meets once (a power consumption among the
/// currents, a fan's normal maximum, a disabled sensor, readings with decimals).
pub const SENSORS: [SimSensor; 7] = [
    SimSensor {
        id: "Inlet Temp",
        sensor_type: "Temperature",
        type_code: 0x01,
        base_unit: "degrees_C",
        m: 1,
        r_exp: 0,
        raw: Some(23),
        normal_max: None,
    },
    SimSensor {
        id: "CPU2 Temp",
        sensor_type: "Temperature",
        type_code: 0x01,
        base_unit: "degrees_C",
        m: 1,
        r_exp: 0,
        raw: None,
        normal_max: None,
    },
    SimSensor {
        id: "Planar 12V",
        sensor_type: "Voltage",
        type_code: 0x02,
        base_unit: "Volts",
        m: 1,
        r_exp: -1,
        raw: Some(121),
        normal_max: None,
    },
    SimSensor {
        id: "Planar VBAT",
        sensor_type: "Voltage",
        type_code: 0x02,
        base_unit: "Volts",
        m: 2,
        r_exp: -2,
        raw: Some(156),
        normal_max: None,
    },
    SimSensor {
        id: "Current 1",
        sensor_type: "Current",
        type_code: 0x03,
        base_unit: "Amps",
        m: 1,
        r_exp: -1,
        raw: Some(6),
        normal_max: None,
    },
    SimSensor {
        id: "Pwr Consumption",
        sensor_type: "Current",
        type_code: 0x03,
        base_unit: "Watts",
        m: 2,
        r_exp: 0,
        raw: Some(91),
        normal_max: None,
    },
    SimSensor {
        id: "Fan1",
        sensor_type: "Fan",
        type_code: 0x04,
        base_unit: "RPM",
        m: 60,
        r_exp: 0,
        raw: Some(78),
        normal_max: Some(150),
    },
];

const NAME: &str = "ceilotest";
const USER: &str = "admin";
const PASSWORD: &str = "secret";

pub struct Bmc {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl Bmc {
    /// The simulator with [`SENSORS`], answering `ipmitool sdr info`.
    pub fn start() -> Bmc {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_udp_port();
        let mut bmc = Bmc {
            dir,
            port,
            child: None,
        };
        bmc.write_files();
        bmc.child = Some(
            Command::new("ipmi_sim")
                .current_dir(bmc.dir.path())
                .args(["-c", "lan.conf", "-f", "sim.emu", "-s"])
                .arg(bmc.dir.path().join("state"))
                .arg("-n")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(bmc.dir.path().join("ipmi_sim.log")).expect("log"))
                .spawn()
                .expect("ipmi_sim (Debian's openipmi; .ci/run installs it)"),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while !bmc.answers() {
            assert!(
                Instant::now() < deadline,
                "the simulated BMC does not answer `ipmitool sdr info`; ipmi_sim's log:\n{}",
                std::fs::read_to_string(bmc.dir.path().join("ipmi_sim.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        bmc
    }

    /// A `PATH` whose `ipmitool` reads this BMC.
    pub fn path(&self) -> OsString {
        path_to(&self.dir.path().join("bin"))
    }

    /// A `PATH` whose `ipmitool` waits `seconds` for each of this BMC's answers.
    pub fn patient_path(&self, seconds: u32) -> OsString {
        let bin = self.dir.path().join(format!("bin-{seconds}s"));
        write_ipmitool(&bin, self.port, seconds);
        path_to(&bin)
    }

    /// Stop answering without going away (SIGSTOP), as a hung BMC.
    pub fn hang(&self) {
        let pid = self.child.as_ref().expect("running").id();
        let stopped = Command::new("kill").args(["-STOP", &pid.to_string()]).status();
        assert!(stopped.is_ok_and(|s| s.success()), "kill -STOP ipmi_sim");
    }

    /// The `ipmitool` commands run so far (its arguments, one line each), the agents' and
    /// this harness's own `sdr info`s included.
    pub fn calls(&self) -> Vec<String> {
        calls(&self.dir.path().join("bin"))
    }

    /// [`Self::calls`] of the `ipmitool` of [`Self::patient_path`].
    pub fn patient_calls(&self, seconds: u32) -> Vec<String> {
        calls(&self.dir.path().join(format!("bin-{seconds}s")))
    }

    /// Stop answering, as a BMC that hangs or resets.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn answers(&self) -> bool {
        Command::new(self.dir.path().join("bin/ipmitool"))
            .args(["sdr", "info"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn write_files(&self) {
        let dir = self.dir.path();
        let lan = format!(
            "name \"{NAME}\"\nset_working_mc 0x20\n  startlan 1\n    addr 127.0.0.1 {port}\n    \
             priv_limit admin\n    allowed_auths_callback none md5\n    allowed_auths_user none md5\n    \
             allowed_auths_operator none md5\n    allowed_auths_admin none md5\n    \
             guid a123456789abcdefa123456789abcdef\n  endlan\n  user 2 true \"{USER}\" \"{PASSWORD}\" admin 10 none md5\n",
            port = self.port
        );
        std::fs::write(dir.join("lan.conf"), lan).expect("lan.conf");
        let mut sdrs = String::new();
        let mut emu = String::from(
            "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n",
        );
        for (number, s) in (1..).zip(&SENSORS) {
            let normal = s.normal_max.map_or(String::new(), |max| {
                format!("\tnormal_max_specified true\n\tnormal_maximum {max}\n")
            });
            let _ = write!(
                sdrs,
                "sdr type 1\n\tsensor_owner_id 0x20\n\tsensor_owner_lun 0\n\tchannel_number 0\n\t\
                 sensor_number {number}\n\tentity_id system_board\n\tentity_instance 1\n\t\
                 sensor_type {}\n\tinit_scanning true\n\tinit_sensor_type true\n\t\
                 default_sensor_scan_on true\n\tevent_reading_type_code 1\n\t\
                 analog_data_format unsigned\n\trate_unit none\n\tmodifier_unit none\n\t\
                 percentage false\n\tbase_unit {}\n\tmodifier_unit_code unspecified\n\t\
                 linearization linear\n\tm {}\n\ttolerance 0\n\tb 0\n\taccuracy 1\n\taccuracy_exp 0\n\t\
                 sensor_direction input\n\tr_exp {}\n\tb_exp 0\n\tsensor_maximum 255\n\t\
                 sensor_minimum 0\n{normal}\tid_string \"{}\"\nendsdr\n",
                s.sensor_type, s.base_unit, s.m, s.r_exp, s.id
            );
            let _ = writeln!(emu, "sensor_add 0x20 0 {number} {:#04x} 0x01", s.type_code);
            match s.raw {
                Some(raw) => {
                    let _ = writeln!(emu, "sensor_set_value 0x20 0 {number} {raw} 0");
                }
                None => {
                    let _ = writeln!(
                        emu,
                        "sensor_set_event_support 0x20 0 {number} enable no-scanning per-state \
                         000000000000000 000000000000000 000000000000000 000000000000000"
                    );
                }
            }
        }
        emu.push_str("mc_enable 0x20\n");
        std::fs::write(dir.join("sim.sdrs"), sdrs).expect("sim.sdrs");
        std::fs::write(dir.join("sim.emu"), emu).expect("sim.emu");
        // ipmi_sim reads its repository from the state directory it persists it in.
        let state = dir.join("state/ipmi_sim").join(NAME);
        std::fs::create_dir_all(&state).expect("state dir");
        let compiled = Command::new("sdrcomp")
            .arg("-o")
            .arg(state.join("sdr.20.main"))
            .arg(dir.join("sim.sdrs"))
            .output()
            .expect("sdrcomp (Debian's openipmi; .ci/run installs it)");
        assert!(
            compiled.status.success(),
            "sdrcomp: {}",
            String::from_utf8_lossy(&compiled.stderr)
        );
        write_ipmitool(&dir.join("bin"), self.port, 1);
    }
}

impl Drop for Bmc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `PATH` whose `ipmitool` reads a port where no BMC answers.
pub fn path_without_bmc(dir: &Path) -> OsString {
    write_ipmitool(&dir.join("bin"), free_udp_port(), 1);
    path_to(&dir.join("bin"))
}

/// The commands the `ipmitool` of `dir` ran.
pub fn calls(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default();
    text.lines().map(str::to_owned).collect()
}

/// `dir/ipmitool`: the real one over RMCP+ to `port` (cipher suite 3 named, so it does not
/// wait for the suites' list the simulator does not serve; one retry of `wait_s` seconds, so a
/// BMC that does not answer fails a read in twice that), noting each command in `dir/calls.log`.
fn write_ipmitool(dir: &Path, port: u16, wait_s: u32) {
    std::fs::create_dir_all(dir).expect("bin dir");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{calls}'\n\
         exec /usr/bin/ipmitool -I lanplus -C 3 -R 1 -N {wait_s} -H 127.0.0.1 -p {port} \
         -U {USER} -P {PASSWORD} \"$@\"\n",
        calls = dir.join("calls.log").display()
    );
    let path = dir.join("ipmitool");
    std::fs::write(&path, script).expect("ipmitool");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn path_to(bin: &Path) -> OsString {
    let mut dirs = vec![PathBuf::from(bin)];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH")
}

fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free UDP port");
    socket.local_addr().expect("its address").port()
}
