//! `[service_credentials]` of ceilometer.conf onto ceilo.yaml: who the agent is to Keystone
//! and to Gnocchi. `auth_type = password` (keystoneauth1's generic password plugin,
//! `v3password` too) is Keystone v3 password auth with the options below, ceilo.yaml's
//! `service_credentials` (which `gnocchi://` then uses with `auth_mode: keystone`, and
//! `[polling] identity_name_discovery` looks names up with);
//! `auth_type = gnocchi-basic` is Gnocchi's basic auth with the plugin's `user` and `endpoint`.
//! Any other auth type is refused (naming file and line) rather than publishing without it.
//! No `auth_type`: ceilo.yaml's `gnocchi:` stays as it is.

use super::{ConfError, Reader};
use crate::config::AuthMode;
use crate::config::Settings;
use crate::keystone::KeystoneSettings;

const GROUP: &str = "service_credentials";

pub(super) fn apply(r: &mut Reader, s: &mut Settings) -> Result<(), ConfError> {
    let g = &mut s.gnocchi;
    let names = [(GROUP, "auth_type"), (GROUP, "auth_plugin")];
    let Some(auth_type) = r.string(&names)? else {
        return Ok(());
    };
    match auth_type.as_str() {
        "password" | "v3password" => {
            g.auth_mode = AuthMode::Keystone;
            s.service_credentials = Some(keystone(r)?);
        }
        "v3applicationcredential" => {
            g.auth_mode = AuthMode::Keystone;
            let mut k = keystone(r)?;
            let mut get = |name: &str| -> Result<Option<String>, ConfError> {
                Ok(r.string(&[(GROUP, name)])?.filter(|v| !v.is_empty()))
            };
            k.application_credential_id = get("application_credential_id")?;
            k.application_credential_name = get("application_credential_name")?;
            k.application_credential_secret = get("application_credential_secret")?;
            s.service_credentials = Some(k);
        }
        "gnocchi-basic" => {
            g.auth_mode = AuthMode::Basic;
            if let Some(user) = r.string(&[(GROUP, "user")])? {
                g.user = user;
            }
            if let Some(endpoint) = r.string(&[(GROUP, "endpoint")])? {
                g.endpoint = Some(endpoint);
            }
        }
        other => {
            let (group, name) = r
                .which(&names)
                .unwrap_or_else(|| (GROUP.into(), "auth_type".into()));
            return Err(r
                .conf
                .value_error(
                    &group,
                    &name,
                    format!(
                        "{other:?}: ceilo authenticates with `password` or `v3applicationcredential` (Keystone v3), or `gnocchi-basic`, only"
                    ),
                )
                .into());
        }
    }
    Ok(())
}

/// The password plugin's options (with keystoneauth1's deprecated names), and
/// `default_domain_id`/`default_domain_name` for the user's and project's domain when those
/// are not set, as the plugin does.
fn keystone(r: &mut Reader) -> Result<KeystoneSettings, ConfError> {
    let mut get = |names: &[&str]| -> Result<Option<String>, ConfError> {
        let names: Vec<(&str, &str)> = names.iter().map(|n| (GROUP, *n)).collect();
        Ok(r.string(&names)?.filter(|v| !v.is_empty()))
    };
    let default_domain_id = get(&["default_domain_id"])?;
    let default_domain_name = get(&["default_domain_name"])?;
    let mut k = KeystoneSettings {
        auth_url: get(&["auth_url"])?.unwrap_or_default(),
        username: get(&["username", "user_name"])?,
        user_id: get(&["user_id"])?,
        password: get(&["password"])?.unwrap_or_default(),
        user_domain_name: get(&["user_domain_name"])?,
        user_domain_id: get(&["user_domain_id"])?,
        project_name: get(&["project_name", "tenant_name"])?,
        project_id: get(&["project_id", "tenant_id"])?,
        project_domain_name: get(&["project_domain_name"])?,
        project_domain_id: get(&["project_domain_id"])?,
        region_name: get(&["region_name"])?,
        interface: get(&["interface"])?,
        cafile: get(&["cafile"])?.map(Into::into),
        insecure: r.bool(&[(GROUP, "insecure")])?.unwrap_or(false),
        ..Default::default()
    };
    if k.user_domain_id.is_none() && k.user_domain_name.is_none() {
        k.user_domain_id.clone_from(&default_domain_id);
        k.user_domain_name.clone_from(&default_domain_name);
    }
    if k.project_domain_id.is_none() && k.project_domain_name.is_none() {
        k.project_domain_id = default_domain_id;
        k.project_domain_name = default_domain_name;
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    use crate::config::ceilometer_conf::CeilometerConf;
    use crate::config::AuthMode;

    fn load(text: &str) -> Result<CeilometerConf, super::ConfError> {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("ceilometer.conf");
        std::fs::write(&file, text).unwrap();
        CeilometerConf::load(&[file], &[])
    }

    #[test]
    fn keystone_password_credentials_become_the_service_credentials_gnocchi_uses() {
        let c = load(
            "[service_credentials]\nauth_type = password\nauth_url = http://ks:5000/v3\n\
             username = ceilometer\npassword = s3cret\nproject_name = service\n\
             user_domain_name = Default\nproject_domain_id = default\n\
             region_name = RegionOne\ninterface = internalURL\n\
             cafile = /etc/ssl/ca.pem\ninsecure = false\n",
        )
        .unwrap();
        let g = &c.settings.gnocchi;
        assert_eq!(g.auth_mode, AuthMode::Keystone);
        let k = c.settings.service_credentials.as_ref().unwrap();
        assert_eq!(c.settings.gnocchi_settings().keystone.as_ref(), Some(k));
        assert_eq!(k.auth_url, "http://ks:5000/v3");
        assert_eq!(k.username.as_deref(), Some("ceilometer"));
        assert_eq!(k.password, "s3cret");
        assert_eq!(k.project_name.as_deref(), Some("service"));
        assert_eq!(k.user_domain_name.as_deref(), Some("Default"));
        assert_eq!(k.project_domain_id.as_deref(), Some("default"));
        assert_eq!(k.region_name.as_deref(), Some("RegionOne"));
        assert_eq!(k.interface().unwrap(), "internal");
        assert_eq!(
            (k.cafile.as_deref(), k.insecure),
            (Some(std::path::Path::new("/etc/ssl/ca.pem")), false)
        );
        assert!(
            c.ignored.is_empty() && c.unknown.is_empty(),
            "{:?} {:?}",
            c.ignored,
            c.unknown
        );
    }

    #[test]
    fn an_application_credential_is_keystoneauths_v3applicationcredential() {
        let c = load(
            "[service_credentials]\nauth_type = v3applicationcredential\nauth_url = http://ks:5000/v3\n\
             application_credential_id = ac1\napplication_credential_secret = s3cret\n",
        )
        .unwrap();
        let k = c.settings.service_credentials.as_ref().unwrap();
        assert_eq!(
            (
                k.application_credential_id.as_deref(),
                k.application_credential_secret.as_deref()
            ),
            (Some("ac1"), Some("s3cret"))
        );
        k.validate().unwrap();
        assert_eq!(c.settings.gnocchi.auth_mode, AuthMode::Keystone);
        assert!(
            c.ignored.is_empty() && c.unknown.is_empty(),
            "{:?} {:?}",
            c.ignored,
            c.unknown
        );
    }

    #[test]
    fn deprecated_names_and_the_default_domain_are_keystoneauths() {
        let c = load(
            "[service_credentials]\nauth_plugin = v3password\nauth_url = http://ks:5000\n\
             user_name = ceilometer\npassword = p\ntenant_name = service\n\
             default_domain_id = default\n",
        )
        .unwrap();
        let k = c.settings.service_credentials.unwrap();
        assert_eq!(k.username.as_deref(), Some("ceilometer"));
        assert_eq!(k.project_name.as_deref(), Some("service"));
        assert_eq!(k.user_domain_id.as_deref(), Some("default"));
        assert_eq!(k.project_domain_id.as_deref(), Some("default"));
    }

    #[test]
    fn gnocchi_basic_and_unsupported_auth_types() {
        let c = load(
            "[service_credentials]\nauth_type = gnocchi-basic\nuser = ceilo\nendpoint = http://g:8041\n",
        )
        .unwrap();
        let g = &c.settings.gnocchi;
        assert_eq!(g.auth_mode, AuthMode::Basic);
        assert_eq!(
            (g.user.as_str(), g.endpoint.as_deref()),
            ("ceilo", Some("http://g:8041"))
        );
        let err = load("[service_credentials]\nauth_type = v3oidcpassword\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("v3oidcpassword") && err.contains("ceilometer.conf:2"),
            "{err}"
        );
        let missing = load("[service_credentials]\nauth_type = password\nusername = u\n")
            .unwrap_err()
            .to_string();
        assert!(missing.contains("auth_url"), "{missing}");
    }

    #[test]
    fn identity_name_discovery_looks_up_with_the_service_credentials() {
        let c = load(
            "[polling]\nidentity_name_discovery = true\n[service_credentials]\nauth_type = password\n\
             auth_url = http://ks:5000/v3\nusername = ceilometer\npassword = p\nuser_domain_id = default\n",
        )
        .unwrap();
        let options = c.settings.polling_options();
        assert!(options.identity_name_discovery);
        assert_eq!(options.keystone.as_ref(), c.settings.service_credentials.as_ref());
        assert!(options.keystone.is_some());
        assert!(c.ignored.is_empty(), "{:?}", c.ignored);
        // Its deprecated name.
        let old = load(
            "[polling]\ntenant_name_discovery = yes\n[service_credentials]\nauth_type = password\n\
                        auth_url = http://ks\nuser_id = u\npassword = p\n",
        )
        .unwrap();
        assert!(old.settings.polling.identity_name_discovery);
        // Nothing to look names up with: said at start, not at the first poll.
        let err = match load("[polling]\nidentity_name_discovery = true\n") {
            Ok(c) => c.settings.validate().unwrap_err(),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains("identity_name_discovery") && err.contains("service_credentials"),
            "{err}"
        );
    }
}
