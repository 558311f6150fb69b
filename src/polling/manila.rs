//! Manila's pollsters, `manila.share.size` and `manila.share.status`, as Ceilometer 27's
//! `ceilometer/share/manila.py` polls them through its `manila_shares` discoverer
//! (openstacksdk's shared-file-system client):
//!
//! * Manila's endpoint is the token's catalog entry of `[service_types] manila` (`sharev2`), of
//!   `[service_credentials] interface` in `region_name`, versioned as openstacksdk versions it
//!   (`.../v2`).
//! * `GET <manila>/v2/shares/detail?all_tenants=True` with the agent's Keystone token and no
//!   microversion (Manila answers at 2.0), then each page's `shares_links` `next` (Manila
//!   pages only a listing asked for a `limit`, which openstacksdk does not ask for).
//! * A gauge per share and meter: `size` in GiB (0 when Manila gives none), or its `status` as
//!   Ceilometer's table numbers it ([`STATUS`]; a status the table does not have is -1, with a
//!   warning); its `user_id` (which Manila gives from 2.16 only) as user, `project_id` as
//!   project, `id` as resource, and the eight attributes Ceilometer copies into the metadata,
//!   typed as openstacksdk types them, `share_proto` named `protocol`.
//!
//! Ceilometer 27's discoverer hands the polling manager openstacksdk's generator, as Octavia's
//! does (see `octavia`): when one source polls both meters, Ceilometer sends only the first
//! pollster's samples. ceilo sends both.

use std::sync::Arc;

use simd_json::prelude::*;

use super::discovery::Resource;
use super::pollster::{null, selected, MeterSpec, PollContext, PollError};
use super::service_api::{
    as_int, as_str, linked_page, status_volume, typed_metadata, Page, ServiceApi, Typed,
};
use crate::model::{Metadata, OwnedValue, Sample};

/// The discoverer's name in polling.yaml.
pub const DISCOVERER: &str = "manila_shares";

/// Ceilometer's numbers for a share's `status`.
pub const STATUS: [(&str, i64); 26] = [
    ("available", 1),
    ("creating", 2),
    ("deleting", 3),
    ("error", 4),
    ("error_deleting", 5),
    ("migrating", 6),
    ("extending", 7),
    ("shrinking", 8),
    ("reverting", 9),
    ("inactive", 10),
    ("manage_starting", 11),
    ("manage_error", 12),
    ("unmanage_starting", 13),
    ("unmanage_error", 14),
    ("unmanaged", 15),
    ("extending_error", 16),
    ("shrinking_error", 17),
    ("reverting_error", 18),
    ("awaiting_transfer", 19),
    ("backup_creating", 20),
    ("backup_restoring", 21),
    ("backup_restoring_error", 22),
    ("creating_from_snapshot", 23),
    ("shrinking_possible_data_loss_error", 24),
    ("migrating_to", 25),
    ("replication_change", 26),
];

/// The attributes Ceilometer copies into a sample's metadata: (the name in the metadata, the
/// field of Manila's reply, how openstacksdk reads it).
const FIELDS: [(&str, &str, Typed); 8] = [
    ("name", "name", Typed::Str),
    ("availability_zone", "availability_zone", Typed::Str),
    ("share_type", "share_type", Typed::Str),
    ("share_network_id", "share_network_id", Typed::Str),
    ("status", "status", Typed::Str),
    ("host", "host", Typed::Str),
    ("is_public", "is_public", Typed::Bool),
    ("protocol", "share_proto", Typed::Str),
];

/// One share as Manila listed it: what its samples take.
#[derive(Debug)]
pub struct Share {
    /// Its key for logs and the partition ring ("" when it has none).
    pub id: Arc<str>,
    status: Option<String>,
    size: OwnedValue,
    user_id: OwnedValue,
    project_id: OwnedValue,
    resource_id: OwnedValue,
    metadata: Metadata,
}

impl Share {
    pub fn new(body: &OwnedValue) -> Share {
        let field = |name: &str| body.get(name).cloned().unwrap_or_else(null);
        let metadata = typed_metadata(body, &FIELDS);
        Share {
            id: body.get_str("id").unwrap_or_default().into(),
            status: as_str(field("status")).as_str().map(str::to_owned),
            size: as_int(field("size")),
            user_id: as_str(field("user_id")),
            project_id: as_str(field("project_id")),
            resource_id: as_str(field("id")),
            metadata: Arc::new(OwnedValue::from(metadata)),
        }
    }
}

/// Every project's shares, page by page.
pub async fn shares(manila: &ServiceApi) -> Result<Vec<Share>, String> {
    manila
        .list_versioned("v2", "shares/detail?all_tenants=True", &[], read_page)
        .await
}

/// The shares of one page of Manila's listing, and the next page's URL.
pub fn read_page(reply: &[u8]) -> Result<Page<Share>, String> {
    linked_page(reply, "shares", Share::new)
}

/// `manila.share.size`, `manila.share.status`.
pub struct SharePollster {
    meters: [MeterSpec; 2],
}

impl Default for SharePollster {
    fn default() -> Self {
        SharePollster {
            meters: [
                MeterSpec::new("manila.share.size", "gauge", "GiB"),
                MeterSpec::new("manila.share.status", "gauge", "status"),
            ],
        }
    }
}

impl SharePollster {
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
        let Resource::Share(share) = resource else {
            return Err(PollError::not_listed("manila.share", DISCOVERER, resource.key()));
        };
        for (at, meter) in selected(&self.meters, mask) {
            let volume = if at == 0 {
                if share.size.is_null() {
                    OwnedValue::from(0)
                } else {
                    share.size.clone()
                }
            } else {
                let name = share.metadata.get_str("name").unwrap_or("None");
                OwnedValue::from(status_volume(
                    &STATUS,
                    share.status.as_deref(),
                    &meter.name,
                    name,
                    &share.id,
                ))
            };
            out.push(ctx.sample(
                meter,
                volume,
                share.user_id.clone(),
                share.project_id.clone(),
                share.resource_id.clone(),
                share.metadata.clone(),
                null(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples_of(reply: &str) -> Vec<Sample> {
        let (shares, _) = read_page(reply.as_bytes()).expect("a page");
        let ctx = PollContext::now("src".into());
        let mut out = Vec::new();
        let share = Resource::Share(Arc::new(shares.into_iter().next().expect("a share")));
        SharePollster::default()
            .poll(&share, &[true, true], &ctx, &mut out)
            .expect("polled");
        out
    }

    #[test]
    fn a_share_is_sampled_with_its_size_status_code_and_eight_attributes() {
        let samples = samples_of(
            r#"{"shares": [{"id": "s-1", "project_id": "p-1", "user_id": "u-1", "name": "data",
                "size": 5, "status": "EXTENDING", "share_proto": "NFS", "share_type": "default",
                "share_network_id": null, "availability_zone": "nova", "host": "h@b#p",
                "is_public": false, "metadata": {}, "links": []}],
                "shares_links": [{"rel": "next", "href": "http://m/v2/shares/detail?marker=s-1"}]}"#,
        );
        let by_name = |name: &str| samples.iter().find(|s| &*s.name == name).expect(name);
        let size = by_name("manila.share.size");
        assert_eq!(size.volume, OwnedValue::from(5));
        assert_eq!(&*size.unit, "GiB");
        assert_eq!(size.user_id, OwnedValue::from("u-1"));
        assert_eq!(size.project_id, OwnedValue::from("p-1"));
        assert_eq!(size.resource_id, OwnedValue::from("s-1"));
        let status = by_name("manila.share.status");
        assert_eq!(status.volume, OwnedValue::from(7));
        assert_eq!(&*status.unit, "status");
        let md = &*size.resource_metadata;
        assert_eq!(md.as_object().unwrap().len(), 8);
        assert_eq!(md.get_str("protocol"), Some("NFS"));
        assert!(md.get("share_proto").is_none());
        assert_eq!(md.get_bool("is_public"), Some(false));
        assert!(md.get("metadata").is_none());
    }

    #[test]
    fn no_size_is_zero_and_a_status_ceilometer_does_not_number_is_minus_one() {
        let samples = samples_of(r#"{"shares": [{"id": "s-2", "status": "soft_deleted", "size": null}]}"#);
        assert_eq!(samples[0].volume, OwnedValue::from(0));
        assert!(
            samples[0].user_id.is_null(),
            "no user_id before microversion 2.16"
        );
        assert_eq!(samples[1].volume, OwnedValue::from(-1));
    }

    #[test]
    fn the_attributes_are_typed_as_openstacksdk_types_them() {
        let samples = samples_of(
            r#"{"shares": [{"id": "s-3", "size": "12", "status": null, "name": 7, "is_public": "yes"}]}"#,
        );
        assert_eq!(samples[0].volume, OwnedValue::from(12));
        assert_eq!(samples[1].volume, OwnedValue::from(-1), "no status");
        let md = &*samples[0].resource_metadata;
        assert_eq!(md.get_str("name"), Some("7"));
        assert_eq!(md.get_bool("is_public"), Some(true));
        assert!(md.get("host").is_some_and(|h| h.is_null()));
    }
}
