//! tooz's consistent hash ring (`tooz/hashring.py`), point for point, so that ceilo and
//! Ceilometer agents in one group agree on who owns each resource.
//!
//! A member of weight `w` gets `32 * w` points: the MD5 digests of its name repeated 2, 3, ...
//! `32 * w + 1` times (tooz seeds one MD5 with the name, then updates it with the name again
//! before taking each point), read as
//! big-endian 128-bit integers. An object belongs to the member of the first point strictly
//! above the MD5 of the object's bytes (Python's `bisect.bisect`), wrapping to the lowest
//! point. Only one replica is asked for (Ceilometer's `belongs_to_self`), so the owner is that
//! one point's member.
//!
//! It holds no membership logic: the group's live members come from [`super::tooz_redis`].

use std::collections::BTreeMap;

use md5::{Digest, Md5};

/// tooz's `HashRing.DEFAULT_PARTITION_NUMBER`: points per unit of weight.
pub const POINTS_PER_WEIGHT: u32 = 32;

/// The ring of one group's members.
#[derive(Debug, Clone, Default)]
pub struct HashRing {
    /// Point → member name. A later member overwrites an equal point, as tooz's dict does
    /// (an MD5 collision, never seen in practice).
    points: BTreeMap<u128, String>,
}

impl HashRing {
    /// A ring of `(member, weight)` pairs.
    pub fn new<'a>(members: impl IntoIterator<Item = (&'a str, u32)>) -> Self {
        let mut ring = Self::default();
        for (member, weight) in members {
            ring.add(member, weight);
        }
        ring
    }

    /// tooz's `add_node(member, weight)`.
    pub fn add(&mut self, member: &str, weight: u32) {
        let mut hash = Md5::new_with_prefix(member.as_bytes());
        for _ in 0..POINTS_PER_WEIGHT.saturating_mul(weight) {
            hash.update(member.as_bytes());
            self.points
                .insert(as_int(hash.clone().finalize().into()), member.to_owned());
        }
    }

    /// How many points the ring has (tooz's `len(ring)`).
    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The ring's points in order (for tests against tooz's own).
    pub fn points(&self) -> impl Iterator<Item = u128> + '_ {
        self.points.keys().copied()
    }

    /// The member that owns `object` (tooz: `get_nodes(object, replicas=1)`), `None` on an
    /// empty ring.
    pub fn owner(&self, object: &[u8]) -> Option<&str> {
        let key = as_int(Md5::digest(object).into());
        // bisect_right: the first point strictly greater than the key, else the first point.
        let (_, member) = self
            .points
            .range((std::ops::Bound::Excluded(key), std::ops::Bound::Unbounded))
            .next()
            .or_else(|| self.points.iter().next())?;
        Some(member)
    }
}

fn as_int(digest: [u8; 16]) -> u128 {
    u128::from_be_bytes(digest)
}

#[cfg(test)]
mod tests {
    //! Expected values come from tooz itself: `tests/fixtures/coordination/tooz.json`, written
    //! by `VENV/bin/python scripts/tooz-fixture.py > tests/fixtures/coordination/tooz.json`
    //! with the Ceilometer 27 venv (tooz 9.1).
    use super::*;

    fn fixture() -> serde_json::Value {
        serde_json::from_str(include_str!("../../tests/fixtures/coordination/tooz.json")).unwrap()
    }

    #[test]
    fn ring_points_are_toozs() {
        let f = fixture();
        let rp = &f["ring_points"];
        let ring = HashRing::new([(rp["node"].as_str().unwrap(), 1)]);
        assert_eq!(ring.len() as u64, rp["count"].as_u64().unwrap());
        let mut ours: Vec<String> = ring.points().map(|p| p.to_string()).collect();
        ours.sort();
        let theirs: Vec<String> = rp["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn owners_are_toozs_for_every_member_set_and_weight() {
        let f = fixture();
        let cases = f["cases"].as_array().unwrap();
        assert!(cases.len() >= 8);
        let mut checked = 0;
        for case in cases {
            let members: Vec<(String, u32)> = case["members"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(m, w)| (m.clone(), w.as_u64().unwrap() as u32))
                .collect();
            let ring = HashRing::new(members.iter().map(|(m, w)| (m.as_str(), *w)));
            for (object, owner) in case["owners"].as_object().unwrap() {
                assert_eq!(
                    ring.owner(object.as_bytes()),
                    owner.as_str(),
                    "members {members:?}, object {object:?}"
                );
                checked += 1;
            }
        }
        assert!(checked > 400, "{checked}");
    }

    #[test]
    fn an_empty_ring_owns_nothing() {
        assert_eq!(HashRing::default().owner(b"x"), None);
    }
}
