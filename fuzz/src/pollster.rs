//! The `pollster` target: a dynamic pollster definition file (pollsters.d) and an API response,
//! `DEFINITIONS` then a line `%%%` then `BODY`: the definitions loaded as the polling agent loads
//! them, and the body through each definition's response handlers and extraction into samples
//! (`DynamicDefinition::handle`, `extract`), as a poll does with what the API answered; the
//! body also as each OpenStack service's reply into its pollsters' samples: Cinder's listings
//! (`cinder::read_page`, `CinderPollster::poll`), Glance's images (`glance::read_page`,
//! `ImagePollster::poll`), Neutron's floating IPs (`neutron::read_page`,
//! `FloatingIpPollster::poll`) and VPNaaS and FWaaS records (`network_services::read_page`,
//! `ServicePollster::poll`), Octavia's load balancers (`octavia::read_page`,
//! `LoadBalancerPollster::poll`), Manila's shares (`manila::read_page`, `SharePollster::poll`),
//! Designate's zones (`designate::read_page`, `ZonePollster::poll` of every meter but the
//! recordsets, which asks Designate), a Swift account's containers (`swift::read_listing`),
//! Aodh's evaluation results (`aodh::read_metrics`, `EvaluationResultPollster::poll`); and the
//! body as what `ipmitool` printed, into each IPMI pollster's samples (`ipmi::read_records`,
//! `IpmiPollster::samples`). Nothing is requested, and neither a `host_command` nor `ipmitool`
//! is run.

use std::path::Path;

use std::sync::Arc;

use ceilo::polling::aodh::{self, EvaluationResultPollster};
use ceilo::polling::cinder::{read_page, CinderPollster, Listing, Meter};
use ceilo::polling::designate::{self, ZonePollster};
use ceilo::polling::discovery::Resource;
use ceilo::polling::dynamic::DynamicDefinition;
use ceilo::polling::glance::{self, ImagePollster};
use ceilo::polling::ipmi::{self, IpmiPollster};
use ceilo::polling::manila::{self, SharePollster};
use ceilo::polling::network_services::{self, ServicePollster};
use ceilo::polling::neutron::{self, FloatingIpPollster};
use ceilo::polling::octavia::{self, LoadBalancerPollster};
use ceilo::polling::pollster::PollContext;
use ceilo::polling::service_api::ServiceApi;
use ceilo::polling::swift;

use crate::mutate::{self, JSON_TOKENS};
use crate::rng::Rng;
use crate::targets::{mutate_lines, seeds_in, Target, YAML_TOKENS};

const SEPARATOR: &[u8] = b"\n%%%\n";

/// `(definitions, body)`; without a separator, all of it is the definitions.
fn split(input: &[u8]) -> (&[u8], &[u8]) {
    match input.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        Some(at) => (&input[..at], &input[at + SEPARATOR.len()..]),
        None => (input, b""),
    }
}

pub struct Pollster {
    seeds: Vec<Vec<u8>>,
    ctx: PollContext,
    zones: ZonePollster,
    /// Runs Designate's pollster, whose `poll` is async (it asks for recordsets).
    runtime: tokio::runtime::Runtime,
    accepted: u64,
}

impl Pollster {
    pub(crate) fn new() -> Pollster {
        let seeds = seeds_in("pollsters");
        Pollster {
            seeds,
            ctx: PollContext::now("fuzz".into()),
            zones: ZonePollster::new(Arc::new(ServiceApi::new(
                "Designate",
                Err("fuzzing".into()),
                vec!["dns".into()],
            ))),
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime"),
            accepted: 0,
        }
    }
}

impl Target for Pollster {
    fn name(&self) -> &'static str {
        "pollster"
    }

    fn generate(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        let (seed, other) = (rng.pick::<Vec<u8>>(&self.seeds), rng.pick::<Vec<u8>>(&self.seeds));
        let (definitions, body) = split(seed);
        let (mut definitions, mut body) = (definitions.to_vec(), body.to_vec());
        let (other_definitions, other_body) = split(other);
        for _ in 0..1 + rng.small(5) {
            match rng.below(3) {
                0 => mutate_lines(rng, &mut definitions, other_definitions),
                1 => mutate::havoc(rng, &mut definitions, YAML_TOKENS, other_definitions),
                _ => mutate::havoc(rng, &mut body, JSON_TOKENS, other_body),
            }
        }
        out.clear();
        out.extend_from_slice(&definitions);
        out.extend_from_slice(SEPARATOR);
        out.extend_from_slice(&body);
        out.truncate(mutate::MAX_INPUT);
    }

    fn run(&mut self, input: &[u8]) {
        let (definitions, body) = split(input);
        for listing in Listing::ALL {
            let Ok((records, _)) = read_page(listing, body) else {
                continue;
            };
            let pollsters: Vec<CinderPollster> = Meter::ALL
                .into_iter()
                .filter(|m| m.listing() == listing)
                .map(CinderPollster::new)
                .collect();
            let mut samples = Vec::new();
            for record in records {
                let resource = Resource::Cinder(Arc::new(record));
                for pollster in &pollsters {
                    let _ = pollster.poll(&resource, &[true], &self.ctx, &mut samples);
                }
            }
            std::hint::black_box(samples);
        }
        if let Ok((images, next)) = glance::read_page("http://glance/v2", body) {
            let mut samples = Vec::new();
            for image in images {
                let resource = Resource::Image(Arc::new(image));
                let _ = ImagePollster::default().poll(&resource, &[true], &self.ctx, &mut samples);
            }
            std::hint::black_box((samples, next));
        }
        if let Ok((ips, next)) = neutron::read_page(body) {
            let mut samples = Vec::new();
            for ip in ips {
                let resource = Resource::FloatingIp(Arc::new(ip));
                let _ = FloatingIpPollster::default().poll(&resource, &[true], &self.ctx, &mut samples);
            }
            std::hint::black_box((samples, next));
        }
        if let Ok((lbs, next)) = octavia::read_page(body) {
            let mut samples = Vec::new();
            for lb in lbs {
                let resource = Resource::LoadBalancer(Arc::new(lb));
                let _ =
                    LoadBalancerPollster::default().poll(&resource, &[true, true], &self.ctx, &mut samples);
            }
            std::hint::black_box((samples, next));
        }
        for service in network_services::Service::ALL {
            if let Ok((records, next)) = network_services::read_page(service, body) {
                let mut samples = Vec::new();
                for record in records {
                    let resource = Resource::NetworkService(Arc::new(record));
                    let _ = ServicePollster::new(service).poll(&resource, &[true], &self.ctx, &mut samples);
                }
                std::hint::black_box((samples, next));
            }
        }
        if let Ok((shares, next)) = manila::read_page(body) {
            let mut samples = Vec::new();
            for share in shares {
                let resource = Resource::Share(Arc::new(share));
                let _ = SharePollster::default().poll(&resource, &[true, true], &self.ctx, &mut samples);
            }
            std::hint::black_box((samples, next));
        }
        if let Ok((zones, next)) = designate::read_page(body, "zones", designate::Zone::new) {
            let mut samples = Vec::new();
            for zone in zones {
                let resource = Resource::Zone(Arc::new(zone));
                let poll = self
                    .zones
                    .poll(&resource, &[true, false, true, true], &self.ctx, &mut samples);
                let _ = self.runtime.block_on(poll);
            }
            std::hint::black_box((samples, next));
        }
        let _ = std::hint::black_box(swift::read_listing(body));
        if let Ok(results) = aodh::read_metrics(body) {
            let mut samples = Vec::new();
            let resource = Resource::AlarmResults(Arc::new(results));
            let _ = EvaluationResultPollster::default().poll(&resource, &[true], &self.ctx, &mut samples);
            std::hint::black_box(samples);
        }
        if let Ok(records) = ipmi::read_records(&String::from_utf8_lossy(body)) {
            let mut samples = Vec::new();
            for sensor in ipmi::Sensor::ALL {
                IpmiPollster::new(sensor, Arc::default(), 3).samples(
                    &records,
                    "fuzz-node",
                    &self.ctx,
                    &mut samples,
                );
            }
            std::hint::black_box(samples);
        }
        let text = String::from_utf8_lossy(definitions);
        let Ok(definitions) = DynamicDefinition::parse_file(&text, Path::new("fuzz.yaml")) else {
            return;
        };
        self.accepted += 1;
        for d in &definitions {
            if let Ok(response) = d.handle(body) {
                let _ = std::hint::black_box(d.extract(response, &self.ctx));
            }
        }
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        self.seeds.clone()
    }

    fn accepted(&self) -> u64 {
        self.accepted
    }
}
