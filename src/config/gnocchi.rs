//! The `gnocchi:` section of ceilo.yaml: where Gnocchi is and who ceilo is to it, as plain
//! settings. The agent hands them to the `gnocchi://` publisher as a
//! `publish::gnocchi::GnocchiAccess`; this module knows nothing of publishing.

use serde::Deserialize;

/// How ceilo authenticates to Gnocchi.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Gnocchi's `[api] auth_mode = basic` (Ceilometer's `auth_type = gnocchi-basic`).
    Basic,
    /// Keystone v3 password (Ceilometer's `auth_type = password`): `gnocchi.keystone`, else
    /// `service_credentials`.
    Keystone,
}

/// The `gnocchi:` section of ceilo.yaml: where Gnocchi is and who ceilo is to it
/// (Ceilometer's `[service_credentials]`, `auth_type = gnocchi-basic` or `password`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GnocchiSettings {
    /// Gnocchi's API root, e.g. `http://127.0.0.1:8041` (Ceilometer: `endpoint`, or the
    /// Keystone catalog's `metric` service). Unset: `http://127.0.0.1:8041` with basic auth,
    /// the catalog's with Keystone.
    pub endpoint: Option<String>,
    /// `basic` or `keystone`.
    pub auth_mode: AuthMode,
    /// The user Gnocchi's basic auth sees (`admin` is Gnocchi's administrator).
    pub user: String,
    pub password: String,
    /// The id of the project whose activity `enable_filter_project` skips (Ceilometer finds it
    /// in Keystone by `filter_project`/`filter_domain`). Basic auth only (with Keystone the
    /// id is looked up); unset: nothing is filtered, with a warning when a `gnocchi://` URL
    /// asks for filtering.
    pub filter_project_id: Option<String>,
    /// Keystone credentials for `auth_mode: keystone`, when they differ from the agent's
    /// `service_credentials`.
    pub keystone: Option<crate::keystone::KeystoneSettings>,
}

impl GnocchiSettings {
    /// Settings that cannot work, said at start.
    pub fn validate(&self) -> Result<(), String> {
        match (self.auth_mode, &self.keystone) {
            (AuthMode::Keystone, None) => Err(
                "gnocchi.auth_mode keystone needs service_credentials (or a gnocchi.keystone section)".into(),
            ),
            (AuthMode::Keystone, Some(k)) => k.validate(),
            (AuthMode::Basic, _) => Ok(()),
        }
    }
}

impl Default for GnocchiSettings {
    fn default() -> Self {
        GnocchiSettings {
            endpoint: None,
            auth_mode: AuthMode::Basic,
            user: "admin".into(),
            password: String::new(),
            filter_project_id: None,
            keystone: None,
        }
    }
}
