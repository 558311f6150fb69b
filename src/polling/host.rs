//! The host pollster family: the agent's own machine, read from /proc and /sys.
//!
//! Meter names, types and units are Ceilometer's where it has them: its former `hardware.*`
//! (SNMP) meters for load, memory, network and disk, and the `compute.node.cpu.*.time`
//! counters that nova reports. Cumulative counters are sent as read (never turned into rates).
//! Parsers are plain functions over the file text, tested on fixed files in
//! `tests/fixtures/proc`. CPU ticks are converted with USER_HZ = 100, the value of every
//! mainstream Linux architecture.

use std::io;
use std::path::{Path, PathBuf};

use simd_json::json;

use super::discovery::Resource;
use super::pollster::{null, MeterSpec, PollContext, PollError};
use crate::model::{OwnedValue, Sample};

/// /proc/stat ticks per second (USER_HZ).
const USER_HZ: u64 = 100;
const NS_PER_TICK: u64 = 1_000_000_000 / USER_HZ;

/// Aggregate CPU times from the `cpu` line of /proc/stat, in ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{file}: {reason}")]
pub struct ParseError {
    pub file: &'static str,
    pub reason: String,
}

fn perr(file: &'static str, reason: impl Into<String>) -> ParseError {
    ParseError {
        file,
        reason: reason.into(),
    }
}

pub fn parse_stat(text: &str) -> Result<CpuTimes, ParseError> {
    let line = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| perr("stat", "no aggregate cpu line"))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| perr("stat", format!("bad cpu field {v:?}")))
        })
        .collect::<Result<_, _>>()?;
    if f.len() < 4 {
        return Err(perr("stat", "fewer than 4 cpu fields"));
    }
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    Ok(CpuTimes {
        user: at(0),
        nice: at(1),
        system: at(2),
        idle: at(3),
        iowait: at(4),
        irq: at(5),
        softirq: at(6),
        steal: at(7),
    })
}

/// /proc/loadavg: the 1, 5 and 15 minute load averages.
pub fn parse_loadavg(text: &str) -> Result<[f64; 3], ParseError> {
    let mut it = text.split_whitespace();
    let mut out = [0.0; 3];
    for slot in &mut out {
        let v = it.next().ok_or_else(|| perr("loadavg", "fewer than 3 fields"))?;
        *slot = v
            .parse()
            .map_err(|_| perr("loadavg", format!("bad load {v:?}")))?;
    }
    Ok(out)
}

/// The /proc/meminfo fields the memory meters use, in kB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemInfo {
    pub total: u64,
    pub free: u64,
    pub available: u64,
    pub buffers: u64,
    pub cached: u64,
    pub swap_total: u64,
    pub swap_free: u64,
}

pub fn parse_meminfo(text: &str) -> Result<MemInfo, ParseError> {
    let mut m = MemInfo::default();
    let mut seen_total = false;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let Some(v) = rest.split_whitespace().next() else {
            continue;
        };
        let Ok(v) = v.parse::<u64>() else {
            return Err(perr("meminfo", format!("bad value for {key}: {v:?}")));
        };
        match key {
            "MemTotal" => {
                m.total = v;
                seen_total = true;
            }
            "MemFree" => m.free = v,
            "MemAvailable" => m.available = v,
            "Buffers" => m.buffers = v,
            "Cached" => m.cached = v,
            "SwapTotal" => m.swap_total = v,
            "SwapFree" => m.swap_free = v,
            _ => {}
        }
    }
    if !seen_total {
        return Err(perr("meminfo", "no MemTotal"));
    }
    if m.available == 0 {
        // Kernels before 3.14 have no MemAvailable.
        m.available = m.free + m.buffers + m.cached;
    }
    Ok(m)
}

/// One line of /proc/diskstats (the counters the meters use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskStats {
    pub name: String,
    pub reads: u64,
    pub sectors_read: u64,
    pub writes: u64,
    pub sectors_written: u64,
}

pub fn parse_diskstats(text: &str) -> Result<Vec<DiskStats>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 {
            return Err(perr("diskstats", format!("short line {line:?}")));
        }
        let n = |i: usize| {
            f[i].parse::<u64>()
                .map_err(|_| perr("diskstats", format!("bad field {:?} in {line:?}", f[i])))
        };
        out.push(DiskStats {
            name: f[2].to_owned(),
            reads: n(3)?,
            sectors_read: n(5)?,
            writes: n(7)?,
            sectors_written: n(9)?,
        });
    }
    Ok(out)
}

/// One interface of /proc/net/dev.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDev {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
}

pub fn parse_net_dev(text: &str) -> Result<Vec<NetDev>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines().skip(2).filter(|l| !l.trim().is_empty()) {
        let (name, rest) = line
            .split_once(':')
            .ok_or_else(|| perr("net/dev", format!("no interface name in {line:?}")))?;
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|v| {
                v.parse()
                    .map_err(|_| perr("net/dev", format!("bad counter {v:?}")))
            })
            .collect::<Result<_, _>>()?;
        if f.len() < 16 {
            return Err(perr("net/dev", format!("short line {line:?}")));
        }
        out.push(NetDev {
            name: name.trim().to_owned(),
            rx_bytes: f[0],
            rx_packets: f[1],
            rx_errors: f[2],
            tx_bytes: f[8],
            tx_packets: f[9],
            tx_errors: f[10],
        });
    }
    Ok(out)
}

/// Index of each meter in [`HostPollster::meters`].
#[derive(Clone, Copy)]
#[repr(usize)]
enum M {
    CpuUserTime,
    CpuKernelTime,
    CpuIdleTime,
    CpuIowaitTime,
    Load1,
    Load5,
    Load15,
    MemTotal,
    MemUsed,
    MemBuffer,
    MemCached,
    SwapTotal,
    SwapAvail,
    NetInBytes,
    NetOutBytes,
    NetInPackets,
    NetOutPackets,
    NetOutErrors,
    DiskSizeTotal,
    IoInBlocks,
    IoOutBlocks,
}

const METERS: [(&str, &str, &str); 21] = [
    ("compute.node.cpu.user.time", "cumulative", "ns"),
    ("compute.node.cpu.kernel.time", "cumulative", "ns"),
    ("compute.node.cpu.idle.time", "cumulative", "ns"),
    ("compute.node.cpu.iowait.time", "cumulative", "ns"),
    ("hardware.cpu.load.1min", "gauge", "process"),
    ("hardware.cpu.load.5min", "gauge", "process"),
    ("hardware.cpu.load.15min", "gauge", "process"),
    ("hardware.memory.total", "gauge", "KB"),
    ("hardware.memory.used", "gauge", "KB"),
    ("hardware.memory.buffer", "gauge", "KB"),
    ("hardware.memory.cached", "gauge", "KB"),
    ("hardware.memory.swap.total", "gauge", "KB"),
    ("hardware.memory.swap.avail", "gauge", "KB"),
    ("hardware.network.incoming.bytes", "cumulative", "B"),
    ("hardware.network.outgoing.bytes", "cumulative", "B"),
    ("hardware.network.incoming.packets", "cumulative", "packet"),
    ("hardware.network.outgoing.packets", "cumulative", "packet"),
    ("hardware.network.outgoing.errors", "cumulative", "packet"),
    ("hardware.disk.size.total", "gauge", "KB"),
    ("hardware.system_stats.io.incoming.blocks", "cumulative", "blocks"),
    ("hardware.system_stats.io.outgoing.blocks", "cumulative", "blocks"),
];

/// Polls `local_node`.
pub struct HostPollster {
    proc_root: PathBuf,
    sys_root: PathBuf,
    meters: Vec<MeterSpec>,
}

impl HostPollster {
    pub fn new(proc_root: &Path, sys_root: &Path) -> Self {
        Self {
            proc_root: proc_root.to_owned(),
            sys_root: sys_root.to_owned(),
            meters: METERS.iter().map(|(n, t, u)| MeterSpec::new(n, t, u)).collect(),
        }
    }

    pub fn meters(&self) -> &[MeterSpec] {
        &self.meters
    }

    fn read(&self, root: &Path, rel: &str) -> Result<String, PollError> {
        let path = root.join(rel);
        std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            // No /proc/stat will not appear later: this machine cannot be polled this way.
            io::ErrorKind::NotFound => PollError::Permanent(format!("{}: {e}", path.display())),
            _ => PollError::Transient(format!("{}: {e}", path.display())),
        })
    }

    /// Whole disks from /sys/block (partitions are not listed there), without the virtual
    /// ones whose sectors are counted again on the device beneath them.
    fn whole_disks(&self) -> Vec<(String, u64)> {
        let Ok(dir) = std::fs::read_dir(self.sys_root.join("block")) else {
            return Vec::new();
        };
        let mut out: Vec<(String, u64)> = dir
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| {
                !["loop", "ram", "zram", "dm-", "sr", "md"]
                    .iter()
                    .any(|p| n.starts_with(p))
            })
            .filter_map(|n| {
                let sectors = std::fs::read_to_string(self.sys_root.join("block").join(&n).join("size"))
                    .ok()?
                    .trim()
                    .parse::<u64>()
                    .ok()?;
                Some((n, sectors))
            })
            .collect();
        out.sort();
        out
    }

    pub fn poll(
        &self,
        resource: &Resource,
        mask: &[bool],
        ctx: &PollContext,
        out: &mut Vec<Sample>,
    ) -> Result<(), PollError> {
        let Resource::LocalNode(host) = resource else {
            return Err(PollError::Permanent(format!(
                "the host pollster only polls local_node, not {:?}",
                resource.key()
            )));
        };
        let want = |m: M| mask.get(m as usize).copied().unwrap_or(false);
        let any = |ms: &[M]| ms.iter().any(|&m| want(m));
        let host_id = OwnedValue::from(host.to_string());
        let host_meta = json!({ "host": host.to_string() });
        let mut emit = |m: M, volume: OwnedValue, resource_id: &OwnedValue, meta: &OwnedValue| {
            if want(m) {
                out.push(ctx.sample(
                    &self.meters[m as usize],
                    volume,
                    null(),
                    null(),
                    resource_id.clone(),
                    meta.clone(),
                    null(),
                ));
            }
        };
        let parse = |e: ParseError| PollError::Transient(e.to_string());

        if any(&[M::CpuUserTime, M::CpuKernelTime, M::CpuIdleTime, M::CpuIowaitTime]) {
            let c = parse_stat(&self.read(&self.proc_root, "stat")?).map_err(parse)?;
            let ns = |t: u64| OwnedValue::from(t.saturating_mul(NS_PER_TICK));
            emit(M::CpuUserTime, ns(c.user + c.nice), &host_id, &host_meta);
            emit(
                M::CpuKernelTime,
                ns(c.system + c.irq + c.softirq),
                &host_id,
                &host_meta,
            );
            emit(M::CpuIdleTime, ns(c.idle), &host_id, &host_meta);
            emit(M::CpuIowaitTime, ns(c.iowait), &host_id, &host_meta);
        }
        if any(&[M::Load1, M::Load5, M::Load15]) {
            let l = parse_loadavg(&self.read(&self.proc_root, "loadavg")?).map_err(parse)?;
            emit(M::Load1, l[0].into(), &host_id, &host_meta);
            emit(M::Load5, l[1].into(), &host_id, &host_meta);
            emit(M::Load15, l[2].into(), &host_id, &host_meta);
        }
        if any(&[
            M::MemTotal,
            M::MemUsed,
            M::MemBuffer,
            M::MemCached,
            M::SwapTotal,
            M::SwapAvail,
        ]) {
            let m = parse_meminfo(&self.read(&self.proc_root, "meminfo")?).map_err(parse)?;
            emit(M::MemTotal, m.total.into(), &host_id, &host_meta);
            emit(
                M::MemUsed,
                m.total.saturating_sub(m.available).into(),
                &host_id,
                &host_meta,
            );
            emit(M::MemBuffer, m.buffers.into(), &host_id, &host_meta);
            emit(M::MemCached, m.cached.into(), &host_id, &host_meta);
            emit(M::SwapTotal, m.swap_total.into(), &host_id, &host_meta);
            emit(M::SwapAvail, m.swap_free.into(), &host_id, &host_meta);
        }
        if any(&[
            M::NetInBytes,
            M::NetOutBytes,
            M::NetInPackets,
            M::NetOutPackets,
            M::NetOutErrors,
        ]) {
            let devs = parse_net_dev(&self.read(&self.proc_root, "net/dev")?).map_err(parse)?;
            for d in devs.iter().filter(|d| d.name != "lo") {
                let rid = OwnedValue::from(format!("{host}.{}", d.name));
                let meta = json!({ "host": host.to_string(), "name": d.name.as_str() });
                emit(M::NetInBytes, d.rx_bytes.into(), &rid, &meta);
                emit(M::NetOutBytes, d.tx_bytes.into(), &rid, &meta);
                emit(M::NetInPackets, d.rx_packets.into(), &rid, &meta);
                emit(M::NetOutPackets, d.tx_packets.into(), &rid, &meta);
                emit(M::NetOutErrors, d.tx_errors.into(), &rid, &meta);
            }
        }
        if any(&[M::DiskSizeTotal, M::IoInBlocks, M::IoOutBlocks]) {
            let disks = self.whole_disks();
            for (name, sectors) in &disks {
                let rid = OwnedValue::from(format!("{host}.{name}"));
                let meta = json!({ "host": host.to_string(), "name": name.as_str() });
                emit(M::DiskSizeTotal, (sectors * 512 / 1024).into(), &rid, &meta);
            }
            if any(&[M::IoInBlocks, M::IoOutBlocks]) {
                let stats = parse_diskstats(&self.read(&self.proc_root, "diskstats")?).map_err(parse)?;
                let whole = |s: &&DiskStats| disks.iter().any(|(n, _)| *n == s.name);
                let (read, written) = stats.iter().filter(whole).fold((0u64, 0u64), |(r, w), s| {
                    (r + s.sectors_read, w + s.sectors_written)
                });
                emit(M::IoInBlocks, read.into(), &host_id, &host_meta);
                emit(M::IoOutBlocks, written.into(), &host_id, &host_meta);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simd_json::prelude::*;

    fn fixtures() -> (PathBuf, PathBuf) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        (root.join("proc"), root.join("sys"))
    }

    fn fixture(rel: &str) -> String {
        std::fs::read_to_string(fixtures().0.join(rel)).unwrap()
    }

    #[test]
    fn parses_proc_stat() {
        let c = parse_stat(&fixture("stat")).unwrap();
        assert_eq!(
            c,
            CpuTimes {
                user: 123456,
                nice: 789,
                system: 45678,
                idle: 9876543,
                iowait: 2345,
                irq: 0,
                softirq: 678,
                steal: 0
            }
        );
        assert!(parse_stat("intr 1 2\n").is_err());
        assert!(parse_stat("cpu 1 x 3 4\n").is_err());
        assert_eq!(parse_stat("cpu 1 2 3 4\n").unwrap().idle, 4);
    }

    #[test]
    fn parses_proc_loadavg() {
        assert_eq!(parse_loadavg(&fixture("loadavg")).unwrap(), [0.52, 0.58, 0.59]);
        assert!(parse_loadavg("0.1 0.2").is_err());
        assert!(parse_loadavg("a b c").is_err());
    }

    #[test]
    fn parses_proc_meminfo() {
        let m = parse_meminfo(&fixture("meminfo")).unwrap();
        assert_eq!(m.total, 16318480);
        assert_eq!(m.available, 9876543);
        assert_eq!(m.buffers, 345678);
        assert_eq!(m.cached, 5432100);
        assert_eq!((m.swap_total, m.swap_free), (2097148, 2000000));
        let old = parse_meminfo("MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 20 kB\n").unwrap();
        assert_eq!(old.available, 35);
        assert!(parse_meminfo("MemFree: 10 kB\n").is_err());
        assert!(parse_meminfo("MemTotal: x kB\n").is_err());
    }

    #[test]
    fn parses_proc_diskstats() {
        let d = parse_diskstats(&fixture("diskstats")).unwrap();
        assert_eq!(d.len(), 5);
        assert_eq!(
            d[1],
            DiskStats {
                name: "sda".into(),
                reads: 102030,
                sectors_read: 8123456,
                writes: 203040,
                sectors_written: 16246912
            }
        );
        assert!(parse_diskstats("8 0 sda 1 2\n").is_err());
    }

    #[test]
    fn parses_proc_net_dev() {
        let d = parse_net_dev(&fixture("net/dev")).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(
            d[1],
            NetDev {
                name: "eth0".into(),
                rx_bytes: 987654321,
                rx_packets: 765432,
                rx_errors: 1,
                tx_bytes: 123456789,
                tx_packets: 234567,
                tx_errors: 3
            }
        );
        assert!(parse_net_dev("h1\nh2\n eth0 1 2 3\n").is_err());
    }

    #[test]
    fn polls_every_meter_from_the_fixture_tree() {
        let (proc_root, sys_root) = fixtures();
        let p = HostPollster::new(&proc_root, &sys_root);
        let ctx = PollContext::now("src".into());
        let mut out = Vec::new();
        let mask = vec![true; p.meters().len()];
        p.poll(&Resource::LocalNode("h1".into()), &mask, &ctx, &mut out)
            .unwrap();
        let find = |name: &str, rid: &str| {
            out.iter()
                .find(|s| &*s.name == name && s.resource_id.as_str() == Some(rid))
                .unwrap_or_else(|| panic!("{name} {rid}"))
        };
        let user = find("compute.node.cpu.user.time", "h1");
        assert_eq!(user.volume.as_u64(), Some((123456 + 789) * 10_000_000));
        assert_eq!(&*user.sample_type, "cumulative");
        assert_eq!(&*user.unit, "ns");
        assert_eq!(find("hardware.cpu.load.5min", "h1").volume.as_f64(), Some(0.58));
        assert_eq!(
            find("hardware.memory.used", "h1").volume.as_u64(),
            Some(16318480 - 9876543)
        );
        let rx = find("hardware.network.incoming.bytes", "h1.eth0");
        assert_eq!(rx.volume.as_u64(), Some(987654321));
        assert_eq!(rx.resource_metadata.get_str("name"), Some("eth0"));
        assert!(!out.iter().any(|s| s.resource_id.as_str() == Some("h1.lo")));
        assert_eq!(
            find("hardware.disk.size.total", "h1.sda").volume.as_u64(),
            Some(250059096)
        );
        assert!(!out.iter().any(|s| s.resource_id.as_str() == Some("h1.loop0")));
        // Whole disks only: sda + nvme0n1, not their partitions nor loop0.
        let r = find("hardware.system_stats.io.incoming.blocks", "h1");
        assert_eq!(r.volume.as_u64(), Some(8123456 + 400000));
        let w = find("hardware.system_stats.io.outgoing.blocks", "h1");
        assert_eq!(w.volume.as_u64(), Some(16246912 + 800000));
        // 4 cpu + 3 load + 6 memory + 5 per interface + 2 disks + 2 io.
        assert_eq!(out.len(), 4 + 3 + 6 + 5 + 2 + 2);
        assert!(out.iter().all(|s| &*s.source == "src" && s.user_id.is_null()));
    }

    #[test]
    fn polls_only_the_selected_meters() {
        let (proc_root, sys_root) = fixtures();
        let p = HostPollster::new(&proc_root, &sys_root);
        let mut mask = vec![false; p.meters().len()];
        mask[M::Load1 as usize] = true;
        let mut out = Vec::new();
        let ctx = PollContext::now("s".into());
        p.poll(&Resource::LocalNode("h".into()), &mask, &ctx, &mut out)
            .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(&*out[0].name, "hardware.cpu.load.1min");
    }

    #[test]
    fn a_missing_proc_is_permanent_and_other_resources_are_refused() {
        let p = HostPollster::new(Path::new("/nonexistent"), Path::new("/nonexistent"));
        let ctx = PollContext::now("s".into());
        let mask = vec![true; p.meters().len()];
        let e = p.poll(&Resource::LocalNode("h".into()), &mask, &ctx, &mut Vec::new());
        assert!(matches!(e, Err(PollError::Permanent(_))));
        let e = p.poll(
            &Resource::Endpoint("http://x".into()),
            &mask,
            &ctx,
            &mut Vec::new(),
        );
        assert!(matches!(e, Err(PollError::Permanent(_))));
    }
}
