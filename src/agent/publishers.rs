//! The publishers of the pipelines: one [`PublisherActor`] per publisher URL of each sink,
//! started by a [`Factory`] at start and, for the ones a reload adds, at the reload. A reload
//! keeps the publisher of every (sink, URL) it still has, so its connection, batch and
//! retries carry on, and retires the others ([`retire`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::mailbox::Mailbox;
use super::publisher::{BatchPolicy, PublisherActor, Retire};
use super::AgentError;
use crate::config::{AuthMode, PublisherSettings, Settings};
use crate::model::Payload;
use crate::pipeline::Pipeline;
use crate::publish::dead_letter::{DeadLetterOutput, DeadLetters};
use crate::publish::file::FileOutput;
use crate::publish::gnocchi::{GnocchiAccess, GnocchiOutput};
use crate::publish::http::HttpOutput;
use crate::publish::notifier::{NotifierOptions, NotifierOutput};
use crate::publish::otlp::OtlpOutput;
use crate::publish::prometheus::PrometheusOutput;
use crate::publish::tcp::TcpOutput;
use crate::publish::udp::UdpOutput;
use crate::publish::zaqar::ZaqarOutput;
use crate::publish::{Output, PublisherUrl};
use crate::telemetry::handles::PublisherMetrics;
use crate::telemetry::Readiness;
use crate::transport::{PublishTopology, Publisher, Transport};

/// What a `notifier://` publisher of `carries` takes from the `publisher:` settings: the
/// metering or event topic by what it carries, the exchange, the batch size and the secret.
pub fn notifier_options<'a>(
    p: &'a PublisherSettings,
    carries: Payload,
    host: &'a str,
) -> NotifierOptions<'a> {
    NotifierOptions {
        default_topic: match carries {
            Payload::Samples => &p.metering_topic,
            Payload::Events => &p.event_topic,
        },
        control_exchange: &p.control_exchange,
        batch_size: p.batch_size,
        telemetry_secret: &p.telemetry_secret,
        host,
    }
}

/// A running publisher of a sink.
#[derive(Clone)]
pub struct SinkPublisher {
    pub sink: String,
    pub url: PublisherUrl,
    pub mailbox: Mailbox<PublisherActor>,
}

/// The running publishers of the two pipelines, in each pipeline's publisher order.
pub struct Sinks {
    pub samples: Vec<SinkPublisher>,
    pub events: Vec<SinkPublisher>,
}

/// Starts publisher actors with the agent's settings.
pub struct Factory {
    settings: Settings,
    main: Arc<dyn Transport>,
    host: String,
    policy: BatchPolicy,
    runtime: tokio::runtime::Handle,
    readiness: Readiness,
    /// The dead-letter exchange's publisher, shared by every output that dead-letters.
    dlq: Arc<dyn Publisher>,
    /// Where publishers find their own files (gnocchi_resources.yaml).
    config_dir: PathBuf,
}

impl Factory {
    pub fn new(
        settings: &Settings,
        main: Arc<dyn Transport>,
        runtime: tokio::runtime::Handle,
        readiness: Readiness,
        config_dir: &Path,
    ) -> Factory {
        let (p, n) = (&settings.publisher, &settings.notification);
        let dlq = main.publisher(PublishTopology {
            queues: vec![DeadLetterOutput::topology(
                &n.dead_letter_exchange,
                &n.dead_letter_queue,
            )],
            ..Default::default()
        });
        Factory {
            host: settings.host(),
            policy: BatchPolicy {
                max_items: p.batch_size,
                max_wait: Duration::from_millis(p.batch_timeout_ms),
                max_in_flight: 8,
                encoders: BatchPolicy::encoders_per_core(),
            },
            settings: settings.clone(),
            main,
            runtime,
            readiness,
            dlq,
            config_dir: config_dir.to_owned(),
        }
    }

    /// Start a publisher actor around `output`, named `id` in logs, metrics and readiness.
    pub fn start(
        &self,
        output: Box<dyn Output>,
        id: &str,
        metrics: Option<PublisherMetrics>,
    ) -> Mailbox<PublisherActor> {
        PublisherActor::new(output, self.policy, self.runtime.clone(), id, metrics)
            .with_readiness(self.readiness.clone())
            .start_supervised()
    }

    /// The dead-letter publisher (rejected deliveries, with their reason).
    pub fn start_dead_letter(&self) -> Mailbox<PublisherActor> {
        let n = &self.settings.notification;
        let output = DeadLetterOutput::new(&n.dead_letter_exchange, self.dlq.clone());
        self.start(Box::new(output), "dead-letter", None)
    }

    /// One publisher per publisher of `pipeline`, in its order. One of `running` with the same
    /// sink and URL is taken out of it and used instead of a new one. Every output is built
    /// before any actor starts, so an error starts nothing.
    pub fn build(
        &self,
        pipeline: &Pipeline,
        carries: Payload,
        running: &mut Vec<SinkPublisher>,
    ) -> Result<Vec<SinkPublisher>, AgentError> {
        let mut planned = Vec::new();
        for (url, sink) in pipeline.publishers().iter().zip(pipeline.publisher_sinks()) {
            match running.iter().position(|r| r.sink == *sink && r.url == *url) {
                Some(i) => planned.push(Ok(running.remove(i))),
                None => planned.push(Err((url, sink, self.output(url, sink, carries)?))),
            }
        }
        Ok(planned
            .into_iter()
            .map(|p| match p {
                Ok(kept) => kept,
                Err((url, sink, output)) => {
                    let scheme = url.scheme();
                    SinkPublisher {
                        sink: sink.clone(),
                        url: url.clone(),
                        mailbox: self.start(
                            output,
                            &format!("{sink}/{scheme}"),
                            Some(PublisherMetrics::new(sink, scheme)),
                        ),
                    }
                }
            })
            .collect())
    }

    /// The `Output` of one publisher URL of `sink`.
    fn output(
        &self,
        url: &PublisherUrl,
        sink: &str,
        carries: Payload,
    ) -> Result<Box<dyn Output>, AgentError> {
        let settings = &self.settings;
        let p = &settings.publisher;
        // Where publishers send what their receiver refused for good.
        let dead_letters = || DeadLetters {
            exchange: settings.notification.dead_letter_exchange.clone(),
            publisher: self.dlq.clone(),
        };
        let refused = |url: &str, e: &dyn std::fmt::Display| AgentError::Publisher {
            url: url.to_owned(),
            reason: e.to_string(),
        };
        Ok(match url {
            PublisherUrl::Notifier {
                topics,
                per_meter_topic,
                transport_url,
            } => {
                let topology = PublishTopology {
                    default_queues: true,
                    durable: settings.publish_durable(),
                    auto_delete: settings.notification.auto_delete,
                    ..Default::default()
                };
                let publisher = match transport_url {
                    None => self.main.publisher(topology),
                    // Another broker, with the agent's RabbitMQ options (TLS...), as oslo
                    // applies its `[oslo_messaging_rabbit]` to every transport.
                    Some(other) => crate::transport::from_url_with(other, &settings.rabbit)
                        .map_err(|e| refused(&crate::transport::mask(other), &e))?
                        .publisher(topology),
                };
                Box::new(NotifierOutput::new(
                    carries,
                    topics,
                    *per_meter_topic,
                    &notifier_options(p, carries, &self.host),
                    publisher,
                ))
            }
            PublisherUrl::File {
                path,
                max_bytes,
                backup_count,
                fsync,
                json,
            } => Box::new(FileOutput::new(
                path,
                *max_bytes,
                *backup_count,
                *fsync,
                *json,
                self.runtime.clone(),
            )),
            PublisherUrl::Gnocchi(options) => Box::new(
                GnocchiOutput::new(
                    options,
                    &gnocchi_access(settings)?,
                    &self.config_dir,
                    Some(dead_letters()),
                )
                .map_err(|e| AgentError::Runtime(e.to_string()))?,
            ),
            PublisherUrl::Udp(target) => Box::new(UdpOutput::new(
                target,
                &p.telemetry_secret,
                PublisherMetrics::new(sink, "udp"),
            )),
            PublisherUrl::Tcp(target) => Box::new(TcpOutput::new(target, &p.telemetry_secret, &self.host)),
            PublisherUrl::Otlp(target) => {
                Box::new(OtlpOutput::new(target, Some(dead_letters())).map_err(|e| refused(&target.url, &e))?)
            }
            PublisherUrl::Prometheus(target) => Box::new(
                PrometheusOutput::new(target, Some(dead_letters())).map_err(|e| refused(&target.url, &e))?,
            ),
            PublisherUrl::Http(target) => Box::new(
                HttpOutput::new(target, carries, Some(dead_letters()))
                    .map_err(|e| refused(&target.url, &e))?,
            ),
            PublisherUrl::Zaqar(target) => {
                let name = format!("zaqar://?queue={}", target.queue);
                // Ceilometer's `[zaqar] auth_section`, whose default is the agent's credentials.
                let Some(credentials) = &settings.service_credentials else {
                    return Err(refused(
                        &name,
                        &"Zaqar is found in the Keystone catalog: set service_credentials \
                          (ceilometer.conf: [service_credentials])",
                    ));
                };
                Box::new(
                    ZaqarOutput::new(target, carries, credentials, Some(dead_letters()))
                        .map_err(|e| refused(&name, &e))?,
                )
            }
        })
    }
}

/// How `gnocchi://` publishers reach Gnocchi: the `gnocchi:` settings, with
/// `service_credentials` when they name no Keystone of their own
/// ([`Settings::gnocchi_settings`]).
pub fn gnocchi_access(settings: &Settings) -> Result<GnocchiAccess, AgentError> {
    let gnocchi = settings.gnocchi_settings();
    gnocchi
        .validate()
        .map_err(|e| AgentError::Runtime(format!("gnocchi: {e}")))?;
    Ok(match (gnocchi.auth_mode, gnocchi.keystone) {
        (AuthMode::Keystone, Some(keystone)) => GnocchiAccess::Keystone {
            endpoint: gnocchi.endpoint,
            keystone: Box::new(keystone),
        },
        _ => GnocchiAccess::Basic {
            endpoint: gnocchi.endpoint,
            user: gnocchi.user,
            password: gnocchi.password,
            filter_project_id: gnocchi.filter_project_id,
        },
    })
}

/// A reload removed `publisher`: it writes what it holds at once and ends when that is durable
/// and the last reference to it is gone. Nothing is lost: the batches it has carry their ack
/// tokens to the end.
pub fn retire(publisher: SinkPublisher) {
    publisher.mailbox.addr().do_send(Retire);
}
