//! Secrets from outside the config files, and kept out of everything ceilo writes.
//!
//! The transport URL (which holds the broker password) and `publisher.telemetry_secret` each
//! come from the first of:
//! 1. the environment: `CEILO_TRANSPORT_URL`, `CEILO_TELEMETRY_SECRET` (the value itself);
//! 2. a file named in ceilo.yaml: `transport_url_file`, `publisher.telemetry_secret_file` (its
//!    content, without trailing newlines), e.g. a systemd credential or a container secret;
//! 3. the option itself, in ceilo.yaml or ceilometer.conf.
//!
//! `--transport-url` on the command line still wins over all of them (and shows in `ps`).
//!
//! Every secret the settings end up with (broker passwords, the telemetry secret, Gnocchi's
//! password) is remembered, so that [`redact`] can blank it out of whatever ceilo prints — a log
//! line of ceilo or of a library, at any level, or `ceilo check`'s report. ceilo's own messages
//! already mask URLs ([`crate::transport::mask`]) and never print a secret; this is the net
//! under them. This module does not decide where logs go.

use std::borrow::Cow;
use std::path::Path;
use std::sync::RwLock;

use super::Settings;

/// The transport URL, password included; wins over `transport_url` and `transport_url_file`.
pub const TRANSPORT_URL_ENV: &str = "CEILO_TRANSPORT_URL";
/// The telemetry secret; wins over `publisher.telemetry_secret` and its `_file`.
pub const TELEMETRY_SECRET_ENV: &str = "CEILO_TELEMETRY_SECRET";

/// Secrets shorter than this are not redacted: blanking every `abc` of every line would make
/// logs unreadable and hide nothing worth hiding.
const MIN_REDACTED: usize = 4;

/// Take the secrets from the environment and the files the settings name (see the module
/// doc), then remember them for [`redact`]. Idempotent: run after every source of settings.
pub fn resolve(settings: &mut Settings) -> Result<(), String> {
    resolve_with(settings, |name| std::env::var(name).ok())
}

/// [`resolve`] with the environment given.
pub fn resolve_with(settings: &mut Settings, env: impl Fn(&str) -> Option<String>) -> Result<(), String> {
    // Remembered before anything is checked, so that no error can show them.
    let url_file = match &settings.transport_url_file {
        Some(path) => Some((
            read_secret(path, "transport_url_file")?,
            path.display().to_string(),
        )),
        None => None,
    };
    let url_env = env(TRANSPORT_URL_ENV).filter(|v| !v.is_empty());
    if let Some(path) = &settings.publisher.telemetry_secret_file {
        settings.publisher.telemetry_secret = read_secret(path, "publisher.telemetry_secret_file")?;
    }
    if let Some(secret) = env(TELEMETRY_SECRET_ENV).filter(|v| !v.is_empty()) {
        settings.publisher.telemetry_secret = secret;
    }
    remember(settings);
    let taken = match (url_env, url_file) {
        (Some(url), _) => Some((url, TRANSPORT_URL_ENV.to_owned())),
        (None, Some((url, path))) => Some((url, format!("transport_url_file {path}"))),
        (None, None) => None,
    };
    if let Some((url, from)) = taken {
        register_url(&url);
        // Said here, naming where the URL came from (the settings' own check would name the
        // config file).
        crate::transport::check_url(&url, &settings.rabbit).map_err(|e| format!("{from}: {e}"))?;
        settings.transport_url = url;
    }
    Ok(())
}

/// The file's content without trailing newlines; an empty one is refused (an empty secret
/// would turn signing off, an empty URL is no broker). The error never holds the content.
fn read_secret(path: &Path, option: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{option} {}: {e}", path.display()))?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(format!("{option} {}: the file is empty", path.display()));
    }
    Ok(value.to_owned())
}

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remember every secret `settings` holds.
fn remember(settings: &Settings) {
    let urls = std::iter::once(&settings.transport_url).chain(&settings.notification.messaging_urls);
    for url in urls {
        register_url(url);
    }
    let default_secret = super::PublisherSettings::default().telemetry_secret;
    if settings.publisher.telemetry_secret != default_secret {
        register(&settings.publisher.telemetry_secret);
    }
    register(&settings.gnocchi.password);
    let keystone = settings
        .gnocchi
        .keystone
        .iter()
        .chain(&settings.service_credentials);
    for k in keystone {
        register(&k.password);
        if let Some(secret) = &k.application_credential_secret {
            register(secret);
        }
    }
}

/// Remember the password of `url` (a transport URL from anywhere, `--transport-url` included).
pub fn register_url(url: &str) {
    for password in crate::transport::url::passwords(url) {
        register(password);
    }
}

/// Remember `secret` (and its URL-decoded form) for [`redact`].
pub fn register(secret: &str) {
    let decoded = percent_decode(secret);
    let mut secrets = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    for s in [secret, decoded.as_str()] {
        if s.len() >= MIN_REDACTED && !secrets.iter().any(|known| known == s) {
            secrets.push(s.to_owned());
        }
    }
    // The longest first: a secret that contains another is blanked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every remembered secret replaced by `***`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), "***"));
        }
    }
    out
}

/// `%XX` escapes decoded (invalid ones kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_environment_wins_over_the_file_which_wins_over_the_option() {
        let dir = tempfile::tempdir().unwrap();
        let url_file = dir.path().join("url");
        std::fs::write(&url_file, "amqp://u:from-file@h/\n").unwrap();
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, "file-secret\r\n").unwrap();
        let mut s = Settings {
            transport_url: "amqp://u:from-option@h/".into(),
            transport_url_file: Some(url_file),
            ..Default::default()
        };
        s.publisher.telemetry_secret_file = Some(secret_file);
        resolve_with(&mut s, env(&[])).unwrap();
        assert_eq!(s.transport_url, "amqp://u:from-file@h/");
        assert_eq!(s.publisher.telemetry_secret, "file-secret");
        resolve_with(
            &mut s,
            env(&[
                (TRANSPORT_URL_ENV, "amqp://u:from-env@h/"),
                (TELEMETRY_SECRET_ENV, "env-secret"),
            ]),
        )
        .unwrap();
        assert_eq!(s.transport_url, "amqp://u:from-env@h/");
        assert_eq!(s.publisher.telemetry_secret, "env-secret");
        // An empty variable is no value.
        let mut s = Settings::default();
        resolve_with(&mut s, env(&[(TELEMETRY_SECRET_ENV, "")])).unwrap();
        assert_eq!(s.publisher.telemetry_secret, "change this for valid signing");
    }

    #[test]
    fn an_unreadable_or_empty_secret_file_is_an_error_naming_it_not_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::default();
        s.publisher.telemetry_secret_file = Some(dir.path().join("missing"));
        let e = resolve_with(&mut s, env(&[])).unwrap_err();
        assert!(e.starts_with("publisher.telemetry_secret_file "), "{e}");
        assert!(e.contains("missing: No such file"), "{e}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let mut s = Settings {
            transport_url_file: Some(empty),
            ..Default::default()
        };
        let e = resolve_with(&mut s, env(&[])).unwrap_err();
        assert!(e.ends_with("the file is empty"), "{e}");
        // A bad URL is reported with where it came from, its password masked.
        let bad = dir.path().join("bad-url");
        std::fs::write(&bad, "amqp://u:Hidden-Pw-1@h:notaport/").unwrap();
        let mut s = Settings {
            transport_url_file: Some(bad.clone()),
            ..Default::default()
        };
        let e = resolve_with(&mut s, env(&[])).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "transport_url_file {}: invalid transport URL",
                bad.display()
            )),
            "{e}"
        );
        let e = resolve_with(&mut s, env(&[(TRANSPORT_URL_ENV, "kafka://u:Hidden-Pw-2@k/")])).unwrap_err();
        assert!(e.starts_with("CEILO_TRANSPORT_URL: invalid transport URL"), "{e}");
        assert!(!e.contains("Hidden-Pw"), "{e}");
    }

    #[test]
    fn remembered_secrets_are_redacted_in_both_url_forms() {
        let mut s = Settings::default();
        resolve_with(
            &mut s,
            env(&[
                (TRANSPORT_URL_ENV, "amqp://ceilo:p%40ss-w0rd-9@rabbit/"),
                (TELEMETRY_SECRET_ENV, "sign-with-this-key"),
            ]),
        )
        .unwrap();
        assert_eq!(
            redact("url amqp://ceilo:p%40ss-w0rd-9@rabbit/ pw p@ss-w0rd-9 key sign-with-this-key"),
            "url amqp://ceilo:***@rabbit/ pw *** key ***"
        );
        assert!(matches!(redact("nothing secret"), Cow::Borrowed(_)));
        register("abc");
        assert_eq!(redact("abc"), "abc", "too short to be worth blanking");
    }
}
