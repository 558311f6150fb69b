//! Dynamic pollsters: Ceilometer's YAML pollster definitions (`pollsters.d/*.yaml`), polling
//! an HTTP JSON API (or a host command) and turning its entries into samples.
//!
//! Behaviour follows `ceilometer/polling/dynamic_pollster.py`:
//! * the request URL is `url_path` joined (RFC 3986, like `urljoin`) to the resource, which
//!   gets a trailing `/`; `headers` and `timeout` (30 s) apply; a non-2xx status or a network
//!   error gives no samples (logged and counted here);
//! * the response goes through `response_handlers` (`json`, `text` → `[{"out": text}]`);
//!   entries are the response itself when it is a list, else the value under
//!   `response_entries_key` (default: the first key); `next_sample_url_attribute` follows
//!   pages;
//! * attributes are dotted paths (`.` is the entry itself) with optional `| value ...`
//!   operations; `user_id_attribute`, `project_id_attribute`, `resource_id_attribute` pick the
//!   identity; `metadata_fields` (renamed by `metadata_mapping`, the originals kept unless
//!   `preserve_mapped_metadata: false`) make the metadata;
//! * `skip_sample_values` drops an entry whose value (or, for multi-metric pollsters, whose
//!   sub-metric name) is listed; `value_mapping` maps values, unknown ones to `default_value`
//!   (-1);
//! * a name ending in `.{attr}` with `value_attribute: "[list].field"` is a multi-metric
//!   pollster: one sample per element of `list`, named after its `attr`.
//!
//! Not supported (the definition is refused at load with the reason): Python `eval` beyond
//! `value OP number` and `int/float/abs/round(value)` operations, `extra_metadata_fields` and
//! `module`/`authentication_object` (non-OpenStack auth classes).
//!
//! `endpoint:TYPE` discovery gives the URLs the settings' `endpoints` give for the type, or else
//! the type's URLs in the Keystone catalog; with `service_credentials`, every request carries
//! the agent's Keystone token ([`pollster`]).
//!
//! The parts: [`definition`] (validating and loading definitions), [`attr`] (the `| value`
//! attribute language), [`extract`] (response → samples, no I/O), [`xml`] (the `xml` response
//! handler), [`url`] (`urljoin`) and [`pollster`] (the requests, pages and host commands).

pub mod attr;
pub mod definition;
pub mod extract;
pub mod pollster;
pub mod url;
pub mod xml;

pub use attr::Attr;
pub use definition::{load_definitions, DefinitionError, DynamicDefinition};
pub use pollster::DynamicPollster;
pub use url::url_join;
