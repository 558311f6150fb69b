//! Aodh's pollster, `alarm.evaluation_result`, as Ceilometer 27's `ceilometer/alarm/aodh.py`
//! polls it through its `alarm` discoverer (aodhclient's `metrics.get(all_projects=True)`):
//!
//! * Aodh's endpoint is the token's catalog entry of `[service_types] aodh` (`alarming`), of
//!   `[service_credentials] interface` in `region_name`.
//! * `GET <aodh>/v2/metrics?all_projects=true` with the agent's Keystone token: one document,
//!   the discoverer's one resource. Aodh refuses it (403) when its `[DEFAULT]
//!   enable_evaluation_results_metrics` is off: said as an error, nothing polled that cycle.
//! * A sample per alarm and state of its `evaluation_results`: a gauge in
//!   `evaluation_result_count` of the state's counter, no user, the alarm's `project_id` as
//!   project, its `alarm_id` as resource, and the state as metadata (`{"alarm_state": ...}`).
//!
//! With coordination on, the document is one resource placed on the hash ring by a fixed key:
//! one agent of the group polls it (Ceilometer hashes the document's text, so which one changes
//! as the counters do).

use std::sync::Arc;

use simd_json::prelude::*;

use super::discovery::Resource;
use super::pollster::{null, MeterSpec, PollContext, PollError};
use super::service_api::ServiceApi;
use crate::model::{py, OwnedValue, Sample};

/// The discoverer's name in polling.yaml.
pub const DISCOVERER: &str = "alarm";

/// One alarm's counter of one state.
#[derive(Debug)]
struct Counter {
    project_id: OwnedValue,
    alarm_id: OwnedValue,
    state: String,
    count: OwnedValue,
}

/// Aodh's evaluation results, as one `GET /v2/metrics` gave them.
#[derive(Debug, Default)]
pub struct EvaluationResults {
    counters: Vec<Counter>,
}

/// Every project's evaluation results: the discoverer's one resource, or none when Aodh
/// does not give them (403).
pub async fn evaluation_results(aodh: &ServiceApi) -> Result<Vec<EvaluationResults>, String> {
    let url = format!("{}/v2/metrics?all_projects=true", aodh.endpoint().await?);
    let (status, _, body) = aodh.request(hyper::Method::GET, &url).await?;
    match status {
        200..=299 => read_metrics(&body)
            .map(|results| vec![results])
            .map_err(|e| format!("GET {url}: {e}")),
        403 => {
            tracing::error!(
                url,
                "skipping alarm discovery: Aodh refuses its metrics (is [DEFAULT] \
                enable_evaluation_results_metrics off?)"
            );
            Ok(Vec::new())
        }
        _ => {
            let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            Err(format!("GET {url}: HTTP {status}: {text}"))
        }
    }
}

/// The counters of Aodh's metrics document: each alarm's `state_counters`, state by state.
pub fn read_metrics(body: &[u8]) -> Result<EvaluationResults, String> {
    let document =
        simd_json::to_owned_value(&mut body.to_vec()).map_err(|e| format!("the reply is not JSON: {e}"))?;
    let mut counters = Vec::new();
    let results = document.get("evaluation_results").and_then(|r| r.as_array());
    for result in results.into_iter().flatten() {
        let field = |name: &str| result.get(name).cloned().unwrap_or_else(null);
        let Some(states) = result.get("state_counters").and_then(|s| s.as_object()) else {
            return Err(format!("an evaluation result without state_counters: {result}"));
        };
        for (state, count) in states.iter() {
            let count = py::int_of(count)
                .ok()
                .and_then(|n| i64::try_from(n).ok())
                .ok_or_else(|| format!("the {state} counter is not an integer: {count}"))?;
            counters.push(Counter {
                project_id: field("project_id"),
                alarm_id: field("alarm_id"),
                state: state.to_string(),
                count: OwnedValue::from(count),
            });
        }
    }
    Ok(EvaluationResults { counters })
}

/// `alarm.evaluation_result`.
pub struct EvaluationResultPollster {
    meters: [MeterSpec; 1],
}

impl Default for EvaluationResultPollster {
    fn default() -> Self {
        EvaluationResultPollster {
            meters: [MeterSpec::new(
                "alarm.evaluation_result",
                "gauge",
                "evaluation_result_count",
            )],
        }
    }
}

impl EvaluationResultPollster {
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
        let Resource::AlarmResults(results) = resource else {
            return Err(PollError::not_listed(
                "alarm.evaluation_result",
                DISCOVERER,
                resource.key(),
            ));
        };
        for counter in &results.counters {
            out.push(ctx.sample(
                &self.meters[0],
                counter.count.clone(),
                null(),
                counter.project_id.clone(),
                counter.alarm_id.clone(),
                Arc::new(simd_json::json!({ "alarm_state": counter.state.as_str() })),
                null(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_per_alarm_and_state() {
        let results = read_metrics(
            br#"{"evaluation_results": [
                {"alarm_id": "a-1", "project_id": "p-1",
                 "state_counters": {"insufficient data": 3, "ok": 2, "alarm": 0}},
                {"alarm_id": "a-2", "project_id": "p-2", "state_counters": {"alarm": 1}}]}"#,
        )
        .expect("a document");
        let ctx = PollContext::now("src".into());
        let mut out = Vec::new();
        EvaluationResultPollster::default()
            .poll(
                &Resource::AlarmResults(Arc::new(results)),
                &[true],
                &ctx,
                &mut out,
            )
            .expect("polled");
        assert_eq!(out.len(), 4);
        let s = &out[0];
        assert_eq!(
            (&*s.name, &*s.unit),
            ("alarm.evaluation_result", "evaluation_result_count")
        );
        assert_eq!(s.volume, OwnedValue::from(3));
        assert_eq!(s.resource_id, OwnedValue::from("a-1"));
        assert_eq!(s.project_id, OwnedValue::from("p-1"));
        assert!(s.user_id.is_null());
        assert_eq!(
            s.resource_metadata.get_str("alarm_state"),
            Some("insufficient data")
        );
        assert_eq!(out[3].resource_id, OwnedValue::from("a-2"));
    }

    #[test]
    fn a_document_without_results_has_no_samples_and_a_bad_counter_is_an_error() {
        assert!(read_metrics(b"{}").expect("a document").counters.is_empty());
        assert!(read_metrics(
            br#"{"evaluation_results": [{"alarm_id": "a", "state_counters": {"ok": "x"}}]}"#
        )
        .unwrap_err()
        .contains("ok counter is not an integer"));
    }
}
