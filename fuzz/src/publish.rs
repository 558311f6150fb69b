//! The `publish` target: an AMQP body converted as the `convert` target converts it, then its
//! samples and events through the encoding of every publisher besides `notifier://` (which the
//! `convert` target covers; `zaqar://`'s included): what each `Output::prepare` does before anything goes on the
//! network, and the Gnocchi publisher's grouping per resource (the shipped
//! gnocchi_resources.yaml's attributes, jsonpath over each sample), which runs in its write.
//!
//! A panic there would not kill the agent (encoders and writes are caught), but the flush's
//! deliveries would be requeued, redelivered and panic again for as long as the agent runs: a
//! poison message, as a converter panic once was.

use std::collections::HashSet;

use ceilo::convert::Converter;
use ceilo::model::envelope::Decoder;
use ceilo::model::{Event, OwnedValue, Payload, Sample};
use ceilo::publish::file::FileOutput;
use ceilo::publish::gnocchi::batch::{self, ProjectFilter};
use ceilo::publish::gnocchi::resources::Resources;
use ceilo::publish::http::HttpOutput;
use ceilo::publish::prometheus::PrometheusOutput;
use ceilo::publish::zaqar::ZaqarOutput;
use ceilo::publish::{otlp, tcp, udp, Items, PublisherUrl};

use crate::rng::Rng;
use crate::targets::{config_dir, shipped_converter, Bodies, Target};

const SECRET: &[u8] = b"change this for valid signing";

/// Every encoding a flush goes through, built once as the agent builds its publishers.
struct Encoders {
    http_samples: Vec<HttpOutput>,
    http_events: Vec<HttpOutput>,
    prometheus: Vec<PrometheusOutput>,
    /// A samples' and an events' `zaqar://` (no Keystone is asked: only the encoding is run).
    zaqar: [ZaqarOutput; 2],
    gnocchi: Resources,
    /// The Gnocchi publisher's meters without a resource definition (warned about once each).
    warned: HashSet<String>,
}

fn http_target(url: &str) -> ceilo::publish::url::HttpTarget {
    match PublisherUrl::parse(url) {
        Ok(PublisherUrl::Http(t) | PublisherUrl::Prometheus(t)) => t,
        other => panic!("{url}: {other:?}"),
    }
}

impl Encoders {
    fn new() -> Encoders {
        // Nothing listens there: only the encoding is run.
        let http = ["http://127.0.0.1:9/c", "http://127.0.0.1:9/c?batch=false"];
        let events = [
            "http://127.0.0.1:9/c",
            "http://127.0.0.1:9/c?batch=false&raw_only=true",
        ];
        let prometheus = [
            "prometheus://127.0.0.1:9/metrics/job/ceilo",
            "prometheus://127.0.0.1:9/metrics/job/ceilo/instance/fuzz",
        ];
        let (gnocchi, _skipped) = Resources::load(&config_dir(), "gnocchi_resources.yaml", None)
            .expect("shipped gnocchi_resources.yaml");
        Encoders {
            http_samples: http
                .iter()
                .map(|u| HttpOutput::new(&http_target(u), Payload::Samples, None).expect(u))
                .collect(),
            http_events: events
                .iter()
                .map(|u| HttpOutput::new(&http_target(u), Payload::Events, None).expect(u))
                .collect(),
            prometheus: prometheus
                .iter()
                .map(|u| PrometheusOutput::new(&http_target(u), None).expect(u))
                .collect(),
            zaqar: [Payload::Samples, Payload::Events].map(|carries| {
                let target = ceilo::publish::url::ZaqarTarget {
                    queue: "fuzz".into(),
                    ttl: 60,
                };
                let credentials = ceilo::keystone::KeystoneSettings {
                    auth_url: "http://127.0.0.1:9".into(),
                    username: Some("fuzz".into()),
                    password: "fuzz".into(),
                    user_domain_name: Some("Default".into()),
                    project_name: Some("fuzz".into()),
                    project_domain_id: Some("default".into()),
                    ..Default::default()
                };
                ZaqarOutput::new(&target, carries, &credentials, None).expect("a zaqar output")
            }),
            gnocchi,
            warned: HashSet::new(),
        }
    }

    fn encode(&mut self, samples: Vec<Sample>, events: Vec<Event>) {
        let mut datagram_bytes = 0;
        let mut frames = Vec::new();
        for s in &samples {
            datagram_bytes += udp::datagram(s, SECRET).len();
            tcp::write_frame(&mut frames, s, SECRET, "fuzz-host");
        }
        std::hint::black_box((datagram_bytes, &frames));
        std::hint::black_box(otlp::encode(&samples));
        for p in &self.prometheus {
            std::hint::black_box(p.encode(&samples));
        }
        // The project the filter drops: the first sample's, so that it drops some.
        let project = match samples.first().map(|s| &s.project_id) {
            Some(OwnedValue::String(p)) => p.clone(),
            _ => String::new(),
        };
        let filter = ProjectFilter { project_id: &project };
        for filter in [None, Some(&filter)] {
            let grouped = batch::group(&samples, &self.gnocchi, filter, &mut self.warned);
            for id in grouped.resources.keys() {
                std::hint::black_box(batch::path_segment(id));
            }
        }
        let items = Items {
            samples,
            events,
            dead: Vec::new(),
        };
        for json in [false, true] {
            std::hint::black_box(FileOutput::encode(&items, json));
        }
        for h in self.http_samples.iter().chain(&self.http_events) {
            std::hint::black_box(h.encode(&items));
        }
        for z in &self.zaqar {
            std::hint::black_box(z.encode(&items));
        }
    }
}

pub struct Publish {
    bodies: Bodies,
    converter: Converter,
    decoder: Decoder,
    encoders: Encoders,
    accepted: u64,
}

impl Publish {
    pub(crate) fn new() -> Publish {
        Publish {
            bodies: Bodies::load(),
            converter: shipped_converter(),
            decoder: Decoder::new(),
            encoders: Encoders::new(),
            accepted: 0,
        }
    }
}

impl Target for Publish {
    fn name(&self) -> &'static str {
        "publish"
    }

    fn generate(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        self.bodies.generate(rng, out);
    }

    fn run(&mut self, input: &[u8]) {
        let Ok(c) = self.converter.convert(&mut self.decoder, input) else {
            return;
        };
        if c.samples.is_empty() && c.events.is_empty() {
            return;
        }
        self.accepted += 1;
        // The dropped samples are not published (the `convert` target writes them).
        self.encoders.encode(c.samples, c.events);
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        self.bodies.raws()
    }

    fn accepted(&self) -> u64 {
        self.accepted
    }
}
