//! What is fuzzed: each target owns its seeds, makes input number N of a run from them
//! ([`Target::generate`], a pure function of the RNG) and feeds one input to ceilo's code
//! exactly as the agent does ([`Target::run`]).
//!
//! * `envelope`: an AMQP body into [`Decoder::decode`] (one decoder reused, as a worker does).
//! * `convert`: an AMQP body through [`Converter::convert`] with the shipped meters.d and
//!   event_definitions.yaml (and an output limit of [`MAX_OUTPUT_BYTES`]), then the samples
//!   and events written and signed as the `notifier://` publisher writes them, and the
//!   dead-letter reason formatted on failure.
//! * `publish`: the same bodies converted, then through every other publisher's encoding
//!   (`crate::publish`).
//! * `jsonpath`: `EXPR\nBODY`: the expression compiled, the body decoded, the expression
//!   evaluated on the notification (what a definition's field does).
//! * `yaml`: one text through every YAML loader (meter definitions, event definitions,
//!   pipeline.yaml as both kinds, polling.yaml, ceilo.yaml, gnocchi_resources.yaml);
//!   definitions that compile then convert a few corpus bodies.
//! * `conf`: a ceilometer.conf text read and mapped as `--config-file` reads it (`crate::conf`).
//! * `pollster`: a dynamic pollster definition file and an API response (`crate::pollster`).

use std::path::{Path, PathBuf};

use ceilo::config::Settings;
use ceilo::convert::{ConvertError, Converter};
use ceilo::event::message::write_event_message_list;
use ceilo::event::EventDefinitions;
use ceilo::jsonpath::JsonPath;
use ceilo::meter::MeterDefinitions;
use ceilo::model::envelope::Decoder;
use ceilo::model::meter_message::write_meter_message_list;
use ceilo::model::signature::Signer;
use ceilo::model::Payload;
use ceilo::pipeline::Pipeline;
use ceilo::polling::PollingConfig;
use ceilo::publish::gnocchi::resources::Resources;

use crate::mutate::{self, Harvest, JSON_TOKENS};
use crate::rng::Rng;
use crate::tree::J;

/// The names `--target` accepts, in the order a full run visits them.
pub const NAMES: &[&str] = &[
    "envelope", "convert", "publish", "jsonpath", "yaml", "conf", "pollster",
];

pub trait Target {
    fn name(&self) -> &'static str;
    /// Input number N of a run: a pure function of `rng` (seeded from the run's seed and N).
    fn generate(&self, rng: &mut Rng, out: &mut Vec<u8>);
    /// Feed one input to ceilo. Any panic, abort, hang or runaway allocation is a finding.
    fn run(&mut self, input: &[u8]);
    /// The unmutated seeds, as inputs (the corpus replay runs each).
    fn seeds(&self) -> Vec<Vec<u8>>;
    /// How many inputs so far got past the first parser (decoded, compiled, loaded): the
    /// share of inputs that reach the deeper code.
    fn accepted(&self) -> u64;
    /// How many inputs so far the converter refused for making too much output (over
    /// [`MAX_OUTPUT_BYTES`]); only the targets that convert count them.
    fn over_output_limit(&self) -> u64 {
        0
    }
}

/// The fuzz crate's directory (the corpus lives in `corpus/`).
pub fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// ceilo's shipped config directory.
pub fn config_dir() -> PathBuf {
    fuzz_dir().join("../config")
}

/// Every regular file under `dir`, sorted (missing directory: none).
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_in(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file of `corpus/<dir>`, read: a target's seeds.
pub(crate) fn seeds_in(dir: &str) -> Vec<Vec<u8>> {
    let seeds: Vec<Vec<u8>> = files_in(&fuzz_dir().join("corpus").join(dir))
        .iter()
        .map(|p| read(p))
        .collect();
    assert!(!seeds.is_empty(), "no seeds in corpus/{dir}");
    seeds
}

/// Build the named target from the committed corpus.
pub fn build(name: &str) -> Option<Box<dyn Target>> {
    Some(match name {
        "envelope" => Box::new(Envelope {
            bodies: Bodies::load(),
            decoder: Decoder::new(),
            buf: Vec::new(),
            accepted: 0,
        }),
        "convert" => Box::new(Convert::new()),
        "publish" => Box::new(crate::publish::Publish::new()),
        "jsonpath" => Box::new(JsonPathTarget::new()),
        "yaml" => Box::new(Yaml::new()),
        "conf" => Box::new(crate::conf::Conf::new()),
        "pollster" => Box::new(crate::pollster::Pollster::new()),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// AMQP bodies: the envelope and convert targets' seeds and mutations.

/// One seed body: the outer document and, for a 2.0 envelope, the inner message as a tree.
struct BodySeed {
    raw: Vec<u8>,
    outer: J,
    inner: Option<J>,
}

pub struct Bodies {
    seeds: Vec<BodySeed>,
    donors: Vec<J>,
    harvest: Harvest,
}

impl Bodies {
    /// `corpus/bodies/*`: every file is one AMQP body (not necessarily valid JSON).
    pub fn load() -> Bodies {
        let mut seeds = Vec::new();
        let mut donors = Vec::new();
        let mut harvest = Harvest::default();
        for path in files_in(&fuzz_dir().join("corpus/bodies")) {
            let raw = read(&path);
            let value: Option<serde_json::Value> = serde_json::from_slice(&raw).ok();
            let outer = value.as_ref().map_or_else(|| J::Raw(raw.clone()), J::from_value);
            let inner = value
                .as_ref()
                .and_then(|v| v.get("oslo.message"))
                .and_then(|m| m.as_str())
                .and_then(|m| J::parse(m.as_bytes()));
            harvest.add(&outer);
            if let Some(i) = &inner {
                harvest.add(i);
                donors.push(i.clone());
            }
            donors.push(outer.clone());
            seeds.push(BodySeed { raw, outer, inner });
        }
        assert!(!seeds.is_empty(), "no seed bodies in corpus/bodies");
        harvest.dedup();
        Bodies {
            seeds,
            donors,
            harvest,
        }
    }

    pub fn generate(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        let seed = rng.pick(&self.seeds);
        let other = &rng.pick(&self.seeds).raw;
        // Half the inputs stay valid JSON, so they reach conversion; half may be anything.
        let valid = rng.one_in(2);
        out.clear();
        if !valid && rng.one_in(4) {
            // Bytes only: cheap, and finds what a tree never writes.
            out.extend_from_slice(&seed.raw);
            for _ in 0..1 + rng.small(15) {
                mutate::havoc(rng, out, JSON_TOKENS, other);
            }
            return;
        }
        let mut outer = seed.outer.clone();
        let mut inner = seed.inner.clone();
        // The 1.0 form: the message dict itself is the body.
        if rng.one_in(8) {
            if let Some(i) = inner.take() {
                outer = i;
            }
        }
        for _ in 0..1 + rng.small(if valid { 3 } else { 7 }) {
            match &mut inner {
                Some(i) if !rng.one_in(4) => mutate::mutate_tree(rng, i, &self.donors, &self.harvest, valid),
                _ => mutate::mutate_tree(rng, &mut outer, &self.donors, &self.harvest, valid),
            }
        }
        if let Some(inner) = inner {
            let mut text = inner.to_bytes();
            if !valid && rng.one_in(3) {
                for _ in 0..1 + rng.small(3) {
                    mutate::havoc(rng, &mut text, JSON_TOKENS, other);
                }
            }
            if let Some(slot @ J::Str(_)) = outer.get_mut(b"oslo.message") {
                *slot = J::Str(mutate::as_json_string_content(&text));
            }
        }
        outer.write(out);
        if !valid && rng.one_in(3) {
            for _ in 0..1 + rng.small(3) {
                mutate::havoc(rng, out, JSON_TOKENS, other);
            }
        }
        out.truncate(mutate::MAX_INPUT);
    }

    pub fn raws(&self) -> Vec<Vec<u8>> {
        self.seeds.iter().map(|s| s.raw.clone()).collect()
    }
}

// ---------------------------------------------------------------------------------------------

pub struct Envelope {
    bodies: Bodies,
    decoder: Decoder,
    buf: Vec<u8>,
    accepted: u64,
}

impl Target for Envelope {
    fn name(&self) -> &'static str {
        "envelope"
    }

    fn generate(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        self.bodies.generate(rng, out);
    }

    fn run(&mut self, input: &[u8]) {
        self.buf.clear();
        self.buf.extend_from_slice(input);
        if let Ok(n) = self.decoder.decode(&self.buf) {
            std::hint::black_box(&n);
            self.accepted += 1;
        }
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        self.bodies.raws()
    }

    fn accepted(&self) -> u64 {
        self.accepted
    }
}

// ---------------------------------------------------------------------------------------------

/// The converters' `notification.max_output_bytes`: 4 MiB, so that what one input may write
/// stays well inside its allocation budget ([`crate::guard::alloc_budget`]) while the limit
/// itself is what refuses the amplifying inputs (the agent's default is 16 MiB).
pub const MAX_OUTPUT_BYTES: usize = 4 << 20;

/// The shipped definitions, compiled once.
pub fn shipped_converter() -> Converter {
    let config = config_dir();
    let (converter, _) = Converter::load(&config.join("meters.d")).expect("shipped meters.d");
    let events = EventDefinitions::load(config.join("event_definitions.yaml")).expect("shipped events");
    converter
        .with_events(events)
        .with_max_output_bytes(MAX_OUTPUT_BYTES)
}

/// What the agent does with one body: convert it, then write and sign the samples and events
/// as the `notifier://` publisher does (and the dropped samples, as `ceilo convert` does), or
/// format the dead-letter reason.
fn convert_and_publish(
    converter: &Converter,
    decoder: &mut Decoder,
    body: &mut [u8],
    out: &mut Vec<u8>,
    signer: &mut Signer,
) -> Outcome {
    out.clear();
    match converter.convert(decoder, body) {
        Ok(c) => {
            write_meter_message_list(out, &c.samples, signer);
            write_meter_message_list(out, &c.dropped_samples, signer);
            write_event_message_list(out, &c.events, signer);
            for d in &c.dropped_events {
                out.extend_from_slice(d.to_string().as_bytes());
            }
            Outcome {
                produced: !(c.samples.is_empty() && c.events.is_empty()),
                over_output_limit: false,
            }
        }
        Err(e) => {
            out.extend_from_slice(e.to_string().as_bytes());
            Outcome {
                produced: false,
                over_output_limit: matches!(e, ConvertError::Output(_)),
            }
        }
    }
}

struct Outcome {
    /// Samples or events came out.
    produced: bool,
    /// The converter refused the input's output as over [`MAX_OUTPUT_BYTES`].
    over_output_limit: bool,
}

pub struct Convert {
    bodies: Bodies,
    converter: Converter,
    decoder: Decoder,
    signer: Signer,
    buf: Vec<u8>,
    out: Vec<u8>,
    accepted: u64,
    over_output_limit: u64,
}

impl Convert {
    fn new() -> Convert {
        Convert {
            bodies: Bodies::load(),
            converter: shipped_converter(),
            decoder: Decoder::new(),
            signer: Signer::new(b"change this for valid signing"),
            buf: Vec::new(),
            out: Vec::new(),
            accepted: 0,
            over_output_limit: 0,
        }
    }
}

impl Target for Convert {
    fn name(&self) -> &'static str {
        "convert"
    }

    fn generate(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        self.bodies.generate(rng, out);
    }

    fn run(&mut self, input: &[u8]) {
        self.buf.clear();
        self.buf.extend_from_slice(input);
        let (converter, decoder, signer) = (&self.converter, &mut self.decoder, &mut self.signer);
        let outcome = convert_and_publish(converter, decoder, &mut self.buf, &mut self.out, signer);
        self.accepted += u64::from(outcome.produced);
        self.over_output_limit += u64::from(outcome.over_output_limit);
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        self.bodies.raws()
    }

    fn accepted(&self) -> u64 {
        self.accepted
    }

    fn over_output_limit(&self) -> u64 {
        self.over_output_limit
    }
}

// ---------------------------------------------------------------------------------------------

/// jsonpath-rw(-ext) tokens and shapes.
const JSONPATH_TOKENS: &[&[u8]] = &[
    b"$",
    b"@",
    b"`this`",
    b".",
    b"..",
    b"*",
    b"[*]",
    b".[*]",
    b"[0]",
    b"[-1]",
    b"[1:2]",
    b"[:-1]",
    b"[::2]",
    b"[99999999999999999999]",
    b"|",
    b" where ",
    b" wherenot ",
    b"(",
    b")",
    b"&",
    b"+",
    b"-",
    b"*",
    b"/",
    b"~",
    b"=",
    b"==",
    b"!=",
    b"<",
    b">=",
    b"[?(@.a='x')]",
    b"[?a=b & c>1]",
    b"[?a ~ '(a+)+$']",
    b"[?key=image_id]",
    b"[/a,\\b]",
    b"`len`",
    b"`sorted`",
    b"`parent`",
    b"`split(#, 0, 1)`",
    b"`split(., -1, 99)`",
    b"`sub(/(.*)/, \\\\1\\\\2)`",
    b"`sub(/[/, x)`",
    b"`str()`",
    b"'quoted name'",
    b"\"dq\"",
    b"'",
    b"\"",
    b"`",
    b"\\",
    b"payload",
    b"ctxt",
    b"metadata",
    b"\xc3\xa9",
    b"\x00",
    b"1e999",
    b"-0",
    b" ",
    b"\n",
];

pub struct JsonPathTarget {
    exprs: Vec<Vec<u8>>,
    bodies: Bodies,
    decoder: Decoder,
    buf: Vec<u8>,
    accepted: u64,
}

impl JsonPathTarget {
    fn new() -> JsonPathTarget {
        let text = read(&fuzz_dir().join("corpus/jsonpath/exprs.txt"));
        let exprs: Vec<Vec<u8>> = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        assert!(!exprs.is_empty(), "no expressions in corpus/jsonpath/exprs.txt");
        JsonPathTarget {
            exprs,
            bodies: Bodies::load(),
            decoder: Decoder::new(),
            buf: Vec::new(),
            accepted: 0,
        }
    }

    fn mutate_expr(&self, rng: &mut Rng, expr: &mut Vec<u8>) {
        let other = rng.pick(&self.exprs);
        match rng.below(8) {
            // Deep grouping and long chains: recursion in the parser and evaluator.
            0 => {
                let n = *rng.pick(&[16usize, 64, 200, 1000, 5000, 20_000]);
                let (open, close): (&[u8], &[u8]) = *rng.pick(&[
                    (&b"("[..], &b")"[..]),
                    (b"[?(", b")]"),
                    (b"`sub(/a/, b)`.(", b")"),
                ]);
                let mut wrapped = open.repeat(n);
                wrapped.extend_from_slice(expr);
                wrapped.extend_from_slice(&close.repeat(n));
                *expr = wrapped;
            }
            1 => {
                let unit = *rng.pick(&[
                    &b".a"[..],
                    b"..a",
                    b"|a",
                    b"+1",
                    b"[0]",
                    b".`len`",
                    b"[*]",
                    b" where a",
                    b"-a",
                ]);
                let n = *rng.pick(&[8usize, 64, 500, 5000]);
                expr.extend_from_slice(&unit.repeat(n));
            }
            // Union of two expressions, as `fields: [a, b]` compiles.
            2 => {
                let mut u = b"(".to_vec();
                u.extend_from_slice(expr);
                u.extend_from_slice(b")|(");
                u.extend_from_slice(other);
                u.push(b')');
                *expr = u;
            }
            _ => mutate::havoc(rng, expr, JSONPATH_TOKENS, other),
        }
        expr.retain(|&b| b != b'\n');
    }
}

impl Target for JsonPathTarget {
    fn name(&self) -> &'static str {
        "jsonpath"
    }

    fn generate(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        let mut expr = rng.pick(&self.exprs).clone();
        let mutate_body = rng.one_in(3);
        if !mutate_body || rng.one_in(2) {
            for _ in 0..1 + rng.small(5) {
                self.mutate_expr(rng, &mut expr);
            }
        }
        let mut body = Vec::new();
        if mutate_body {
            self.bodies.generate(rng, &mut body);
        } else {
            body.extend_from_slice(&rng.pick(&self.bodies.seeds).raw);
        }
        out.clear();
        out.extend_from_slice(&expr);
        out.push(b'\n');
        out.extend_from_slice(&body);
        out.truncate(mutate::MAX_INPUT);
    }

    fn run(&mut self, input: &[u8]) {
        let (expr, body) = match input.iter().position(|&b| b == b'\n') {
            Some(i) => (&input[..i], &input[i + 1..]),
            None => (input, &b"{}"[..]),
        };
        let expr = String::from_utf8_lossy(expr);
        let Ok(path) = JsonPath::compile(&expr) else {
            return;
        };
        self.accepted += 1;
        self.buf.clear();
        self.buf.extend_from_slice(body);
        let Ok(n) = self.decoder.decode(&self.buf) else {
            return;
        };
        std::hint::black_box(path.try_find(&n.root).map(|found| found.len()).ok());
        std::hint::black_box(path.first_non_null(&n.root).ok());
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        // Every expression against one body, and every body against one expression.
        let first_body = &self.bodies.seeds[0].raw;
        let mut out: Vec<Vec<u8>> = self
            .exprs
            .iter()
            .map(|e| [&e[..], b"\n", first_body].concat())
            .collect();
        out.extend(
            self.bodies
                .seeds
                .iter()
                .map(|b| [&self.exprs[0][..], b"\n", &b.raw].concat()),
        );
        out
    }

    fn accepted(&self) -> u64 {
        self.accepted
    }
}

// ---------------------------------------------------------------------------------------------

pub(crate) const YAML_TOKENS: &[&[u8]] = &[
    b"- ",
    b": ",
    b"? ",
    b"&a ",
    b"*a",
    b"<<: *a",
    b"!!str ",
    b"!!binary ",
    b"!!float ",
    b"!!map ",
    b"!foo ",
    b"[",
    b"]",
    b"{",
    b"}",
    b"|",
    b">",
    b"'",
    b"\"",
    b"\\",
    b"#",
    b"\t",
    b"\n",
    b"  ",
    b"---\n",
    b"...\n",
    b"%YAML 1.1\n",
    b"~",
    b"null",
    b".nan",
    b".inf",
    b"-.inf",
    b"0x1F",
    b"0o17",
    b"1e999",
    b"99999999999999999999",
    b"\"\\ud800\"",
    b"\"\\x00\"",
    b"\xef\xbb\xbf",
    b"\xff",
    b"$.payload",
    b"$..*",
    b"`sub(/(.*)/, \\1)`",
    b"type: gauge",
    b"type: int",
    b"type: datetime",
    b"plugin: split",
    b"event_type: '*'",
    b"fields: [a, b]",
];

pub struct Yaml {
    seeds: Vec<Vec<u8>>,
    bodies: Vec<Vec<u8>>,
    decoder: Decoder,
    signer: Signer,
    buf: Vec<u8>,
    out: Vec<u8>,
    accepted: u64,
    over_output_limit: u64,
}

impl Yaml {
    fn new() -> Yaml {
        let config = config_dir();
        let mut paths = files_in(&fuzz_dir().join("corpus/yaml"));
        paths.extend(
            files_in(&config)
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "yaml")),
        );
        // A few bodies of different services, so compiled definitions find something to match.
        let bodies = Bodies::load().raws().into_iter().step_by(8).take(6).collect();
        Yaml {
            seeds: paths.iter().map(|p| read(p)).collect(),
            bodies,
            decoder: Decoder::new(),
            signer: Signer::new(b"s"),
            buf: Vec::new(),
            out: Vec::new(),
            accepted: 0,
            over_output_limit: 0,
        }
    }
}

/// A text input of line-structured seeds (YAML, INI): one of `seeds`, its lines and bytes
/// mutated, with `tokens` as the dictionary.
pub(crate) fn mutate_text(rng: &mut Rng, seeds: &[Vec<u8>], tokens: &[&[u8]], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(rng.pick::<Vec<u8>>(seeds));
    let other = rng.pick(seeds);
    for _ in 0..1 + rng.small(7) {
        if rng.one_in(2) {
            mutate_lines(rng, out, other);
        } else {
            mutate::havoc(rng, out, tokens, other);
        }
    }
    out.truncate(mutate::MAX_INPUT);
}

/// Line-level YAML mutations (structure lives in lines and indentation).
pub(crate) fn mutate_lines(rng: &mut Rng, text: &mut Vec<u8>, other: &[u8]) {
    let mut lines: Vec<Vec<u8>> = text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let others: Vec<&[u8]> = other.split(|&b| b == b'\n').collect();
    let i = rng.below(lines.len());
    match rng.below(7) {
        0 if lines.len() > 1 => {
            lines.remove(i);
        }
        1 => {
            let l = lines[i].clone();
            lines.insert(rng.below(lines.len() + 1), l);
        }
        2 => lines.insert(i, rng.pick(&others).to_vec()),
        3 => {
            if rng.one_in(2) {
                let indent: &[u8] = rng.pick::<&[u8]>(&[b"  ", b"- ", b"\t", b" "]);
                lines[i].splice(0..0, indent.iter().copied());
            } else if lines[i].starts_with(b"  ") {
                lines[i].drain(..2);
            }
        }
        4 => {
            // Replace a scalar after `: `.
            if let Some(p) = lines[i].windows(2).position(|w| w == b": ") {
                lines[i].truncate(p + 2);
                let token: &[u8] = rng.pick::<&[u8]>(YAML_TOKENS);
                lines[i].extend_from_slice(token);
            }
        }
        5 => {
            // Deep nesting, block or flow.
            let n = *rng.pick(&[16usize, 100, 200, 1000, 10_000]);
            let unit = *rng.pick(&[&b"["[..], b"{a: ", b"- ", b"&a [*a, "]);
            lines[i].splice(0..0, unit.repeat(n));
        }
        _ => {
            let j = rng.below(lines.len());
            lines.swap(i, j);
        }
    }
    *text = lines.join(&b'\n');
}

impl Target for Yaml {
    fn name(&self) -> &'static str {
        "yaml"
    }

    fn generate(&self, rng: &mut Rng, out: &mut Vec<u8>) {
        mutate_text(rng, &self.seeds, YAML_TOKENS, out);
    }

    fn run(&mut self, input: &[u8]) {
        let text = String::from_utf8_lossy(input);
        let path = Path::new("fuzz.yaml");
        let meters = MeterDefinitions::from_texts([(path, &*text)])
            .ok()
            .map(|(m, _)| m)
            .filter(|m| !m.is_empty());
        let events = EventDefinitions::parse(&text, path)
            .ok()
            .filter(|e| !e.is_empty());
        let loaded = [
            Pipeline::parse(&text, path, Payload::Samples).is_ok(),
            Pipeline::parse(&text, path, Payload::Events).is_ok(),
            PollingConfig::parse(&text, path).is_ok(),
            Settings::parse(&text, path).is_ok(),
            Resources::parse(&text, path, None).is_ok(),
            meters.is_some(),
            events.is_some(),
        ];
        if loaded.contains(&true) {
            self.accepted += 1;
        }
        // Definitions that compile are used: their jsonpaths, regexes and plugins run.
        if meters.is_none() && events.is_none() {
            return;
        }
        let mut converter = match meters {
            Some(m) => Converter::new(m),
            None => Converter::new(MeterDefinitions::from_texts([]).expect("no definitions").0),
        }
        .with_max_output_bytes(MAX_OUTPUT_BYTES);
        if let Some(e) = events {
            converter = converter.with_events(e);
        }
        for body in &self.bodies {
            self.buf.clear();
            self.buf.extend_from_slice(body);
            let outcome = convert_and_publish(
                &converter,
                &mut self.decoder,
                &mut self.buf,
                &mut self.out,
                &mut self.signer,
            );
            self.over_output_limit += u64::from(outcome.over_output_limit);
        }
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        self.seeds.clone()
    }

    fn accepted(&self) -> u64 {
        self.accepted
    }

    fn over_output_limit(&self) -> u64 {
        self.over_output_limit
    }
}
