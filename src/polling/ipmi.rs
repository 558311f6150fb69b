//! The IPMI namespace (`ceilometer-polling --polling-namespaces ipmi`): this node's BMC
//! sensors, `hardware.ipmi.temperature`, `.current`, `.fan`, `.voltage` and `.power`, read by
//! running `ipmitool` (found on `PATH`) as Ceilometer 27's IPMI pollsters run it, and its text
//! read with their rules:
//!
//! * the output is cut into records at blank lines, a record into `key : value` lines (a line
//!   with any other number of colons is no field), records grouped by the first word of their
//!   `Sensor Type (...)` and keyed by `Sensor ID`; only records with a `Sensor Reading` count,
//!   and an output with no such record, or a record with no sensor type, is a failed read;
//! * a reading is a value and a unit (`22 (+/- 1) degrees C`: 22.0, `C`), as in the readings
//!   ironic sends (`meter::ipmi`), `Disabled` and unreadable ones skipped; power is the
//!   `Pwr Consumption` sensor, which `ipmitool` types as a current (and `.current` leaves out);
//! * a sample per sensor: resource `<host>-<sensor id, lower case, spaces as _>`, metadata the
//!   node's name (and a fan's `Normal Maximum` as `maximum_rpm`), no user or project.
//!
//! Whether the node has a BMC is asked once (`ipmitool sdr info`): without one Ceilometer does
//! not load these pollsters, and here they fail permanently on their first poll, saying so. A
//! failed read is retried on the next poll; after `polling_retry` of them in a row (ceilometer.conf
//! `[ipmi] polling_retry`, default 3, negative: never) the pollster is disabled, as Ceilometer's.

use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use simd_json::json;
use tokio::sync::OnceCell;

use super::discovery::Resource;
use super::pollster::{null, MeterSpec, PollContext, PollError};
use crate::meter::ipmi::{parse_reading, transform_id};
use crate::model::py::text::strip;
use crate::model::{OwnedValue, Sample};

/// A BMC answers within seconds, the slowest `sdr -v` in tens: a hung `ipmitool` must not
/// hold its source's polls for longer than this.
const IPMITOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// The sensors Ceilometer polls, one pollster each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensor {
    Temperature,
    Current,
    Fan,
    Voltage,
    Power,
}

impl Sensor {
    pub const ALL: [Sensor; 5] = [
        Sensor::Current,
        Sensor::Fan,
        Sensor::Power,
        Sensor::Temperature,
        Sensor::Voltage,
    ];

    /// Ceilometer's `METRIC`: the sensor type it reads.
    fn metric(self) -> &'static str {
        match self {
            Sensor::Temperature => "Temperature",
            Sensor::Current => "Current",
            Sensor::Fan => "Fan",
            Sensor::Voltage => "Voltage",
            Sensor::Power => "Power",
        }
    }

    /// What `ipmitool` is asked (Ceilometer's `IPMICMD`).
    fn command(self) -> &'static [&'static str] {
        match self {
            Sensor::Temperature => &["sdr", "-v", "type", "Temperature"],
            Sensor::Current => &["sdr", "-v", "type", "Current"],
            Sensor::Fan => &["sdr", "-v", "type", "Fan"],
            Sensor::Voltage => &["sdr", "-v", "type", "Voltage"],
            Sensor::Power => &["sensor", "get", "Pwr Consumption"],
        }
    }

    /// The sensor type its records are grouped under: `ipmitool` types power consumption
    /// as a current.
    fn records_type(self) -> &'static str {
        match self {
            Sensor::Power => "Current",
            other => other.metric(),
        }
    }

    fn meter(self) -> MeterSpec {
        // The unit of each sample is its reading's; these are the usual ones.
        let (name, unit) = match self {
            Sensor::Temperature => ("hardware.ipmi.temperature", "C"),
            Sensor::Current => ("hardware.ipmi.current", "Amps"),
            Sensor::Fan => ("hardware.ipmi.fan", "RPM"),
            Sensor::Voltage => ("hardware.ipmi.voltage", "V"),
            Sensor::Power => ("hardware.ipmi.power", "W"),
        };
        MeterSpec::new(name, "gauge", unit)
    }
}

/// `ipmitool` on this node, shared by the five pollsters: whether it reaches a BMC is asked
/// once.
#[derive(Default)]
pub struct Ipmitool {
    support: OnceCell<Result<(), String>>,
}

impl Ipmitool {
    /// `ipmitool ARGS`' standard output; a failure to run it, a non-zero exit or a timeout is
    /// an error naming the command.
    async fn run(&self, args: &[&str]) -> Result<String, String> {
        let shown = format!("ipmitool {}", args.join(" "));
        let run = tokio::process::Command::new("ipmitool")
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(IPMITOOL_TIMEOUT, run)
            .await
            .map_err(|_| format!("{shown}: no answer in {IPMITOOL_TIMEOUT:?}"))?
            .map_err(|e| format!("{shown}: {e}"))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            return Err(format!("{shown}: {}: {last}", output.status));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Ceilometer's `check_ipmi`: `ipmitool sdr info` succeeds.
    async fn supported(&self) -> Result<(), String> {
        self.support
            .get_or_init(|| async { self.run(&["sdr", "info"]).await.map(drop) })
            .await
            .clone()
    }
}

/// One sensor record: its `key : value` lines, a later key replacing an earlier one.
#[derive(Debug, Default, PartialEq)]
pub struct Record(Vec<(String, String)>);

impl Record {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn insert(&mut self, key: String, value: String) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(field) => field.1 = value,
            None => self.0.push((key, value)),
        }
    }
}

/// Sensor type → (sensor id → record), each in the order first seen.
pub type Records = Vec<(String, Vec<(String, Record)>)>;

/// Why an output could not be read.
#[derive(Debug, PartialEq)]
pub enum ReadError {
    /// Ceilometer's `IPMIException`: it counts towards `polling_retry`.
    Failed(String),
    /// A record without a `Sensor ID`: a `KeyError` in Ceilometer, which the poll logs and
    /// does not count.
    NoSensorId,
}

/// Ceilometer's `_translate_output`: the records of `ipmitool sdr -v` (or `sensor get`) by
/// sensor type and id.
pub fn read_records(output: &str) -> Result<Records, ReadError> {
    let mut by_type: Records = Vec::new();
    for text in output.split("\n\n") {
        let mut record = Record::default();
        for line in text.split('\n') {
            let mut parts = line.split(':');
            let (Some(key), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            record.insert(strip(key).to_owned(), strip(value).to_owned());
        }
        if record.0.is_empty() {
            continue;
        }
        let sensor_type = [
            "Sensor Type (Analog)",
            "Sensor Type (Discrete)",
            "Sensor Type (Threshold)",
        ]
        .iter()
        .find_map(|key| record.get(key))
        .map(|t| t.split(' ').next().unwrap_or(t).to_owned())
        .ok_or_else(|| ReadError::Failed("parse IPMI sensor data failed,unknown sensor type".into()))?;
        let sensor_id = record.get("Sensor ID").ok_or(ReadError::NoSensorId)?.to_owned();
        if record.get("Sensor Reading").is_none() {
            continue;
        }
        let at = match by_type.iter().position(|(t, _)| *t == sensor_type) {
            Some(at) => at,
            None => {
                by_type.push((sensor_type, Vec::new()));
                by_type.len() - 1
            }
        };
        let sensors = &mut by_type[at].1;
        match sensors.iter_mut().find(|(id, _)| *id == sensor_id) {
            Some(slot) => slot.1 = record,
            None => sensors.push((sensor_id, record)),
        }
    }
    if by_type.is_empty() {
        return Err(ReadError::Failed(
            "parse IPMI sensor data failed,No data retrieved from given input".into(),
        ));
    }
    Ok(by_type)
}

/// The pollster of one sensor type.
pub struct IpmiPollster {
    sensor: Sensor,
    meters: [MeterSpec; 1],
    ipmitool: Arc<Ipmitool>,
    /// Failed reads in a row.
    failures: AtomicU32,
    /// How many failed reads in a row are tolerated; negative: any number.
    polling_retry: i64,
}

impl IpmiPollster {
    pub fn new(sensor: Sensor, ipmitool: Arc<Ipmitool>, polling_retry: i64) -> Self {
        Self {
            sensor,
            meters: [sensor.meter()],
            ipmitool,
            failures: AtomicU32::new(0),
            polling_retry,
        }
    }

    pub fn name(&self) -> &str {
        &self.meters[0].name
    }

    pub fn meters(&self) -> &[MeterSpec] {
        &self.meters
    }

    pub async fn poll(
        &self,
        resource: &Resource,
        mask: &[bool],
        ctx: &PollContext,
        out: &mut Vec<Sample>,
    ) -> Result<(), PollError> {
        if !mask.first().copied().unwrap_or(false) {
            return Ok(());
        }
        let Resource::LocalNode(host) = resource else {
            return Err(PollError::not_listed(self.name(), "local_node", resource.key()));
        };
        if let Err(why) = self.ipmitool.supported().await {
            return Err(PollError::Permanent(format!(
                "IPMITool not supported on host: {why}"
            )));
        }
        let records = match self.ipmitool.run(self.sensor.command()).await {
            Ok(output) => read_records(&output),
            Err(why) => Err(ReadError::Failed(format!("running ipmitool failure: {why}"))),
        };
        let records = match records {
            Ok(records) => records,
            Err(ReadError::Failed(why)) => return Err(self.failed(why)),
            Err(ReadError::NoSensorId) => {
                return Err(PollError::Transient("a sensor record has no 'Sensor ID'".into()))
            }
        };
        self.failures.store(0, Ordering::Relaxed);
        self.samples(&records, host, ctx, out);
        Ok(())
    }

    /// The samples of this pollster's sensors among `records`, read on `host`.
    pub fn samples(&self, records: &Records, host: &str, ctx: &PollContext, out: &mut Vec<Sample>) {
        let sensors = records
            .iter()
            .find(|(t, _)| t == self.sensor.records_type())
            .map_or(&[][..], |(_, sensors)| sensors);
        out.extend(
            sensors
                .iter()
                .filter_map(|(_, record)| self.sample(record, host, ctx)),
        );
    }

    /// A failed read, counted: transient until more than `polling_retry` in a row.
    fn failed(&self, why: String) -> PollError {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let why = format!(
            "polling {} sensor failed for {failures} times: {why}",
            self.sensor.metric()
        );
        if self.polling_retry >= 0 && i64::from(failures) > self.polling_retry {
            PollError::Permanent(format!("{why}; the pollster is disabled ([ipmi] polling_retry)"))
        } else {
            PollError::Transient(why)
        }
    }

    /// A sensor's sample, or none where Ceilometer skips it.
    fn sample(&self, record: &Record, host: &str, ctx: &PollContext) -> Option<Sample> {
        let (reading, sensor_id) = (record.get("Sensor Reading")?, record.get("Sensor ID")?);
        if self.sensor == Sensor::Current && sensor_id.contains("Pwr Consumption") {
            return None;
        }
        if reading == "Disabled" {
            return None;
        }
        let (volume, unit) = parse_reading(reading)?;
        let metadata = match (self.sensor, record.get("Normal Maximum")) {
            (Sensor::Fan, Some(max)) => json!({ "node": host, "maximum_rpm": max }),
            _ => json!({ "node": host }),
        };
        let mut sample = ctx.sample(
            &self.meters[0],
            OwnedValue::from(volume),
            null(),
            null(),
            OwnedValue::from(format!("{host}-{}", transform_id(sensor_id))),
            metadata,
            null(),
        );
        sample.unit = Arc::from(unit);
        Some(sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simd_json::prelude::ValueAsScalar;

    /// What `ipmitool sdr -v type Current` printed for two sensors of a simulated BMC
    /// (`tests/ipmi_support`), trimmed.
    const CURRENT: &str = "Sensor ID              : Current 1 (0x3)
 Entity ID             : 7.1 (System Board)
 Sensor Type (Threshold)  : Current (0x03)
 Sensor Reading        : 0.600 (+/- 0) Amps
 Status                : ok
 Assertions Enabled    : 

Sensor ID              : Pwr Consumption (0x4)
 Entity ID             : 7.1 (System Board)
 Sensor Type (Threshold)  : Current (0x03)
 Sensor Reading        : 182 (+/- 0) Watts
 Status                : ok

";

    #[test]
    fn records_are_grouped_by_the_first_word_of_their_type_and_keyed_by_their_id() {
        let records = read_records(CURRENT).unwrap();
        assert_eq!(records.len(), 1);
        let (kind, sensors) = &records[0];
        assert_eq!(kind, "Current");
        let ids: Vec<&str> = sensors.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["Current 1 (0x3)", "Pwr Consumption (0x4)"]);
        assert_eq!(sensors[0].1.get("Sensor Reading"), Some("0.600 (+/- 0) Amps"));
        assert_eq!(sensors[0].1.get("Assertions Enabled"), Some(""));
    }

    #[test]
    fn lines_with_other_than_one_colon_are_no_fields_and_a_later_key_replaces_an_earlier() {
        let text = "Sensor ID : a\nSensor Type (Analog) : Fan\nSensor Reading : 1 RPM\n\
                    Time : 12:00:01\nnot a field\nSensor Reading : 2 RPM\n";
        let records = read_records(text).unwrap();
        let record = &records[0].1[0].1;
        assert_eq!(record.get("Time"), None);
        assert_eq!(record.get("Sensor Reading"), Some("2 RPM"));
        assert_eq!(record.0.len(), 3);
    }

    #[test]
    fn a_later_record_of_the_same_id_replaces_the_earlier_in_its_place() {
        let record = |id: &str, reading: &str| {
            format!("Sensor ID : {id}\nSensor Type (Threshold) : Fan (0x04)\nSensor Reading : {reading}\n")
        };
        let text = [record("a", "1 RPM"), record("b", "2 RPM"), record("a", "3 RPM")].join("\n");
        let records = read_records(&text).unwrap();
        let sensors: Vec<(&str, Option<&str>)> = records[0]
            .1
            .iter()
            .map(|(id, r)| (id.as_str(), r.get("Sensor Reading")))
            .collect();
        assert_eq!(sensors, [("a", Some("3 RPM")), ("b", Some("2 RPM"))]);
    }

    #[test]
    fn outputs_ceilometer_refuses_are_failed_reads_and_a_record_without_id_is_not_counted() {
        let failed = |text: &str| matches!(read_records(text), Err(ReadError::Failed(_)));
        assert!(failed(""), "nothing read");
        assert!(
            failed("Sensor ID : a\nSensor Type (Threshold) : Fan\n"),
            "no reading at all"
        );
        assert!(
            failed("Sensor ID : a\nSensor Reading : 1 RPM\n"),
            "no sensor type"
        );
        assert_eq!(
            read_records("Sensor Type (Threshold) : Fan\nSensor Reading : 1 RPM\n"),
            Err(ReadError::NoSensorId)
        );
    }

    fn poll_records(sensor: Sensor, text: &str) -> Vec<Sample> {
        let pollster = IpmiPollster::new(sensor, Arc::default(), 3);
        let mut out = Vec::new();
        let ctx = PollContext::now("ipmi".into());
        pollster.samples(&read_records(text).unwrap(), "node-1", &ctx, &mut out);
        out
    }

    #[test]
    fn current_leaves_power_consumption_to_power_which_reads_it_from_the_current_records() {
        let current = poll_records(Sensor::Current, CURRENT);
        assert_eq!(current.len(), 1);
        assert_eq!(current[0].resource_id, OwnedValue::from("node-1-current_1_(0x3)"));
        assert_eq!(current[0].volume, OwnedValue::from(0.6));
        assert_eq!(&*current[0].unit, "Amps");
        let power = poll_records(Sensor::Power, CURRENT);
        let power: Vec<(String, String)> = power
            .iter()
            .map(|s| {
                (
                    s.resource_id.to_string(),
                    format!("{:?} {}", s.volume.as_f64(), s.unit),
                )
            })
            .collect();
        assert_eq!(
            power,
            [
                ("node-1-current_1_(0x3)".into(), "Some(0.6) Amps".into()),
                ("node-1-pwr_consumption_(0x4)".into(), "Some(182.0) W".into())
            ]
        );
    }

    #[test]
    fn a_fan_carries_its_normal_maximum_and_unreadable_or_disabled_sensors_are_skipped() {
        let text = "Sensor ID : Fan1 (0x5)\nSensor Type (Threshold) : Fan (0x04)\n\
                    Sensor Reading : 4680 (+/- 0) RPM\nNormal Maximum : 9000.000\n\n\
                    Sensor ID : Fan2 (0x6)\nSensor Type (Threshold) : Fan (0x04)\nSensor Reading : Disabled\n\n\
                    Sensor ID : Fan3 (0x7)\nSensor Type (Threshold) : Fan (0x04)\nSensor Reading : many RPM\n";
        let fans = poll_records(Sensor::Fan, text);
        assert_eq!(fans.len(), 1);
        assert_eq!(
            *fans[0].resource_metadata,
            json!({"node": "node-1", "maximum_rpm": "9000.000"})
        );
        assert_eq!(fans[0].user_id, null());
        assert_eq!(&*fans[0].name, "hardware.ipmi.fan");
    }

    #[test]
    fn failed_reads_in_a_row_past_polling_retry_disable_the_pollster_and_a_good_read_resets_them() {
        let pollster = IpmiPollster::new(Sensor::Fan, Arc::default(), 2);
        let kinds = |n: usize| -> Vec<bool> {
            (0..n)
                .map(|_| matches!(pollster.failed("x".into()), PollError::Permanent(_)))
                .collect()
        };
        assert_eq!(kinds(3), [false, false, true]);
        pollster.failures.store(0, Ordering::Relaxed);
        assert_eq!(kinds(1), [false]);
        let forever = IpmiPollster::new(Sensor::Fan, Arc::default(), -1);
        assert!((0..10).all(|_| matches!(forever.failed("x".into()), PollError::Transient(_))));
    }
}
