//! Glance's pollster, `image.size`, as Ceilometer 27's `ceilometer/image/glance.py` polls it
//! through its `images` discoverer (`ceilometer/image/discovery.py`: openstacksdk's image
//! client, API v2):
//!
//! * Glance's endpoint is the token's catalog entry of type `image` (openstacksdk's; the
//!   discoverer does not read `[service_types] glance`), of `[service_credentials] interface`
//!   in `region_name`, versioned as openstacksdk's discovery versions it (`.../v2`).
//! * `GET <glance>/v2/images` with the agent's Keystone token ([`super::service_api`]), then
//!   each page's `next` link (`/v2/images?marker=...`, relative to Glance's root, as
//!   openstacksdk follows it). What the agent's user may see is what is listed: with the admin
//!   role, every project's images.
//! * A sample per image: a gauge in `B` of its `size` (`null` for an image without data yet,
//!   as Ceilometer sends it), no user, the image's `owner` as project, its `id` as resource,
//!   and the thirteen attributes Ceilometer's pollster copies into the metadata, typed as
//!   openstacksdk types them (`size` an int, `is_protected` the wire's `protected` as a bool,
//!   `tags` a list, `[]` when the reply has none; the others as Glance sent them).
//!
//! As for Cinder, with coordination on an image is placed on the hash ring by its id, where
//! Ceilometer places the `str()` of openstacksdk's object: ceilo and Ceilometer agents must not
//! share a `central` group for the `images` discoverer.

use std::sync::Arc;

use simd_json::prelude::*;

use super::discovery::Resource;
use super::pollster::{null, MeterSpec, PollContext, PollError};
use super::service_api::{as_bool, as_int, as_list, versioned, Page, ServiceApi};
use crate::model::{Metadata, OwnedValue, Sample};

/// The discoverer's name in polling.yaml.
pub const DISCOVERER: &str = "images";

/// One image as Glance listed it: what its sample takes.
#[derive(Debug)]
pub struct Image {
    /// Its key for logs and the partition ring ("" when it has none).
    pub id: Arc<str>,
    size: OwnedValue,
    owner: OwnedValue,
    resource_id: OwnedValue,
    metadata: Metadata,
}

impl Image {
    pub fn new(body: &OwnedValue) -> Image {
        let field = |name: &str| body.get(name).cloned().unwrap_or_else(null);
        let metadata = simd_json::json!({
            "status": field("status"),
            "visibility": field("visibility"),
            "name": field("name"),
            "container_format": field("container_format"),
            "created_at": field("created_at"),
            "disk_format": field("disk_format"),
            "updated_at": field("updated_at"),
            "min_disk": field("min_disk"),
            "is_protected": as_bool(field("protected")),
            "checksum": field("checksum"),
            "min_ram": field("min_ram"),
            "tags": body.get("tags").cloned().map_or_else(|| OwnedValue::Array(Box::default()), as_list),
            "virtual_size": field("virtual_size"),
        });
        Image {
            id: body.get_str("id").unwrap_or_default().into(),
            size: as_int(field("size")),
            owner: field("owner"),
            resource_id: field("id"),
            metadata: Arc::new(metadata),
        }
    }
}

/// Every image the agent's user may see, page by page, from Glance's API (`image` in the
/// catalog).
pub async fn images(glance: &ServiceApi) -> Result<Vec<Image>, String> {
    let versioned = versioned(&glance.endpoint().await?, "v2");
    glance
        .list(format!("{versioned}/images"), &[], |reply| {
            read_page(&versioned, reply)
        })
        .await
}

/// The images of one page of Glance's listing, and the next page's URL: its `next` link, whose
/// version prefix (`/v2`) is replaced by `versioned`, as openstacksdk joins it.
pub fn read_page(versioned: &str, reply: &[u8]) -> Result<Page<Image>, String> {
    let page =
        simd_json::to_owned_value(&mut reply.to_vec()).map_err(|e| format!("the reply is not JSON: {e}"))?;
    let Some(images) = page.get("images").and_then(|i| i.as_array()) else {
        return Err("the reply has no \"images\" list".into());
    };
    let next = page.get_str("next").filter(|n| !n.is_empty()).map(|next| {
        match next
            .strip_prefix("/v")
            .map(|rest| rest.find('/').map_or("", |at| &rest[at..]))
        {
            Some(path) => format!("{versioned}{path}"),
            None if next.starts_with('/') => format!("{versioned}{next}"),
            None => next.to_owned(),
        }
    });
    Ok((images.iter().map(Image::new).collect(), next))
}

/// `image.size`.
pub struct ImagePollster {
    meters: [MeterSpec; 1],
}

impl Default for ImagePollster {
    fn default() -> Self {
        ImagePollster {
            meters: [MeterSpec::new("image.size", "gauge", "B")],
        }
    }
}

impl ImagePollster {
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
        if !mask.first().copied().unwrap_or(false) {
            return Ok(());
        }
        let Resource::Image(image) = resource else {
            return Err(PollError::not_listed("image.size", DISCOVERER, resource.key()));
        };
        out.push(ctx.sample(
            &self.meters[0],
            image.size.clone(),
            null(),
            image.owner.clone(),
            image.resource_id.clone(),
            image.metadata.clone(),
            null(),
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(reply: &str) -> Page<Image> {
        read_page("http://glance:9292/v2", reply.as_bytes()).expect("a page")
    }

    /// The sample of the first of `images`.
    fn sample_of(images: Vec<Image>) -> Sample {
        let ctx = PollContext::now("src".into());
        let mut out = Vec::new();
        let image = Resource::Image(Arc::new(images.into_iter().next().expect("an image")));
        ImagePollster::default()
            .poll(&image, &[true], &ctx, &mut out)
            .expect("polled");
        out.pop().expect("a sample")
    }

    #[test]
    fn an_image_is_sampled_with_openstacksdk_types() {
        let (images, next) = page(
            r#"{"images": [{"id": "i-1", "owner": "p-1", "size": 1024, "virtual_size": null,
                "status": "active", "visibility": "public", "name": "cirros", "protected": false,
                "container_format": "bare", "disk_format": "raw", "min_disk": "2", "min_ram": 0,
                "checksum": "c", "tags": ["a"], "created_at": "2026-12-06T10:00:00Z",
                "updated_at": "2026-12-06T10:00:01Z", "os_hash_algo": "sha512"}],
                "first": "/v2/images", "schema": "/v2/schemas/images"}"#,
        );
        assert_eq!(next, None);
        let s = &sample_of(images);
        assert_eq!(
            (&*s.name, &*s.sample_type, &*s.unit),
            ("image.size", "gauge", "B")
        );
        assert_eq!(s.volume, OwnedValue::from(1024));
        assert!(s.user_id.is_null());
        assert_eq!(s.project_id, OwnedValue::from("p-1"));
        assert_eq!(s.resource_id, OwnedValue::from("i-1"));
        let md = &*s.resource_metadata;
        assert_eq!(md.as_object().unwrap().len(), 13);
        assert_eq!(md.get_str("min_disk"), Some("2"), "untyped: as Glance sent it");
        assert_eq!(md.get("is_protected"), Some(&OwnedValue::from(false)));
        assert!(md.get("virtual_size").unwrap().is_null());
        assert_eq!(md.get_str("created_at"), Some("2026-12-06T10:00:00Z"));
        assert!(md.get("os_hash_algo").is_none());
    }

    #[test]
    fn an_image_without_data_or_tags_has_null_size_and_no_tags() {
        let (images, _) = page(r#"{"images": [{"id": "i-2", "status": "queued", "size": null}]}"#);
        let s = sample_of(images);
        assert!(s.volume.is_null());
        assert!(s.project_id.is_null());
        let md = &*s.resource_metadata;
        assert_eq!(md.get("tags"), Some(&OwnedValue::Array(Box::default())));
        assert!(md.get("name").unwrap().is_null());
    }

    #[test]
    fn the_next_link_is_joined_under_the_versioned_endpoint() {
        let next = |link: &str| page(&format!(r#"{{"images": [], "next": "{link}"}}"#)).1;
        assert_eq!(
            next("/v2/images?marker=i-1"),
            Some("http://glance:9292/v2/images?marker=i-1".into())
        );
        assert_eq!(
            next("http://other/v2/images?marker=i-1"),
            Some("http://other/v2/images?marker=i-1".into())
        );
        assert_eq!(page(r#"{"images": []}"#).1, None);
        assert!(read_page("x", b"{}").unwrap_err().contains("no \"images\" list"));
    }
}
