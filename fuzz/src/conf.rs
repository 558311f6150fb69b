//! The `conf` target: a ceilometer.conf text read as `ceilo run --config-file` reads it —
//! oslo's INI rules and interpolation ([`OsloConfig`]), then mapped onto ceilo's settings
//! ([`CeilometerConf::from_oslo`]) — and every option it sets interpolated, as any of them may be
//! one ceilo reads.

use std::path::Path;

use ceilo::config::ceilometer_conf::CeilometerConf;
use ceilo::config::oslo::OsloConfig;

use crate::rng::Rng;
use crate::targets::{mutate_text, seeds_in, Target};

/// Where the text claims to come from: a directory that does not exist, so that the files the
/// options name (ceilo.yaml beside it, definition files) are never found on this machine.
const PATH: &str = "/nonexistent/ceilo-fuzz/ceilometer.conf";

/// oslo.config syntax and what steers ceilo's reading of it.
const CONF_TOKENS: &[&[u8]] = &[
    b"[DEFAULT]\n",
    b"[notification]\n",
    b"[oslo_messaging_rabbit]\n",
    b"[publisher]\n",
    b"[polling]\n",
    b"[coordination]\n",
    b"[service_credentials]\n",
    b" = ",
    b": ",
    b"\n  ",
    b"\n\t",
    b"\n#",
    b"\n;",
    b"$",
    b"$$",
    b"\\$",
    b"${",
    b"}",
    b"$host",
    b"${DEFAULT.transport_url}",
    b"${notification.workers}",
    b"$transport_url$transport_url",
    b"\"",
    b"'",
    b"[",
    b"]",
    b"transport_url = ",
    b"rabbit://a:b@h1:5672,c:d@h2:5673/v",
    b"amqp://",
    b"workers = ",
    b"batch_size = ",
    b"messaging_urls = ",
    b"rabbit_qos_prefetch_count = ",
    b"heartbeat_timeout_threshold = ",
    b"telemetry_secret = ",
    b"backend_url = redis://h:6379/?timeout=",
    b"auth_type = ",
    b"-1",
    b"0",
    b"18446744073709551616",
    b"1e999",
    b"true",
    b"nan",
];

pub struct Conf {
    seeds: Vec<Vec<u8>>,
    accepted: u64,
}

impl Conf {
    pub(crate) fn new() -> Conf {
        let seeds = seeds_in("conf");
        Conf { seeds, accepted: 0 }
    }
}

impl Target for Conf {
    fn name(&self) -> &'static str {
        "conf"
    }

    fn generate(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        mutate_text(rng, &self.seeds, CONF_TOKENS, out);
    }

    fn run(&mut self, input: &[u8]) {
        let text = String::from_utf8_lossy(input);
        let mut oslo = OsloConfig::default();
        if oslo.parse(Path::new(PATH), &text).is_err() {
            return;
        }
        self.accepted += 1;
        let _ = std::hint::black_box(CeilometerConf::from_oslo(&oslo).map_err(|e| e.to_string()));
        for (group, name) in oslo.set_options() {
            let _ = std::hint::black_box(oslo.get(group, name).map_err(|e| e.to_string()));
            let _ = std::hint::black_box(oslo.get_multi(group, name).map_err(|e| e.to_string()));
        }
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        self.seeds.clone()
    }

    fn accepted(&self) -> u64 {
        self.accepted
    }
}
