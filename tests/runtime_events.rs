//! Events through the runtime: what the converter yields as events goes through
//! event_pipeline.yaml to the `notifier://` event publisher, as oslo notifications on
//! `ceilometer` / `event.sample` with `event_type` `event` and a list of event messages.
//! (The conversion core's event support is tested elsewhere; a stand-in converter makes one
//! event per body here, so this test is about the transport and the pipeline only.)

mod runtime_support;

use std::sync::Arc;
use std::time::Duration;

use ceilo::agent::{AgentConfig, Convert};
use ceilo::convert::{ConvertError, Converted};
use ceilo::model::envelope::Decoder;
use ceilo::model::{Event, Trait, TraitValue};
use runtime_support::*;

/// One event per notification: its event_type and a text trait.
struct OneEventEach;

impl Convert for OneEventEach {
    fn convert(&self, decoder: &mut Decoder, body: &[u8]) -> Result<Converted, ConvertError> {
        let n = decoder.decode(body)?;
        let event = Event {
            message_id: n.message_id().map(str::to_owned),
            event_type: n.event_type().unwrap_or_default().to_owned(),
            generated: chrono::NaiveDate::from_ymd_opt(2025, 3, 14)
                .and_then(|d| d.and_hms_opt(9, 45, 0))
                .expect("date"),
            traits: vec![Trait {
                name: "service".into(),
                value: TraitValue::Text("compute".into()),
            }],
            raw: simd_json::OwnedValue::from(simd_json::owned::Object::default()),
        };
        Ok(Converted {
            events: vec![event],
            ..Default::default()
        })
    }
}

#[test]
fn events_reach_event_sample_through_the_event_pipeline() {
    let broker = Broker::new("events");
    let dir = config_dir(&settings(50, 10));
    let url = broker.url();
    let config = AgentConfig::load(dir.path(), Some(&url), Arc::new(OneEventEach)).expect("config");
    with_in_process_agent(config, |agent| async move {
        declare(&url, "event.sample", "ceilometer", "event.sample", false).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !agent.is_ready() {
            assert!(tokio::time::Instant::now() < deadline, "agent not consuming");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        publish(&url, &polling_messages("ev", 30)).await;
        let mut seen = 0;
        let got = collect(&url, "event.sample", Duration::from_secs(20), |r| {
            seen += meter_messages(&r.body).len();
            seen >= 30
        })
        .await;
        let outer: serde_json::Value = serde_json::from_slice(&got[0].body).expect("body");
        let inner: serde_json::Value =
            serde_json::from_str(outer["oslo.message"].as_str().expect("string")).expect("inner");
        assert_eq!(inner["priority"], "SAMPLE");
        assert_eq!(inner["event_type"], "event");
        let events: Vec<serde_json::Value> = got.iter().flat_map(|r| meter_messages(&r.body)).collect();
        assert_eq!(events.len(), 30);
        let e = &events[0];
        assert_eq!(e["event_type"], "telemetry.polling");
        assert_eq!(e["traits"][0], serde_json::json!(["service", 1, "compute"]));
        assert!(
            e["message_signature"].as_str().is_some_and(|s| s.len() == 64),
            "{e}"
        );
        assert!(agent.shutdown(Duration::from_secs(10)).await);
    });
}
