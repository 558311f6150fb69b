//! `local_instances` discovery with Ceilometer's `instance_discovery_method = libvirt_metadata`
//! (`ceilometer/compute/discovery.py`): every domain of the local libvirt that carries nova's
//! metadata (`http://openstack.org/xmlns/libvirt/nova/1.1`, or 1.0) is an instance; the others
//! are not OpenStack's and are skipped. Everything the compute pollsters need that does not
//! change between polls comes from the domain XML here: the nova metadata (name, flavor, owner,
//! image), the disks that have a source and the interfaces with their target device.
//!
//! Inactive domains are discovered too, as Ceilometer does: the metadata-only meters
//! (`disk.root.size`, `disk.ephemeral.size`) are polled for them, the stats meters are not
//! (they have no stats).
//!
//! A flavor without an `id` attribute (nova before 2025.2) gets its name as id here; the
//! discovery then asks Nova for the id ([`crate::polling::nova`], [`Guest::set_flavor_id`]).
//! Not done: `fetch_extra_metadata` (server metadata, from Nova's API).

use std::sync::Arc;

use roxmltree::{Document, Node};
use sha2::{Digest, Sha224};
use simd_json::prelude::*;

use super::connection::{Hypervisor, LibvirtError};
use crate::model::OwnedValue;

/// nova's metadata namespaces, newest first.
const NOVA_NAMESPACES: [&str; 2] = [
    "http://openstack.org/xmlns/libvirt/nova/1.1",
    "http://openstack.org/xmlns/libvirt/nova/1.0",
];

/// A nova instance running (or defined) on this hypervisor.
#[derive(Debug)]
pub struct Guest {
    /// The domain UUID: nova's instance id, the resource id of instance meters.
    pub id: String,
    /// libvirt's domain name (`instance-0000002a`).
    pub domain_name: String,
    pub user_id: String,
    pub project_id: String,
    pub flavor: Flavor,
    /// libvirt's domain state (`virDomainState`) at discovery.
    pub state: u32,
    /// Target devices (`vda`) of the disks that have a source.
    pub disks: Vec<String>,
    pub vnics: Vec<Vnic>,
    /// The instance metadata of every compute sample (`pollsters/util.py`).
    pub metadata: OwnedValue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Flavor {
    /// The metadata's, or the name until Nova says otherwise ([`Flavor::id_in_metadata`]).
    pub id: String,
    /// Whether nova wrote the id into the metadata (2025.2 and later).
    pub id_in_metadata: bool,
    pub name: String,
    pub vcpus: u64,
    pub ram: u64,
    pub disk: u64,
    pub ephemeral: u64,
    pub swap: u64,
    /// `<extraSpecs>` (nova 2025.2 and later); `None` when the element is absent.
    pub extra_specs: Option<Vec<(String, Option<String>)>>,
}

impl Guest {
    /// The flavor id Nova gave for a guest whose metadata has none: in the flavor and in the
    /// sample metadata's `flavor`.
    pub fn set_flavor_id(&mut self, id: &str) {
        self.flavor.id = id.to_owned();
        if let Some(flavor) = self.metadata.get_mut("flavor").and_then(|f| f.as_object_mut()) {
            flavor.insert("id".into(), id.into());
        }
    }
}

/// An interface of the domain XML with a target device (the tap), as Ceilometer's
/// `inspect_vnics` reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Vnic {
    /// The target device (`tap1234abcd-12`).
    pub name: String,
    pub mac: String,
    /// `<filterref filter=...>`: when set, the resource id of the interface meters.
    pub fref: Option<String>,
    /// `<filterref><parameter>` names lowercased, then `interfaceid` and `bridge`.
    pub parameters: Vec<(String, Option<String>)>,
}

impl Vnic {
    /// The resource id of the interface meters (`net.py: NetworkPollster.get_resource_id`).
    pub fn resource_id(&self, guest: &Guest) -> String {
        match &self.fref {
            Some(f) => f.clone(),
            None => format!("{}-{}-{}", guest.domain_name, guest.id, self.name),
        }
    }

    /// Instance metadata plus the interface's (`NetworkPollster.get_additional_metadata`).
    pub fn metadata(&self, guest: &Guest) -> OwnedValue {
        let mut params = simd_json::owned::Object::default();
        for (k, v) in &self.parameters {
            params.insert(
                k.clone(),
                v.as_deref().map_or_else(OwnedValue::null, OwnedValue::from),
            );
        }
        let mut m = guest.metadata.clone();
        if let Some(o) = m.as_object_mut() {
            o.insert("name".into(), self.name.as_str().into());
            o.insert("mac".into(), self.mac.as_str().into());
            o.insert("fref".into(), opt(&self.fref));
            o.insert("parameters".into(), OwnedValue::Object(Box::new(params)));
            o.insert(
                "vnic_name".into(),
                self.fref.as_deref().unwrap_or(&self.name).into(),
            );
        }
        m
    }
}

fn opt(v: &Option<String>) -> OwnedValue {
    v.as_deref().map_or_else(OwnedValue::null, OwnedValue::from)
}

/// Why a domain with nova metadata is not an instance (Ceilometer logs and skips it).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GuestError {
    #[error("domain XML does not parse: {0}")]
    Xml(String),
    #[error("nova metadata is missing {0}")]
    Missing(&'static str),
}

/// libvirt's domain states as nova reports them (`LIBVIRT_POWER_STATE`, `LIBVIRT_STATUS`).
pub fn vm_state(state: u32) -> Option<(&'static str, &'static str)> {
    Some(match state {
        0 => ("pending", "building"),
        1 | 2 => ("running", "active"),
        3 => ("paused", "paused"),
        4 | 5 => ("shutdown", "stopped"),
        6 => ("crashed", "error"),
        7 => ("suspended", "suspended"),
        _ => return None,
    })
}

/// `VIR_DOMAIN_SHUTOFF`.
pub const STATE_SHUTOFF: u32 = 5;

/// Build a [`Guest`] from a domain's full XML (`virDomainGetXMLDesc`), its state and the
/// agent's host name (`[DEFAULT] host`). `Ok(None)`: no nova metadata, not an instance.
pub fn parse_guest(
    id: &str,
    domain_name: &str,
    xml: &str,
    state: u32,
    host: &str,
) -> Result<Option<Guest>, GuestError> {
    let doc = Document::parse(xml).map_err(|e| GuestError::Xml(e.to_string()))?;
    let root = doc.root_element();
    let Some(nova) = child(root, "metadata").and_then(|m| {
        NOVA_NAMESPACES.iter().find_map(|ns| {
            m.children().find(|n| {
                n.is_element() && n.tag_name().name() == "instance" && n.tag_name().namespace() == Some(ns)
            })
        })
    }) else {
        return Ok(None);
    };
    let os_type = path(root, &["os", "type"]).ok_or(GuestError::Missing("os/type"))?;
    let flavor_xml = child(nova, "flavor").ok_or(GuestError::Missing("flavor"))?;
    let user_id = path(nova, &["owner", "user"])
        .and_then(|n| n.attribute("uuid"))
        .ok_or(GuestError::Missing("owner/user uuid"))?;
    let project_id = path(nova, &["owner", "project"])
        .and_then(|n| n.attribute("uuid"))
        .ok_or(GuestError::Missing("owner/project uuid"))?;
    // ElementTree's `.text`: `None` for an empty element, which Ceilometer writes as null.
    let display_name = child(nova, "name").ok_or(GuestError::Missing("name"))?.text();
    let architecture = os_type
        .attribute("arch")
        .ok_or(GuestError::Missing("os/type arch"))?;
    let flavor_name = flavor_xml
        .attribute("name")
        .ok_or(GuestError::Missing("flavor name"))?;
    let int = |name: &str| {
        child(flavor_xml, name)
            .and_then(|n| n.text())
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let flavor = Flavor {
        // No id in older nova metadata: Nova is asked (the discovery), the name stands in.
        id: flavor_xml.attribute("id").unwrap_or(flavor_name).to_owned(),
        id_in_metadata: flavor_xml.attribute("id").is_some(),
        name: flavor_name.to_owned(),
        vcpus: int("vcpus"),
        ram: int("memory"),
        disk: int("disk"),
        ephemeral: int("ephemeral"),
        swap: int("swap"),
        extra_specs: child(flavor_xml, "extraSpecs").map(|specs| {
            elements(specs, "extraSpec")
                .map(|s| {
                    (
                        s.attribute("name").unwrap_or_default().to_owned(),
                        s.text().map(str::to_owned),
                    )
                })
                .collect()
        }),
    };
    let image_id = nova
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == "root" && n.attribute("type") == Some("image"))
        .and_then(|n| n.attribute("uuid"));
    let image_meta = child(nova, "image").map(image_meta);

    let devices = child(root, "devices");
    let disks = devices
        .into_iter()
        .flat_map(|d| elements(d, "disk"))
        .filter(|d| child(*d, "source").is_some())
        .filter_map(|d| child(d, "target").and_then(|t| t.attribute("dev")))
        .filter(|dev| !dev.is_empty())
        .map(str::to_owned)
        .collect();
    let vnics = devices
        .into_iter()
        .flat_map(|d| elements(d, "interface"))
        .filter_map(parse_vnic)
        .collect();

    let (vm_state, status) = vm_state(state).unwrap_or(("", ""));
    let host_id = hex::encode(Sha224::digest(format!("{project_id}{host}").as_bytes()));
    let image = image_id.map(|i| simd_json::json!({ "id": i }));
    let mut flavor_json = simd_json::json!({
        "id": flavor.id.as_str(),
        "name": flavor.name.as_str(),
        "vcpus": flavor.vcpus,
        "ram": flavor.ram,
        "disk": flavor.disk,
        "ephemeral": flavor.ephemeral,
        "swap": flavor.swap,
    });
    if let (Some(specs), Some(o)) = (&flavor.extra_specs, flavor_json.as_object_mut()) {
        o.insert(
            "extra_specs".into(),
            pairs(specs.iter().map(|(k, v)| (k, v.as_ref()))),
        );
    }
    // Key order as `_get_metadata_from_object` builds it.
    let mut meta = simd_json::owned::Object::default();
    let mut put = |k: &str, v: OwnedValue| {
        meta.insert(k.into(), v);
    };
    put(
        "display_name",
        display_name.map_or_else(OwnedValue::null, OwnedValue::from),
    );
    put("name", domain_name.into());
    put("instance_id", id.into());
    put("instance_type", flavor.name.as_str().into());
    put("host", host_id.into());
    put("instance_host", host.into());
    put("flavor", flavor_json);
    put("status", status.into());
    put("state", vm_state.into());
    put("task_state", "".into());
    put("image", image.clone().unwrap_or_else(OwnedValue::null));
    put(
        "image_ref",
        image_id.map_or_else(OwnedValue::null, OwnedValue::from),
    );
    put("image_ref_url", OwnedValue::null());
    if let Some(im) = image_meta {
        put("image_meta", im);
    }
    put("architecture", architecture.into());
    put("os_type", os_type.text().unwrap_or_default().into());
    put("vcpus", flavor.vcpus.into());
    put("memory_mb", flavor.ram.into());
    put("disk_gb", flavor.disk.into());
    put("ephemeral_gb", flavor.ephemeral.into());
    put("root_gb", (flavor.disk as i64 - flavor.ephemeral as i64).into());

    Ok(Some(Guest {
        id: id.to_owned(),
        domain_name: domain_name.to_owned(),
        user_id: user_id.to_owned(),
        project_id: project_id.to_owned(),
        flavor,
        state,
        disks,
        vnics,
        metadata: OwnedValue::Object(Box::new(meta)),
    }))
}

/// `<image>` of nova's metadata: `image_meta` in the sample metadata.
fn image_meta(n: Node) -> OwnedValue {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    if let Some(u) = n.attribute("uuid") {
        out.push(("base_image_ref".into(), Some(u.to_owned())));
    }
    for (tag, key) in [
        ("containerFormat", "container_format"),
        ("diskFormat", "disk_format"),
        ("minDisk", "min_disk"),
        ("minRam", "min_ram"),
    ] {
        if let Some(c) = child(n, tag) {
            out.push((key.into(), c.text().map(str::to_owned)));
        }
    }
    if let Some(props) = child(n, "properties") {
        for p in elements(props, "property") {
            out.push((
                p.attribute("name").unwrap_or_default().to_owned(),
                p.text().map(str::to_owned),
            ));
        }
    }
    pairs(out.iter().map(|(k, v)| (k, v.as_ref())))
}

fn pairs<'a>(items: impl Iterator<Item = (&'a String, Option<&'a String>)>) -> OwnedValue {
    let mut o = simd_json::owned::Object::default();
    for (k, v) in items {
        o.insert(k.clone(), v.map_or_else(OwnedValue::null, |v| v.as_str().into()));
    }
    OwnedValue::Object(Box::new(o))
}

fn parse_vnic(iface: Node) -> Option<Vnic> {
    let name = child(iface, "target")?.attribute("dev")?.to_owned();
    let mac = child(iface, "mac")?.attribute("address")?.to_owned();
    let filterref = child(iface, "filterref");
    let fref = filterref.and_then(|f| f.attribute("filter")).map(str::to_owned);
    let mut parameters: Vec<(String, Option<String>)> = filterref
        .into_iter()
        .flat_map(|f| elements(f, "parameter"))
        .map(|p| {
            (
                p.attribute("name").unwrap_or_default().to_lowercase(),
                p.attribute("value").map(str::to_owned),
            )
        })
        .collect();
    let interfaceid = path(iface, &["virtualport", "parameters"])
        .and_then(|p| p.attribute("interfaceid"))
        .map(str::to_owned);
    let bridge = child(iface, "source")
        .and_then(|s| s.attribute("bridge"))
        .map(str::to_owned);
    // A dict in Ceilometer: a later key replaces an earlier one in place.
    for (k, v) in [("interfaceid", interfaceid), ("bridge", bridge)] {
        match parameters.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v,
            None => parameters.push((k.into(), v)),
        }
    }
    Some(Vnic {
        name,
        mac,
        fref,
        parameters,
    })
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn elements<'a, 'i: 'a>(n: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn path<'a, 'i>(n: Node<'a, 'i>, names: &[&str]) -> Option<Node<'a, 'i>> {
    names.iter().try_fold(n, |n, name| child(n, name))
}

/// The result of one discovery: the instances, and the domains skipped with the reason.
pub struct Found {
    pub guests: Vec<Guest>,
    /// (domain uuid, why) for domains with nova metadata that could not be read.
    pub skipped: Vec<(String, String)>,
}

/// List the hypervisor's domains and keep the nova instances (one `virConnectListAllDomains`,
/// then the XML and state of each domain).
pub async fn discover(hypervisor: &Hypervisor, host: Arc<str>) -> Result<Found, LibvirtError> {
    hypervisor
        .call(move |session| {
            let domains = session.with_conn("listAllDomains", |c| c.list_all_domains(0))?;
            let mut found = Found {
                guests: Vec::with_capacity(domains.len()),
                skipped: Vec::new(),
            };
            for d in domains {
                // A domain undefined between the listing and these calls is simply not there.
                let (Ok(id), Ok(name), Ok(xml), Ok((state, _))) = (
                    d.get_uuid_string(),
                    d.get_name(),
                    d.get_xml_desc(0),
                    d.get_state(),
                ) else {
                    continue;
                };
                match parse_guest(&id, &name, &xml, state, &host) {
                    Ok(Some(g)) => found.guests.push(g),
                    Ok(None) => {}
                    Err(e) => found.skipped.push((id, e.to_string())),
                }
            }
            Ok(found)
        })
        .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const DOMAIN: &str = r#"<domain type='qemu' id='3'>
  <name>instance-0000002a</name>
  <uuid>11111111-2222-3333-4444-555555555555</uuid>
  <metadata>
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:package version="27.0.0"/>
      <nova:name>vm1</nova:name>
      <nova:flavor name="m1.tiny" id="1">
        <nova:memory>128</nova:memory>
        <nova:disk>2</nova:disk>
        <nova:swap>0</nova:swap>
        <nova:ephemeral>1</nova:ephemeral>
        <nova:vcpus>1</nova:vcpus>
      </nova:flavor>
      <nova:owner>
        <nova:user uuid="u1">admin</nova:user>
        <nova:project uuid="p1">admin</nova:project>
      </nova:owner>
      <nova:root type="image" uuid="img1"/>
    </nova:instance>
  </metadata>
  <os><type arch='x86_64' machine='pc-i440fx-10.0'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/x/vm1.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='hdc' bus='ide'/>
    </disk>
    <interface type='ethernet'>
      <mac address='fa:16:3e:00:00:01'/>
      <target dev='tap-lab1' managed='yes'/>
      <model type='virtio'/>
    </interface>
    <interface type='bridge'>
      <mac address='fa:16:3e:00:00:02'/>
      <source bridge='br-int'/>
      <virtualport type='openvswitch'><parameters interfaceid='port-1'/></virtualport>
      <target dev='tap2'/>
      <filterref filter='nova-instance-x'><parameter name='IP' value='10.0.0.5'/></filterref>
    </interface>
    <interface type='user'><mac address='52:54:00:00:00:03'/></interface>
  </devices>
</domain>"#;

    #[test]
    fn reads_nova_metadata_disks_and_interfaces() {
        let g = parse_guest(
            "11111111-2222-3333-4444-555555555555",
            "instance-0000002a",
            DOMAIN,
            1,
            "compute-1",
        )
        .unwrap()
        .unwrap();
        assert_eq!((g.user_id.as_str(), g.project_id.as_str()), ("u1", "p1"));
        assert_eq!(g.flavor.id, "1");
        assert_eq!((g.flavor.ram, g.flavor.disk, g.flavor.ephemeral), (128, 2, 1));
        // Only disks with a source (the empty cdrom has none).
        assert_eq!(g.disks, ["vda"]);
        assert_eq!(g.vnics.len(), 2, "the user-mode interface has no target device");
        assert_eq!(
            g.vnics[0].resource_id(&g),
            "instance-0000002a-11111111-2222-3333-4444-555555555555-tap-lab1"
        );
        assert_eq!(g.vnics[1].resource_id(&g), "nova-instance-x");
        assert_eq!(
            g.vnics[1].parameters,
            [
                ("ip".to_string(), Some("10.0.0.5".to_string())),
                ("interfaceid".to_string(), Some("port-1".to_string())),
                ("bridge".to_string(), Some("br-int".to_string())),
            ]
        );
        let m = &g.metadata;
        assert_eq!(m.get_str("display_name"), Some("vm1"));
        assert_eq!(m.get_str("name"), Some("instance-0000002a"));
        assert_eq!(m.get_str("status"), Some("active"));
        assert_eq!(m.get_str("state"), Some("running"));
        assert_eq!(m.get_str("instance_host"), Some("compute-1"));
        // nova's hostId: sha224(project + host).
        assert_eq!(
            m.get_str("host"),
            Some(hex::encode(Sha224::digest(b"p1compute-1")).as_str())
        );
        assert_eq!(m.get("image").and_then(|i| i.get_str("id")), Some("img1"));
        assert_eq!(m.get_str("image_ref"), Some("img1"));
        assert!(m.get("image_ref_url").is_some_and(|v| v.is_null()));
        assert_eq!(m.get_i64("root_gb"), Some(1));
        assert_eq!(m.get_str("os_type"), Some("hvm"));
        assert_eq!(m.get_str("architecture"), Some("x86_64"));
        assert_eq!(m.get("flavor").and_then(|f| f.get_str("name")), Some("m1.tiny"));
        let keys: Vec<&str> = m.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys[..4],
            ["display_name", "name", "instance_id", "instance_type"]
        );
        let vm = g.vnics[0].metadata(&g);
        assert_eq!(vm.get_str("vnic_name"), Some("tap-lab1"));
        assert_eq!(vm.get_str("mac"), Some("fa:16:3e:00:00:01"));
        assert!(vm.get("fref").is_some_and(|v| v.is_null()));
        assert_eq!(
            g.vnics[1].metadata(&g).get_str("vnic_name"),
            Some("nova-instance-x")
        );
    }

    #[test]
    fn a_domain_without_nova_metadata_is_not_an_instance() {
        let xml = "<domain><name>x</name><os><type arch='x86_64'>hvm</type></os><devices/></domain>";
        assert_eq!(parse_guest("u", "x", xml, 1, "h").unwrap().map(|g| g.id), None);
        // Another namespace is not nova's.
        let other = DOMAIN.replace("openstack.org/xmlns/libvirt/nova/1.1", "example.org/other");
        assert!(parse_guest("u", "x", &other, 1, "h").unwrap().is_none());
        // nova 1.0 is.
        let old = DOMAIN.replace("nova/1.1", "nova/1.0");
        assert!(parse_guest("u", "x", &old, 1, "h").unwrap().is_some());
    }

    #[test]
    fn empty_elements_are_none_as_elementtree_reads_them() {
        // ElementTree's `.text` of an empty element is None: Ceilometer's display_name and an
        // empty extra spec are null (found running Ceilometer's compute agent beside ceilo on
        // generated test-driver guests).
        let xml = DOMAIN.replace("<nova:name>vm1</nova:name>", "<nova:name></nova:name>").replace(
            "</nova:flavor>",
            r#"<nova:extraSpecs><nova:extraSpec name="a"></nova:extraSpec><nova:extraSpec name="b">x</nova:extraSpec></nova:extraSpecs></nova:flavor>"#,
        );
        let g = parse_guest("u", "x", &xml, 1, "h").unwrap().unwrap();
        assert!(g.metadata.get("display_name").unwrap().is_null());
        let specs = g
            .metadata
            .get("flavor")
            .and_then(|f| f.get("extra_specs"))
            .unwrap();
        assert!(specs.get("a").unwrap().is_null(), "{specs:?}");
        assert_eq!(specs.get_str("b"), Some("x"));
    }

    #[test]
    fn nova_metadata_without_an_owner_is_skipped_with_a_reason() {
        let xml = DOMAIN.replace("<nova:user uuid=\"u1\">admin</nova:user>", "");
        assert_eq!(
            parse_guest("u", "x", &xml, 1, "h").unwrap_err(),
            GuestError::Missing("owner/user uuid")
        );
    }

    #[test]
    fn a_flavor_without_id_gets_its_name_and_states_map_as_nova() {
        let xml = DOMAIN.replace(" id=\"1\"", "");
        let mut g = parse_guest("u", "x", &xml, STATE_SHUTOFF, "h").unwrap().unwrap();
        assert_eq!(g.flavor.id, "m1.tiny");
        assert!(!g.flavor.id_in_metadata);
        assert_eq!(g.metadata.get_str("status"), Some("stopped"));
        assert_eq!(g.metadata.get_str("state"), Some("shutdown"));
        // What Nova says then replaces the name, in the flavor and in the metadata.
        g.set_flavor_id("c0ffee");
        assert_eq!(g.flavor.id, "c0ffee");
        let flavor = g.metadata.get("flavor").unwrap();
        assert_eq!(flavor.get_str("id"), Some("c0ffee"));
        assert_eq!(flavor.get_str("name"), Some("m1.tiny"));
        let with_id = parse_guest("u", "x", DOMAIN, STATE_SHUTOFF, "h")
            .unwrap()
            .unwrap();
        assert!(with_id.flavor.id_in_metadata);
    }
}
