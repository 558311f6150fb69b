//! The fleet pollster family: the meters of Ceilometer's compute agent (`cpu`,
//! `memory.usage`, `disk.device.*`, `network.*`, `power.state`, ...) for every simulated
//! instance of the `fleet` discovery. A load-testing tool: it polls only for a source whose
//! `discovery` names `fleet` or `fleet:N` (see [`super::SourcePlan::new`]).
//!
//! Counters are pure functions of wall time since the instance "booted" (see
//! [`super::discovery::Instance`]), so they are monotonic across polls and agent restarts
//! without any state. Resource ids and metadata follow the compute agent: the instance uuid
//! for instance meters, `<uuid>-<disk>` for disks, `<name>-<uuid>-<vnic>` for interfaces.
//! Each poll of an instance derives its details and builds each metadata map once, shared by
//! the samples that carry it (and written once per run of them); nothing outlives the samples.

use std::sync::Arc;

use super::discovery::{Fleet, Instance, Resource};
use super::pollster::{null, MeterSpec, PollContext, PollError};
use crate::model::{Metadata, OwnedValue, Sample};

#[derive(Clone, Copy)]
#[repr(usize)]
enum M {
    Cpu,
    Vcpus,
    MemoryUsage,
    MemoryResident,
    PowerState,
    DiskReadBytes,
    DiskReadRequests,
    DiskWriteBytes,
    DiskWriteRequests,
    DiskCapacity,
    NetInBytes,
    NetInPackets,
    NetOutBytes,
    NetOutPackets,
    NetInDrop,
    NetOutDrop,
    NetInError,
    NetOutError,
}

const METERS: [(&str, &str, &str); 18] = [
    ("cpu", "cumulative", "ns"),
    ("vcpus", "gauge", "vcpu"),
    ("memory.usage", "gauge", "MB"),
    ("memory.resident", "gauge", "MB"),
    ("power.state", "gauge", "state"),
    ("disk.device.read.bytes", "cumulative", "B"),
    ("disk.device.read.requests", "cumulative", "request"),
    ("disk.device.write.bytes", "cumulative", "B"),
    ("disk.device.write.requests", "cumulative", "request"),
    ("disk.device.capacity", "gauge", "B"),
    ("network.incoming.bytes", "cumulative", "B"),
    ("network.incoming.packets", "cumulative", "packet"),
    ("network.outgoing.bytes", "cumulative", "B"),
    ("network.outgoing.packets", "cumulative", "packet"),
    ("network.incoming.packets.drop", "cumulative", "packet"),
    ("network.outgoing.packets.drop", "cumulative", "packet"),
    ("network.incoming.packets.error", "cumulative", "packet"),
    ("network.outgoing.packets.error", "cumulative", "packet"),
];

/// libvirt's power state "running".
const POWER_RUNNING: u64 = 1;
const DISK: &str = "vda";

pub struct FleetPollster {
    meters: Vec<MeterSpec>,
    /// Discovery's fleet ([`super::Discovery::fleet`]): what its listed instances derive from.
    fleet: Arc<Fleet>,
}

impl FleetPollster {
    pub fn new(fleet: Arc<Fleet>) -> Self {
        Self {
            meters: METERS.iter().map(|(n, t, u)| MeterSpec::new(n, t, u)).collect(),
            fleet,
        }
    }

    pub fn meters(&self) -> &[MeterSpec] {
        &self.meters
    }

    pub fn poll(
        &self,
        resource: &Resource,
        mask: &[bool],
        ctx: &PollContext,
        out: &mut Vec<Sample>,
    ) -> Result<(), PollError> {
        let Resource::Instance(listed) = resource else {
            return Err(PollError::Permanent(format!(
                "the fleet pollster only polls fleet instances, not {:?}",
                resource.key()
            )));
        };
        let want = |m: M| mask.get(m as usize).copied().unwrap_or(false);
        let inst = &self.fleet.details(listed);
        let c = Counters::at(inst, ctx.wall_secs);
        let user = OwnedValue::from(inst.user_id.as_str());
        let project = OwnedValue::from(inst.project_id.as_str());
        let mut emit = |m: M, volume: OwnedValue, rid: &OwnedValue, meta: &Metadata, mono: OwnedValue| {
            out.push(ctx.sample(
                &self.meters[m as usize],
                volume,
                user.clone(),
                project.clone(),
                rid.clone(),
                meta.clone(),
                mono,
            ));
        };

        let rid = OwnedValue::from(inst.id.as_str());
        let instance_meta = inst.metadata();
        if want(M::Cpu) {
            emit(
                M::Cpu,
                c.cpu_ns.into(),
                &rid,
                &Arc::new(inst.cpu_metadata(&instance_meta)),
                ctx.monotonic().into(),
            );
        }
        let meta = &Metadata::new(instance_meta);
        if want(M::Vcpus) {
            emit(M::Vcpus, inst.flavor.vcpus.into(), &rid, meta, null());
        }
        if want(M::MemoryUsage) {
            emit(
                M::MemoryUsage,
                c.memory_mb.into(),
                &rid,
                meta,
                ctx.monotonic().into(),
            );
        }
        if want(M::MemoryResident) {
            emit(
                M::MemoryResident,
                (c.memory_mb * 1.1).round().into(),
                &rid,
                meta,
                null(),
            );
        }
        if want(M::PowerState) {
            emit(M::PowerState, POWER_RUNNING.into(), &rid, meta, null());
        }

        let disk = [
            M::DiskReadBytes,
            M::DiskReadRequests,
            M::DiskWriteBytes,
            M::DiskWriteRequests,
            M::DiskCapacity,
        ];
        if disk.iter().any(|&m| want(m)) {
            let disk_rid = OwnedValue::from(format!("{}-{DISK}", inst.id));
            let disk_meta = &Arc::new(inst.disk_metadata(meta, DISK));
            let values = [
                c.read_bytes,
                c.read_bytes / 16_384,
                c.write_bytes,
                c.write_bytes / 8_192,
                inst.flavor.disk * 1_073_741_824,
            ];
            for (m, v) in disk.into_iter().zip(values) {
                if want(m) {
                    emit(m, v.into(), &disk_rid, disk_meta, null());
                }
            }
        }

        let net = [
            M::NetInBytes,
            M::NetInPackets,
            M::NetOutBytes,
            M::NetOutPackets,
            M::NetInDrop,
            M::NetOutDrop,
            M::NetInError,
            M::NetOutError,
        ];
        if net.iter().any(|&m| want(m)) {
            let vnic_rid = OwnedValue::from(format!("{}-{}-{}", inst.name, inst.id, inst.vnic));
            let vnic_meta = &Arc::new(inst.vnic_metadata());
            let values = [
                c.rx_bytes,
                c.rx_bytes / 800,
                c.tx_bytes,
                c.tx_bytes / 600,
                c.rx_bytes / 50_000_000,
                c.tx_bytes / 80_000_000,
                c.rx_bytes / 200_000_000,
                c.tx_bytes / 300_000_000,
            ];
            for (m, v) in net.into_iter().zip(values) {
                if want(m) {
                    emit(m, v.into(), &vnic_rid, vnic_meta, null());
                }
            }
        }
        Ok(())
    }
}

/// The simulated counters of an instance at a wall-clock time.
#[derive(Debug, PartialEq)]
struct Counters {
    cpu_ns: u64,
    memory_mb: f64,
    read_bytes: u64,
    write_bytes: u64,
    rx_bytes: u64,
    tx_bytes: u64,
}

impl Counters {
    fn at(inst: &Instance, wall_secs: f64) -> Self {
        let up = (wall_secs - inst.launched_at).max(0.0);
        let a = inst.activity;
        let rate = |per_sec: f64| (up * a * per_sec) as u64;
        // Memory is a gauge: a working set that breathes slowly around its mean.
        let mean = inst.flavor.ram as f64 * (0.25 + 0.5 * a);
        let wobble = 0.05 * mean * ((wall_secs / 600.0) + inst.index as f64).sin();
        Self {
            cpu_ns: (up * 1e9 * inst.flavor.vcpus as f64 * a * 0.5) as u64,
            memory_mb: ((mean + wobble) * 100.0).round() / 100.0,
            read_bytes: rate(200_000.0),
            write_bytes: rate(120_000.0),
            rx_bytes: rate(60_000.0),
            tx_bytes: rate(35_000.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use simd_json::prelude::*;

    use super::*;

    use crate::polling::discovery::FleetInstance;

    fn fleet() -> Arc<Fleet> {
        Arc::new(Fleet::new(42, "agent".into()))
    }

    fn poll_at(inst: FleetInstance, wall: f64) -> Vec<Sample> {
        let p = FleetPollster::new(fleet());
        let mut ctx = PollContext::now("src".into());
        ctx.wall_secs = wall;
        let mut out = Vec::new();
        let mask = vec![true; p.meters().len()];
        p.poll(&Resource::Instance(inst), &mask, &ctx, &mut out).unwrap();
        out
    }

    #[test]
    fn emits_every_compute_meter_with_the_agents_shape() {
        let listed = fleet().instance(3);
        let before = crate::model::py::time::monotonic().as_secs_f64();
        let out = poll_at(listed, 1_741_945_500.0);
        let after = crate::model::py::time::monotonic().as_secs_f64();
        let inst = fleet().details(&listed);
        assert_eq!(inst.id, listed.id.to_string());
        assert_eq!(out.len(), METERS.len());
        let cpu = out.iter().find(|s| &*s.name == "cpu").unwrap();
        assert_eq!(cpu.resource_id.as_str(), Some(inst.id.as_str()));
        assert_eq!(cpu.user_id.as_str(), Some(inst.user_id.as_str()));
        assert_eq!(cpu.project_id.as_str(), Some(inst.project_id.as_str()));
        let meta = &cpu.resource_metadata;
        assert_eq!(meta.get_str("instance_type"), Some(inst.flavor.name));
        assert_eq!(
            meta.get("cpu_number").and_then(|v| v.as_u64()),
            Some(inst.flavor.vcpus)
        );
        assert_eq!(
            meta.get("flavor").and_then(|f| f.get_str("name")),
            Some(inst.flavor.name)
        );
        // Python's `time.monotonic()` at the poll, as Ceilometer's cpu pollster stamps it.
        let polled = cpu.monotonic_time.as_f64().expect("a monotonic_time");
        assert!(
            before <= polled && polled <= after,
            "{before} <= {polled} <= {after}"
        );
        let disk = out
            .iter()
            .find(|s| &*s.name == "disk.device.write.bytes")
            .unwrap();
        assert_eq!(
            disk.resource_id.as_str(),
            Some(format!("{}-vda", inst.id).as_str())
        );
        assert_eq!(disk.resource_metadata.get_str("disk_name"), Some("vda"));
        let net = out
            .iter()
            .find(|s| &*s.name == "network.outgoing.packets")
            .unwrap();
        assert_eq!(
            net.resource_id.as_str(),
            Some(format!("{}-{}-{}", inst.name, inst.id, inst.vnic).as_str())
        );
        assert_eq!(
            net.resource_metadata.get_str("vnic_name"),
            Some(inst.vnic.as_str())
        );
        assert!(net.monotonic_time.is_null());
    }

    #[test]
    fn cumulative_counters_never_go_back() {
        for i in 0..20 {
            let inst = fleet().instance(i);
            let mut last: Option<Vec<Sample>> = None;
            for step in 0..50 {
                let now = poll_at(inst, 1_741_945_500.0 + step as f64 * 7.3);
                if let Some(prev) = &last {
                    for (a, b) in prev.iter().zip(&now) {
                        assert_eq!(a.name, b.name);
                        if &*a.sample_type == "cumulative" {
                            assert!(b.volume.as_u64() >= a.volume.as_u64(), "{} went back", a.name);
                        }
                    }
                }
                last = Some(now);
            }
        }
    }

    #[test]
    fn polls_only_instances() {
        let p = FleetPollster::new(fleet());
        let ctx = PollContext::now("s".into());
        let e = p.poll(&Resource::LocalNode("h".into()), &[true], &ctx, &mut Vec::new());
        assert!(matches!(e, Err(PollError::Permanent(_))));
    }
}
