//! One `virConnectGetAllDomainStats` call per poll for every active domain (state, cpu,
//! balloon, vcpu, interface and block groups), read into plain structs. The compute pollsters
//! take every value of a cycle from this one snapshot instead of asking libvirt per meter and
//! per domain as Ceilometer's inspector does (`memoryStats`, `blockStats`, `interfaceStats`,
//! `blockInfo`, `domainListGetStats` for each instance).
//!
//! One exception, for exactness: `disk.device.{capacity,allocation,usage}` are Ceilometer's
//! `virDomainGetBlockInfo` values, and the bulk call's `block.N.allocation`/`physical` mean
//! something else (on a running qcow2 guest the bulk call's `allocation` is the image file's
//! highest written offset and its `physical` is what `blockInfo` calls allocation). So when
//! those meters are polled, [`fetch`] also asks `virDomainGetBlockInfo` for each disk that has
//! a source, as Ceilometer does; the stock polling.yaml polls none of them.
//!
//! The `virt` crate leaves this call unwrapped (its `DomainStatsRecord` is a bare pointer and is
//! never freed), so [`fetch`] calls libvirt's C API through `virt-sys` and copies the typed
//! parameters out before freeing the list. [`DomainStats::from_params`] is the pure part.

use std::collections::HashMap;
use std::ffi::CStr;

use virt::connect::Connect;
use virt::error::Error as VirtError;
use virt_sys as sys;

/// One typed parameter value as libvirt returns it.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Int(i64),
    UInt(u64),
    Double(f64),
    Bool(bool),
    Str(String),
}

impl Param {
    fn as_u64(&self) -> Option<u64> {
        match *self {
            Param::Int(i) => u64::try_from(i).ok(),
            Param::UInt(u) => Some(u),
            _ => None,
        }
    }
    fn as_str(&self) -> Option<&str> {
        match self {
            Param::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// The statistics of one domain at one poll.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainStats {
    /// `state.state` (`virDomainState`).
    pub state: Option<u64>,
    /// Ceilometer's `cpu_time`: the sum of `vcpu.N.time + vcpu.N.wait` when every current
    /// vcpu has both, else `cpu.time`.
    pub cpu_time: Option<u64>,
    /// `vcpu.current`.
    pub vcpus: Option<u64>,
    /// `balloon.*` in KiB, by libvirt's names (`current`, `available`, `usable`, `unused`,
    /// `rss`, `swap_in`, `swap_out`).
    pub balloon: HashMap<String, u64>,
    pub blocks: Vec<BlockStats>,
    pub nets: Vec<NetStats>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockStats {
    pub name: String,
    pub rd_reqs: Option<u64>,
    pub rd_bytes: Option<u64>,
    pub rd_times: Option<u64>,
    pub wr_reqs: Option<u64>,
    pub wr_bytes: Option<u64>,
    pub wr_times: Option<u64>,
    pub capacity: Option<u64>,
    pub allocation: Option<u64>,
    pub physical: Option<u64>,
    /// `block.N.path`: the disk has a source.
    pub has_source: bool,
    /// `virDomainGetBlockInfo` (capacity, allocation, physical), when asked for.
    pub info: Option<BlockInfo>,
}

/// `virDomainGetBlockInfo` of one disk, as Ceilometer's `inspect_disk_info` reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BlockInfo {
    pub capacity: u64,
    pub allocation: u64,
    pub physical: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetStats {
    pub name: String,
    pub rx_bytes: Option<u64>,
    pub rx_pkts: Option<u64>,
    pub rx_errs: Option<u64>,
    pub rx_drop: Option<u64>,
    pub tx_bytes: Option<u64>,
    pub tx_pkts: Option<u64>,
    pub tx_errs: Option<u64>,
    pub tx_drop: Option<u64>,
}

impl DomainStats {
    /// Read a record's parameters (`field` → value, as `virsh domstats` prints them).
    pub fn from_params(params: &[(String, Param)]) -> Self {
        let get = |k: &str| params.iter().find(|(f, _)| f == k).map(|(_, v)| v);
        let u = |k: &str| get(k).and_then(Param::as_u64);
        let mut s = DomainStats {
            state: u("state.state"),
            vcpus: u("vcpu.current"),
            ..Default::default()
        };
        // `inspector.py: inspect_instance`: vcpus may have holes; if not every current vcpu
        // reported time and wait, fall back to the domain's total cpu time.
        let mut left = s.vcpus.map(|c| c as i64).unwrap_or(0);
        let mut sum = 0u64;
        for i in 0..u("vcpu.maximum").unwrap_or(0) {
            if let (Some(t), Some(w)) = (u(&format!("vcpu.{i}.time")), u(&format!("vcpu.{i}.wait"))) {
                sum = sum.saturating_add(t.saturating_add(w));
                left -= 1;
            }
        }
        s.cpu_time = if left != 0 { u("cpu.time") } else { Some(sum) };
        for (field, value) in params {
            if let (Some(k), Some(v)) = (field.strip_prefix("balloon."), value.as_u64()) {
                s.balloon.insert(k.to_owned(), v);
            }
        }
        for i in 0..u("block.count").unwrap_or(0) {
            let p = format!("block.{i}.");
            let Some(name) = get(&format!("{p}name")).and_then(Param::as_str) else {
                continue;
            };
            let f = |k: &str| u(&format!("{p}{k}"));
            s.blocks.push(BlockStats {
                name: name.to_owned(),
                rd_reqs: f("rd.reqs"),
                rd_bytes: f("rd.bytes"),
                rd_times: f("rd.times"),
                wr_reqs: f("wr.reqs"),
                wr_bytes: f("wr.bytes"),
                wr_times: f("wr.times"),
                capacity: f("capacity"),
                allocation: f("allocation"),
                physical: f("physical"),
                has_source: get(&format!("{p}path")).is_some(),
                info: None,
            });
        }
        for i in 0..u("net.count").unwrap_or(0) {
            let p = format!("net.{i}.");
            let Some(name) = get(&format!("{p}name")).and_then(Param::as_str) else {
                continue;
            };
            let f = |k: &str| u(&format!("{p}{k}"));
            s.nets.push(NetStats {
                name: name.to_owned(),
                rx_bytes: f("rx.bytes"),
                rx_pkts: f("rx.pkts"),
                rx_errs: f("rx.errs"),
                rx_drop: f("rx.drop"),
                tx_bytes: f("tx.bytes"),
                tx_pkts: f("tx.pkts"),
                tx_errs: f("tx.errs"),
                tx_drop: f("tx.drop"),
            });
        }
        s
    }

    pub fn block(&self, name: &str) -> Option<&BlockStats> {
        self.blocks.iter().find(|b| b.name == name)
    }

    pub fn net(&self, name: &str) -> Option<&NetStats> {
        self.nets.iter().find(|n| n.name == name)
    }
}

/// The stats groups the compute meters need.
const GROUPS: u32 = sys::VIR_DOMAIN_STATS_STATE
    | sys::VIR_DOMAIN_STATS_CPU_TOTAL
    | sys::VIR_DOMAIN_STATS_BALLOON
    | sys::VIR_DOMAIN_STATS_VCPU
    | sys::VIR_DOMAIN_STATS_INTERFACE
    | sys::VIR_DOMAIN_STATS_BLOCK;

/// Stats of every active domain, by domain UUID: one `virConnectGetAllDomainStats`; with
/// `block_info`, also `virDomainGetBlockInfo` of each disk that has a source.
pub fn fetch(conn: &Connect, block_info: bool) -> Result<HashMap<String, DomainStats>, VirtError> {
    let mut records: *mut sys::virDomainStatsRecordPtr = std::ptr::null_mut();
    // SAFETY: `conn` is an open connection for the duration of the call; libvirt allocates
    // the NULL-terminated record list into `records`, which is freed below, once.
    let n = unsafe {
        sys::virConnectGetAllDomainStats(
            conn.as_ptr(),
            GROUPS,
            &mut records,
            sys::VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE,
        )
    };
    if n < 0 {
        return Err(VirtError::last_error());
    }
    let mut out = HashMap::with_capacity(n as usize);
    for i in 0..n as usize {
        // SAFETY: libvirt returned `n` valid record pointers; each record's `params` holds
        // `nparams` initialised typed parameters, and its `dom` is a valid domain, all alive
        // until virDomainStatsRecordListFree. Only copies leave this block.
        unsafe {
            let rec = &**records.add(i);
            let Some(uuid) = domain_uuid(rec.dom) else {
                continue;
            };
            let params = if rec.params.is_null() || rec.nparams <= 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(rec.params, rec.nparams as usize)
            };
            let copied: Vec<(String, Param)> = params.iter().filter_map(|p| read_param(p)).collect();
            let mut stats = DomainStats::from_params(&copied);
            if block_info {
                for b in stats.blocks.iter_mut().filter(|b| b.has_source) {
                    // A domain going away meanwhile: no info, no sample, as Ceilometer.
                    b.info = get_block_info(rec.dom, &b.name);
                }
            }
            out.insert(uuid, stats);
        }
    }
    if !records.is_null() {
        // SAFETY: the list libvirt allocated above, freed once (domains unreferenced too).
        unsafe { sys::virDomainStatsRecordListFree(records) };
    }
    Ok(out)
}

/// What Ceilometer's inspector reads of a shut-off domain when `[compute]
/// report_stopped_instance_metrics` is set: `virDomainGetInfo`, and each disk's blockInfo.
#[derive(Debug, Clone, PartialEq)]
pub struct Stopped {
    /// `virDomainState`: the domain may have started since discovery.
    pub state: u64,
    pub vcpus: u64,
    /// The maximum memory, KiB (what `memory` reports for a shut-off instance).
    pub max_mem: u64,
    /// blockInfo of each of `disks` (None where libvirt would not say), when asked for.
    pub disks: Vec<(String, Option<BlockInfo>)>,
}

/// [`Stopped`] of the domain `uuid`, with blockInfo of `disks` when `block_info`; None when the
/// domain is gone.
pub fn fetch_stopped(
    conn: &Connect,
    uuid: &str,
    disks: &[String],
    block_info: bool,
) -> Result<Option<Stopped>, VirtError> {
    let Ok(dom) = virt::domain::Domain::lookup_by_uuid_string(conn, uuid) else {
        return Ok(None);
    };
    let info = dom.get_info()?;
    let disks = if block_info {
        disks
            .iter()
            // SAFETY: `dom` is a valid domain until it is dropped at the end of this function.
            .map(|d| (d.clone(), unsafe { get_block_info(dom.as_ptr(), d) }))
            .collect()
    } else {
        Vec::new()
    };
    Ok(Some(Stopped {
        state: u64::from(info.state),
        vcpus: u64::from(info.nr_virt_cpu),
        max_mem: info.max_mem,
        disks,
    }))
}

/// # Safety
/// `dom` must be a valid domain pointer.
unsafe fn get_block_info(dom: sys::virDomainPtr, disk: &str) -> Option<BlockInfo> {
    let disk = std::ffi::CString::new(disk).ok()?;
    let mut info = sys::virDomainBlockInfo {
        capacity: 0,
        allocation: 0,
        physical: 0,
    };
    if sys::virDomainGetBlockInfo(dom, disk.as_ptr(), &mut info, 0) < 0 {
        return None;
    }
    Some(BlockInfo {
        capacity: info.capacity,
        allocation: info.allocation,
        physical: info.physical,
    })
}

/// # Safety
/// `dom` must be a valid domain pointer.
unsafe fn domain_uuid(dom: sys::virDomainPtr) -> Option<String> {
    let mut buf = [0 as libc::c_char; sys::VIR_UUID_STRING_BUFLEN as usize];
    if sys::virDomainGetUUIDString(dom, buf.as_mut_ptr()) < 0 {
        return None;
    }
    Some(CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned())
}

/// # Safety
/// `p` must be an initialised typed parameter from libvirt (its `type_` says which union
/// field is valid; a string is NUL-terminated).
unsafe fn read_param(p: &sys::virTypedParameter) -> Option<(String, Param)> {
    let field = CStr::from_ptr(p.field.as_ptr()).to_string_lossy().into_owned();
    let v = match p.type_ as u32 {
        sys::VIR_TYPED_PARAM_INT => Param::Int(p.value.i as i64),
        sys::VIR_TYPED_PARAM_UINT => Param::UInt(p.value.ui as u64),
        sys::VIR_TYPED_PARAM_LLONG => Param::Int(p.value.l),
        sys::VIR_TYPED_PARAM_ULLONG => Param::UInt(p.value.ul),
        sys::VIR_TYPED_PARAM_DOUBLE => Param::Double(p.value.d),
        sys::VIR_TYPED_PARAM_BOOLEAN => Param::Bool(p.value.b != 0),
        sys::VIR_TYPED_PARAM_STRING if !p.value.s.is_null() => {
            Param::Str(CStr::from_ptr(p.value.s).to_string_lossy().into_owned())
        }
        _ => return None,
    };
    Some((field, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(text: &str) -> Vec<(String, Param)> {
        text.split_whitespace()
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                let v = v
                    .parse()
                    .map(Param::UInt)
                    .unwrap_or_else(|_| Param::Str(v.into()));
                (k.to_owned(), v)
            })
            .collect()
    }

    // As `virsh domstats` printed it for a lab guest.
    const GUEST: &str = "state.state=1 state.reason=1 cpu.time=2970801000 balloon.current=131072 \
        balloon.maximum=131072 balloon.rss=220832 balloon.available=113000 balloon.usable=90000 \
        balloon.unused=80000 balloon.swap_in=0 balloon.swap_out=0 vcpu.current=1 vcpu.maximum=1 \
        vcpu.0.state=1 vcpu.0.time=2660000000 vcpu.0.wait=5 net.count=1 net.0.name=tap-h7p1 \
        net.0.rx.bytes=90 net.0.rx.pkts=1 net.0.rx.errs=0 net.0.rx.drop=0 net.0.tx.bytes=342 \
        net.0.tx.pkts=1 net.0.tx.errs=0 net.0.tx.drop=0 block.count=1 block.0.name=vda \
        block.0.path=/x/vm1.qcow2 block.0.rd.reqs=1 block.0.rd.bytes=512 block.0.rd.times=38469 \
        block.0.wr.reqs=0 block.0.wr.bytes=0 block.0.wr.times=0 block.0.allocation=0 \
        block.0.capacity=67108864 block.0.physical=204800";

    #[test]
    fn reads_a_domains_stats_record() {
        let s = DomainStats::from_params(&params(GUEST));
        assert_eq!(s.state, Some(1));
        assert_eq!(s.vcpus, Some(1));
        // time + wait of the one vcpu, not cpu.time.
        assert_eq!(s.cpu_time, Some(2_660_000_005));
        assert_eq!(s.balloon.get("current"), Some(&131072));
        assert_eq!(s.balloon.get("rss"), Some(&220832));
        let b = s.block("vda").unwrap();
        assert_eq!(
            (b.rd_reqs, b.rd_bytes, b.rd_times),
            (Some(1), Some(512), Some(38469))
        );
        assert_eq!((b.capacity, b.physical), (Some(67108864), Some(204800)));
        let n = s.net("tap-h7p1").unwrap();
        assert_eq!(
            (n.rx_bytes, n.tx_bytes, n.tx_pkts),
            (Some(90), Some(342), Some(1))
        );
        assert!(s.net("tap-other").is_none());
    }

    #[test]
    fn cpu_time_falls_back_to_the_domain_total_when_a_vcpu_has_no_wait() {
        let text = GUEST.replace(" vcpu.0.wait=5", "");
        assert_eq!(
            DomainStats::from_params(&params(&text)).cpu_time,
            Some(2_970_801_000)
        );
        // Two current vcpus, both complete: the sum.
        let two = GUEST.replace(
            "vcpu.current=1 vcpu.maximum=1",
            "vcpu.current=2 vcpu.maximum=2 vcpu.1.time=10 vcpu.1.wait=1",
        );
        assert_eq!(
            DomainStats::from_params(&params(&two)).cpu_time,
            Some(2_660_000_016)
        );
    }
}
