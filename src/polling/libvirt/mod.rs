//! Compute polling from the local libvirt: Ceilometer's compute agent
//! (`ceilometer-polling --polling-namespaces compute` with
//! `instance_discovery_method = libvirt_metadata`), read from a real libvirtd.
//!
//! * [`connection`]: the one read-only connection, on its own thread (libvirt's calls block),
//!   reopened when libvirtd restarts.
//! * [`discovery`]: `local_instances`, the domains that carry nova's metadata.
//! * [`stats`]: one `virConnectGetAllDomainStats` per poll for every active domain.
//! * [`pollsters`]: the 30 compute meters from those, as Ceilometer names and shapes them.
//!
//! Failures (libvirtd down, permission denied, a domain gone mid-poll) are logged, counted in
//! `ceilo_libvirt_errors_total` and retried next cycle; none stops the agent.

pub mod connection;
pub mod discovery;
pub mod pollsters;
pub mod stats;

pub use connection::{Hypervisor, LibvirtError};
pub use discovery::Guest;
pub use pollsters::LibvirtPollster;

/// `[DEFAULT] libvirt_type`'s choices in Ceilometer (oslo.config refuses any other at start).
pub const LIBVIRT_TYPES: [&str; 4] = ["kvm", "lxc", "qemu", "parallels"];

/// The libvirt URI as Ceilometer picks it (`compute/virt/libvirt/utils.py`): `libvirt_uri`
/// when set, else by `libvirt_type` (`parallels:///system`, `lxc:///`), else
/// `qemu:///system` (kvm and qemu).
pub fn uri(libvirt_type: &str, libvirt_uri: &str) -> String {
    if !libvirt_uri.is_empty() {
        return libvirt_uri.to_owned();
    }
    match libvirt_type {
        "parallels" => "parallels:///system",
        "lxc" => "lxc:///",
        _ => "qemu:///system",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_uri_follows_ceilometers_rules() {
        assert_eq!(super::uri("kvm", ""), "qemu:///system");
        assert_eq!(super::uri("qemu", ""), "qemu:///system");
        assert_eq!(super::uri("lxc", ""), "lxc:///");
        assert_eq!(super::uri("kvm", "test:///default"), "test:///default");
    }

    #[test]
    fn an_unknown_libvirt_type_stops_the_start_as_in_ceilometer() {
        let options = crate::polling::PollingOptions {
            libvirt_type: "xen".into(),
            pollsters_definitions_dirs: vec![],
            ..Default::default()
        };
        let discovery = crate::polling::Discovery::new(&options);
        let e = crate::polling::load_pollsters(&options, &discovery)
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("\"xen\"")));
        for t in super::LIBVIRT_TYPES {
            let options = crate::polling::PollingOptions {
                libvirt_type: t.into(),
                pollsters_definitions_dirs: vec![],
                ..Default::default()
            };
            assert!(
                crate::polling::load_pollsters(&options, &discovery).is_ok(),
                "{t}"
            );
        }
    }
}
