//! The compute pollsters of Ceilometer's compute agent (`ceilometer/compute/pollsters/*`) for
//! the instances of `local_instances`: names, types, units, resource ids and metadata as
//! Ceilometer makes them, values from one [`stats::fetch`] per poll (the cycle's
//! [`PollContext::cycle`] holds it, so every instance of the cycle shares the one call).
//!
//! What Ceilometer does and this does too: a value libvirt does not report (no balloon driver
//! in the guest: no `memory.usage`) gives no sample, silently for the poll; a domain that is
//! shut off gets only the metadata meters (`disk.root.size`, `disk.ephemeral.size`), and with
//! `[compute] report_stopped_instance_metrics` also what libvirt knows of it stopped
//! ([`LibvirtPollster::poll_stopped`]);
//! `network.*.bytes.delta` is the change since the previous poll of the same interface (0 the
//! first time). Not here: `perf.*` (needs libvirt perf events) and the `*.rate` meters (they
//! raise `PollsterPermanentError` in Ceilometer 27 too).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::connection::{Hypervisor, LibvirtError};
use super::discovery::{Guest, STATE_SHUTOFF};
use super::stats::{self, DomainStats};
use crate::model::{OwnedValue, Sample};
use crate::polling::discovery::Resource;
use crate::polling::pollster::{MeterSpec, PollContext, PollError};
use crate::telemetry::handles::LibvirtMetrics;
use crate::telemetry::metrics::LibvirtErrorReason;

#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum M {
    PowerState,
    Cpu,
    Vcpus,
    Memory,
    MemoryAvailable,
    MemoryUsage,
    MemoryResident,
    MemorySwapIn,
    MemorySwapOut,
    DiskRootSize,
    DiskEphemeralSize,
    DiskReadRequests,
    DiskReadBytes,
    DiskWriteRequests,
    DiskWriteBytes,
    DiskReadLatency,
    DiskWriteLatency,
    DiskCapacity,
    DiskAllocation,
    DiskUsage,
    NetInBytes,
    NetInPackets,
    NetOutBytes,
    NetOutPackets,
    NetInDrop,
    NetOutDrop,
    NetInError,
    NetOutError,
    NetInBytesDelta,
    NetOutBytesDelta,
}

/// Every meter, in [`M`]'s order: (name, type, unit), as Ceilometer 27's compute pollsters.
const METERS: [(&str, &str, &str); 30] = [
    ("power.state", "gauge", ""),
    ("cpu", "cumulative", "ns"),
    ("vcpus", "gauge", "vcpu"),
    ("memory", "gauge", "MiB"),
    ("memory.available", "gauge", "MiB"),
    ("memory.usage", "gauge", "MiB"),
    ("memory.resident", "gauge", "MiB"),
    ("memory.swap.in", "cumulative", "MiB"),
    ("memory.swap.out", "cumulative", "MiB"),
    ("disk.root.size", "gauge", "GiB"),
    ("disk.ephemeral.size", "gauge", "GiB"),
    ("disk.device.read.requests", "cumulative", "request"),
    ("disk.device.read.bytes", "cumulative", "B"),
    ("disk.device.write.requests", "cumulative", "request"),
    ("disk.device.write.bytes", "cumulative", "B"),
    ("disk.device.read.latency", "cumulative", "ns"),
    ("disk.device.write.latency", "cumulative", "ns"),
    ("disk.device.capacity", "gauge", "B"),
    ("disk.device.allocation", "gauge", "B"),
    ("disk.device.usage", "gauge", "B"),
    ("network.incoming.bytes", "cumulative", "B"),
    ("network.incoming.packets", "cumulative", "packet"),
    ("network.outgoing.bytes", "cumulative", "B"),
    ("network.outgoing.packets", "cumulative", "packet"),
    ("network.incoming.packets.drop", "cumulative", "packet"),
    ("network.outgoing.packets.drop", "cumulative", "packet"),
    ("network.incoming.packets.error", "cumulative", "packet"),
    ("network.outgoing.packets.error", "cumulative", "packet"),
    ("network.incoming.bytes.delta", "delta", "B"),
    ("network.outgoing.bytes.delta", "delta", "B"),
];

const DISK_METERS: [M; 9] = [
    M::DiskReadRequests,
    M::DiskReadBytes,
    M::DiskWriteRequests,
    M::DiskWriteBytes,
    M::DiskReadLatency,
    M::DiskWriteLatency,
    M::DiskCapacity,
    M::DiskAllocation,
    M::DiskUsage,
];

const NET_METERS: [M; 10] = [
    M::NetInBytes,
    M::NetInPackets,
    M::NetOutBytes,
    M::NetOutPackets,
    M::NetInDrop,
    M::NetOutDrop,
    M::NetInError,
    M::NetOutError,
    M::NetInBytesDelta,
    M::NetOutBytesDelta,
];

/// One poll's statistics of every active domain.
pub struct Snapshot {
    pub stats: HashMap<String, DomainStats>,
    /// rx/tx bytes since the previous snapshot, by interface (tap) name.
    pub deltas: HashMap<String, (u64, u64)>,
    /// `time.monotonic()` right after the call: the stats samples' `monotonic_time`.
    pub polled: f64,
}

/// The per-poll slot of the snapshot (in the poll's [`crate::polling::pollster::CycleCache`]):
/// filled by the first instance polled in the cycle.
type CycleStats = tokio::sync::OnceCell<Result<Arc<Snapshot>, String>>;

pub struct LibvirtPollster {
    meters: Vec<MeterSpec>,
    hypervisor: Arc<Hypervisor>,
    metrics: LibvirtMetrics,
    /// Each interface's last rx/tx bytes (Ceilometer's inspector cache for the deltas).
    last_bytes: Arc<Mutex<HashMap<String, (u64, u64)>>>,
    /// `[compute] report_stopped_instance_metrics`.
    report_stopped: bool,
}

impl LibvirtPollster {
    pub fn new(hypervisor: Arc<Hypervisor>, report_stopped: bool) -> Self {
        Self {
            meters: METERS.iter().map(|(n, t, u)| MeterSpec::new(n, t, u)).collect(),
            hypervisor,
            metrics: LibvirtMetrics::new(),
            last_bytes: Arc::default(),
            report_stopped,
        }
    }

    pub fn meters(&self) -> &[MeterSpec] {
        &self.meters
    }

    /// The cycle's snapshot, fetched on first use.
    async fn snapshot(&self, ctx: &PollContext, block_info: bool) -> Result<Arc<Snapshot>, PollError> {
        ctx.cycle
            .slot::<CycleStats>()
            .get_or_init(|| async {
                let last = self.last_bytes.clone();
                let fetched = self
                    .hypervisor
                    .call(move |session| {
                        let stats =
                            session.with_conn("getAllDomainStats", |c| stats::fetch(c, block_info))?;
                        Ok::<_, LibvirtError>(Snapshot {
                            deltas: deltas(&stats, &mut last.lock().unwrap_or_else(|p| p.into_inner())),
                            polled: crate::polling::pollster::monotonic_seconds(),
                            stats,
                        })
                    })
                    .await;
                match fetched {
                    Ok(Ok(s)) => Ok(Arc::new(s)),
                    Ok(Err(e)) | Err(e) => Err(e.to_string()),
                }
            })
            .await
            .clone()
            .map_err(PollError::Transient)
    }

    pub async fn poll(
        &self,
        resource: &Resource,
        mask: &[bool],
        ctx: &PollContext,
        out: &mut Vec<Sample>,
    ) -> Result<(), PollError> {
        let Resource::Guest(guest) = resource else {
            return Err(PollError::Permanent(format!(
                "the libvirt pollsters poll local_instances, not {:?}",
                resource.key()
            )));
        };
        let want = |m: M| mask.get(m as usize).copied().unwrap_or(false);
        let mut emit = Emitter {
            meters: &self.meters,
            guest,
            ctx,
            out,
        };
        // InstanceMetadataPollster: from the flavor, for every discovered instance.
        let now = ctx.monotonic();
        if want(M::DiskRootSize) {
            let root = guest.flavor.disk as i64 - guest.flavor.ephemeral as i64;
            emit.push_with(M::DiskRootSize, root.into(), None, None, now);
        }
        if want(M::DiskEphemeralSize) {
            emit.push_with(
                M::DiskEphemeralSize,
                guest.flavor.ephemeral.into(),
                None,
                None,
                now,
            );
        }
        let stats_wanted = (0..METERS.len()).any(|i| {
            mask.get(i).copied().unwrap_or(false)
                && i != M::DiskRootSize as usize
                && i != M::DiskEphemeralSize as usize
        });
        if !stats_wanted {
            return Ok(());
        }
        let block_info = [M::DiskCapacity, M::DiskAllocation, M::DiskUsage]
            .iter()
            .any(|&m| want(m));
        if guest.state == STATE_SHUTOFF {
            if self.report_stopped {
                return self.poll_stopped(guest, &want, block_info, &mut emit).await;
            }
            return Ok(());
        }
        let snap = self.snapshot(ctx, block_info).await?;
        let Some(s) = snap.stats.get(&guest.id) else {
            // Undefined, destroyed or shut off since discovery: Ceilometer's
            // InstanceNotFound / InstanceShutOff, logged at debug, no samples.
            self.metrics.error(LibvirtErrorReason::Vanished);
            tracing::debug!(instance = %guest.id, "domain gone or inactive since discovery: no stats");
            return Ok(());
        };
        let t = snap.polled;
        let mib = |k: &str| s.balloon.get(k).map(|v| *v as f64 / 1024.0);
        let b = &s.balloon;
        let usage = match (b.get("available"), b.get("usable"), b.get("unused")) {
            (Some(a), Some(u), _) => Some((*a as f64 - *u as f64) / 1024.0),
            (Some(a), None, Some(u)) => Some((*a as f64 - *u as f64) / 1024.0),
            _ => None,
        };
        let swap = b.contains_key("swap_in") && b.contains_key("swap_out");
        let instance: [(M, Option<OwnedValue>); 9] = [
            (M::PowerState, s.state.map(Into::into)),
            (M::Cpu, s.cpu_time.map(Into::into)),
            (M::Vcpus, s.vcpus.map(Into::into)),
            (M::Memory, mib("current").map(Into::into)),
            (M::MemoryAvailable, mib("available").map(Into::into)),
            (M::MemoryUsage, usage.map(Into::into)),
            (M::MemoryResident, mib("rss").map(Into::into)),
            (M::MemorySwapIn, mib("swap_in").filter(|_| swap).map(Into::into)),
            (M::MemorySwapOut, mib("swap_out").filter(|_| swap).map(Into::into)),
        ];
        for (m, v) in instance {
            if let (true, Some(v)) = (want(m), v) {
                let extra = (m == M::Cpu).then(|| {
                    (
                        "cpu_number",
                        s.vcpus.map_or_else(crate::polling::pollster::null, Into::into),
                    )
                });
                emit.push_with(m, v, None, extra, t);
            }
        }

        if DISK_METERS.iter().any(|&m| want(m)) {
            for dev in &guest.disks {
                let Some(bs) = s.block(dev) else {
                    tracing::debug!(instance = %guest.id, disk = %dev, "no block stats for disk");
                    continue;
                };
                let io = [
                    bs.rd_reqs,
                    bs.rd_bytes,
                    bs.wr_reqs,
                    bs.wr_bytes,
                    bs.rd_times,
                    bs.wr_times,
                ];
                emit.push_disk(dev, io, bs.info, &want, t);
            }
        }

        if NET_METERS.iter().any(|&m| want(m)) {
            for vnic in &guest.vnics {
                let Some(ns) = s.net(&vnic.name) else {
                    tracing::debug!(instance = %guest.id, vnic = %vnic.name, "no interface stats");
                    continue;
                };
                let rid = OwnedValue::from(vnic.resource_id(guest));
                let meta = vnic.metadata(guest);
                let (rx_delta, tx_delta) = snap.deltas.get(&vnic.name).copied().unwrap_or((0, 0));
                let values = [
                    ns.rx_bytes,
                    ns.rx_pkts,
                    ns.tx_bytes,
                    ns.tx_pkts,
                    ns.rx_drop,
                    ns.tx_drop,
                    ns.rx_errs,
                    ns.tx_errs,
                    Some(rx_delta),
                    Some(tx_delta),
                ];
                for (m, v) in NET_METERS.into_iter().zip(values) {
                    if let (true, Some(v)) = (want(m), v) {
                        emit.push_meta(m, v.into(), &rid, &meta, t);
                    }
                }
            }
        }
        Ok(())
    }
}

impl LibvirtPollster {
    /// A shut-off instance with `report_stopped_instance_metrics`: what Ceilometer's inspector
    /// reads of it then, from the domain itself (the bulk call covers active domains only):
    /// `inspect_instance`'s `power.state`, `vcpus` and `memory` (the maximum, in MiB, a float
    /// as Python's division makes it), and `inspect_disk_info`'s disk sizes. Nothing else
    /// (`cpu`, `memory.usage`, disk and network I/O): Ceilometer has no value for them.
    async fn poll_stopped(
        &self,
        guest: &Guest,
        want: &impl Fn(M) -> bool,
        block_info: bool,
        emit: &mut Emitter<'_>,
    ) -> Result<(), PollError> {
        let (uuid, disks) = (guest.id.clone(), guest.disks.clone());
        let fetched = self
            .hypervisor
            .call(move |session| {
                session.with_conn("getInfo", |c| stats::fetch_stopped(c, &uuid, &disks, block_info))
            })
            .await;
        let stopped = match fetched {
            Ok(Ok(stopped)) => stopped,
            Ok(Err(e)) | Err(e) => return Err(PollError::Transient(e.to_string())),
        };
        let t = crate::polling::pollster::monotonic_seconds();
        // Gone, or started since discovery: its stats come with the next poll.
        let Some(s) = stopped.filter(|s| s.state == u64::from(STATE_SHUTOFF)) else {
            self.metrics.error(LibvirtErrorReason::Vanished);
            tracing::debug!(instance = %guest.id, "domain gone or started since discovery: no stats");
            return Ok(());
        };
        let instance: [(M, OwnedValue); 3] = [
            (M::PowerState, s.state.into()),
            (M::Vcpus, s.vcpus.into()),
            (M::Memory, (s.max_mem as f64 / 1024.0).into()),
        ];
        for (m, v) in instance {
            if want(m) {
                emit.push_with(m, v, None, None, t);
            }
        }
        for (dev, info) in &s.disks {
            emit.push_disk(dev, [None; 6], *info, want, t);
        }
        Ok(())
    }
}

/// `inspect_vnics`: bytes since the interface's previous reading, the reading itself after a
/// counter reset, 0 the first time; then remember this reading.
fn deltas(
    stats: &HashMap<String, DomainStats>,
    last: &mut HashMap<String, (u64, u64)>,
) -> HashMap<String, (u64, u64)> {
    let mut out = HashMap::new();
    for n in stats.values().flat_map(|s| &s.nets) {
        let (Some(rx), Some(tx)) = (n.rx_bytes, n.tx_bytes) else {
            continue;
        };
        let d = match last.insert(n.name.clone(), (rx, tx)) {
            Some((prx, ptx)) => (
                rx.checked_sub(prx).unwrap_or(rx),
                tx.checked_sub(ptx).unwrap_or(tx),
            ),
            None => (0, 0),
        };
        out.insert(n.name.clone(), d);
    }
    out
}

/// Builds the samples of one instance (`util.make_sample_from_instance`).
struct Emitter<'a> {
    meters: &'a [MeterSpec],
    guest: &'a Guest,
    ctx: &'a PollContext,
    out: &'a mut Vec<Sample>,
}

impl Emitter<'_> {
    fn push_with(
        &mut self,
        m: M,
        volume: OwnedValue,
        rid: Option<&OwnedValue>,
        extra: Option<(&str, OwnedValue)>,
        mono: f64,
    ) {
        let mut meta = self.guest.metadata.clone();
        if let (Some((k, v)), Some(o)) = (
            extra,
            simd_json::prelude::ValueAsMutObject::as_object_mut(&mut meta),
        ) {
            o.insert(k.into(), v);
        }
        let rid = rid.cloned().unwrap_or_else(|| self.guest.id.as_str().into());
        self.push_meta(m, volume, &rid, &meta, mono)
    }

    /// The disk meters of disk `dev`: its I/O counters (in [`DISK_METERS`]' order) and its
    /// blockInfo, where known.
    fn push_disk(
        &mut self,
        dev: &str,
        io: [Option<u64>; 6],
        info: Option<stats::BlockInfo>,
        want: &impl Fn(M) -> bool,
        mono: f64,
    ) {
        let rid = OwnedValue::from(format!("{}-{dev}", self.guest.id));
        let mut meta = self.guest.metadata.clone();
        if let Some(o) = simd_json::prelude::ValueAsMutObject::as_object_mut(&mut meta) {
            o.insert("disk_name".into(), dev.into());
        }
        // `inspect_disk_info`: capacity is the larger of capacity and physical (a cdrom's
        // capacity is 4K-aligned below its size).
        let sizes = [
            info.map(|i| i.capacity.max(i.physical)),
            info.map(|i| i.allocation),
            info.map(|i| i.physical),
        ];
        for (m, v) in DISK_METERS.into_iter().zip(io.into_iter().chain(sizes)) {
            if let (true, Some(v)) = (want(m), v) {
                self.push_meta(m, v.into(), &rid, &meta, mono);
            }
        }
    }

    fn push_meta(&mut self, m: M, volume: OwnedValue, rid: &OwnedValue, meta: &OwnedValue, mono: f64) {
        self.out.push(self.ctx.sample(
            &self.meters[m as usize],
            volume,
            self.guest.user_id.as_str().into(),
            self.guest.project_id.as_str().into(),
            rid.clone(),
            meta.clone(),
            mono.into(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_are_zero_first_then_the_change_then_the_value_after_a_reset() {
        let mut last = HashMap::new();
        let stats = |rx: u64, tx: u64| {
            let mut s = DomainStats::default();
            s.nets.push(stats::NetStats {
                name: "tap1".into(),
                rx_bytes: Some(rx),
                tx_bytes: Some(tx),
                ..Default::default()
            });
            HashMap::from([("dom".to_string(), s)])
        };
        assert_eq!(deltas(&stats(100, 50), &mut last)["tap1"], (0, 0));
        assert_eq!(deltas(&stats(150, 80), &mut last)["tap1"], (50, 30));
        // The domain restarted: counters went back; Ceilometer reports the new value.
        assert_eq!(deltas(&stats(10, 5), &mut last)["tap1"], (10, 5));
    }

    #[test]
    fn the_meter_table_matches_ceilometers_compute_pollsters() {
        assert_eq!(METERS.len(), 30);
        let names: std::collections::HashSet<_> = METERS.iter().map(|m| m.0).collect();
        assert_eq!(names.len(), 30);
        assert_eq!(
            METERS[M::NetOutBytesDelta as usize].0,
            "network.outgoing.bytes.delta"
        );
        assert_eq!(METERS[M::DiskUsage as usize].0, "disk.device.usage");
        assert_eq!(
            METERS[M::MemorySwapOut as usize],
            ("memory.swap.out", "cumulative", "MiB")
        );
    }
}
