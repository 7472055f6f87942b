//! Signing material of instance-store builds: the AWS account ID, the X.509 certificate and its
//! private key that `ec2-bundle-vol` signs the bundle with.
//!
//! They come from a git-ignored local settings file (`local.yaml`, the role the legacy kit's
//! local.json played; `local.example.yaml` shows it) or from environment variables, which win
//! item by item. The values live in `secrecy` boxes so that no `Debug`, log line, event or
//! error message can show them; messages name the item and where it was looked for, never its
//! content.

use std::path::{Path, PathBuf};

use secrecy::{SecretSlice, SecretString};
use serde::Deserialize;

use super::rules;

/// Environment variable with the account ID (12 digits).
pub const ENV_ACCOUNT_ID: &str = "AMIPUB_ACCOUNT_ID";
/// Environment variable with the certificate: a file path, or the PEM text itself.
pub const ENV_CERTIFICATE: &str = "AMIPUB_SIGNING_CERT";
/// Environment variable with the private key: a file path, or the PEM text itself.
pub const ENV_PRIVATE_KEY: &str = "AMIPUB_SIGNING_KEY";

/// The local settings file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalSettings {
    /// As written; an unquoted one is refused (other YAML readers lose its leading zeros).
    account_id: Option<String>,
    certificate: Option<String>,
    private_key: Option<String>,
}

/// What an instance-store build signs its bundle with. Nothing here prints its content.
pub struct SigningMaterial {
    /// The AWS account ID the bundle is made for.
    pub account_id: SecretString,
    /// The X.509 certificate (PEM).
    pub certificate: SecretSlice<u8>,
    /// Its private key (PEM).
    pub private_key: SecretSlice<u8>,
    /// Things the user should fix that do not stop the run (a key readable by others).
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for SigningMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningMaterial([redacted])")
    }
}

/// Loads the signing material from `settings` (a missing file is fine when `explicit` is false:
/// the environment may provide everything) and the environment as `env` reads it. Every
/// problem is returned at once, each naming the missing or bad item and how to provide it.
pub fn load(
    settings: &Path,
    explicit: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Result<SigningMaterial, Vec<String>> {
    let mut l = Loader {
        settings,
        env: |k: &str| env(k).filter(|v| !v.trim().is_empty()),
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let (file, account_unquoted) = l.read_settings(explicit);
    let account_id = l.account(file.account_id.as_deref(), account_unquoted);
    let certificate = l.pem(&CERTIFICATE, file.certificate.as_deref());
    let private_key = l.pem(&PRIVATE_KEY, file.private_key.as_deref());
    match (account_id, certificate, private_key) {
        (Some(account_id), Some(certificate), Some(private_key)) if l.problems.is_empty() => {
            Ok(SigningMaterial {
                account_id,
                certificate,
                private_key,
                warnings: l.warnings,
            })
        }
        _ => Err(l.problems),
    }
}

/// A PEM item of the signing material, and where it may come from.
struct Pem {
    /// For people: `certificate`, `key`.
    item: &'static str,
    /// Its key in the settings file.
    key: &'static str,
    /// Its environment variable.
    var: &'static str,
    /// A line every such PEM holds.
    marker: &'static str,
    /// Secret: its file should be readable by its owner only.
    secret: bool,
}

const CERTIFICATE: Pem = Pem {
    item: "certificate",
    key: "certificate",
    var: ENV_CERTIFICATE,
    marker: "-----BEGIN CERTIFICATE-----",
    secret: false,
};

const PRIVATE_KEY: Pem = Pem {
    item: "key",
    key: "private_key",
    var: ENV_PRIVATE_KEY,
    marker: "PRIVATE KEY-----",
    secret: true,
};

/// One load of the signing material: its sources and what it found wrong.
struct Loader<'a, E> {
    settings: &'a Path,
    env: E,
    problems: Vec<String>,
    warnings: Vec<String>,
}

impl<E: Fn(&str) -> Option<String>> Loader<'_, E> {
    /// The settings file (empty when it is missing and was not named), and whether its
    /// account ID is written without quotes.
    fn read_settings(&mut self, explicit: bool) -> (LocalSettings, bool) {
        let settings = self.settings;
        let file = match super::yaml::read_bounded(settings, super::yaml::MAX_FILE_BYTES) {
            Ok(text) => {
                let mut diags = super::Diagnostics::default();
                let parsed = super::yaml::parse::<LocalSettings>(settings, &text, &mut diags);
                // The parser's messages quote keys and positions, never values.
                self.problems
                    .extend(diags.items().iter().map(ToString::to_string));
                parsed
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => None,
            Err(e) => {
                self.problems.push(format!("{}: {e}", settings.display()));
                None
            }
        };
        let file = file.unwrap_or_else(|| super::yaml::Located::empty(LocalSettings::default()));
        let unquoted = file.unquoted(&[super::Seg::Key("account_id")]);
        (file.value, unquoted)
    }

    fn how(&self, key: &str, var: &str) -> String {
        format!(
            "set {key} in {} (copy local.example.yaml) or the environment variable {var}",
            self.settings.display()
        )
    }

    /// The account ID, from the environment or the file (`unquoted`: written without quotes).
    fn account(&mut self, from_file: Option<&str>, unquoted: bool) -> Option<SecretString> {
        let in_file = format!("account_id in {}", self.settings.display());
        match ((self.env)(ENV_ACCOUNT_ID), from_file) {
            (Some(v), _) => check_account(v.trim(), ENV_ACCOUNT_ID, &mut self.problems),
            (None, Some(s)) if !unquoted || !s.bytes().all(|b| b.is_ascii_digit()) => {
                check_account(s.trim(), &in_file, &mut self.problems)
            }
            (None, Some(_)) => {
                self.problems.push(format!(
                    "{in_file} must be a quoted string, e.g. \"012345678901\", so that leading zeros survive"
                ));
                None
            }
            (None, None) => {
                let how = self.how("account_id", ENV_ACCOUNT_ID);
                self.problems
                    .push(format!("the signing account ID is missing: {how}"));
                None
            }
        }
    }

    /// A PEM item, from its environment variable (the PEM itself, or a file) or the file the
    /// settings name.
    fn pem(&mut self, pem: &Pem, from_file: Option<&str>) -> Option<SecretSlice<u8>> {
        let base = self.settings.parent().unwrap_or(Path::new("."));
        let source = match ((self.env)(pem.var), from_file) {
            (Some(v), _) if v.trim_start().starts_with("-----BEGIN") => {
                Source::Text(pem.var.to_string(), v.into_bytes())
            }
            (Some(v), _) => Source::File(pem.var.to_string(), expand_home(&v, Path::new("."))),
            (None, Some(p)) => Source::File(
                format!("{} in {}", pem.key, self.settings.display()),
                expand_home(p, base),
            ),
            (None, None) => {
                let how = self.how(pem.key, pem.var);
                self.problems
                    .push(format!("the signing {} is missing: {how}", pem.item));
                return None;
            }
        };
        let (origin, bytes) = self.read_source(pem, source)?;
        if !String::from_utf8_lossy(&bytes).contains(pem.marker) {
            self.problems.push(format!(
                "the signing {item} {origin} is not a PEM {item} (no \"{marker}\" line)",
                item = pem.item,
                marker = pem.marker
            ));
            return None;
        }
        Some(SecretSlice::from(bytes))
    }

    /// The bytes of `source`, and where they came from for messages.
    fn read_source(&mut self, pem: &Pem, source: Source) -> Option<(String, Vec<u8>)> {
        let (origin, path) = match source {
            Source::Text(origin, bytes) => return Some((origin, bytes)),
            Source::File(origin, path) => (origin, path),
        };
        // A certificate or key is a few KiB; a bound keeps a device or a huge file out.
        match super::yaml::read_bounded(&path, 1 << 20) {
            Ok(text) => {
                if pem.secret
                    && let Some(w) = readable_by_others(&path)
                {
                    self.warnings.push(w);
                }
                Some((format!("{} ({origin})", path.display()), text.into_bytes()))
            }
            Err(e) => {
                self.problems.push(format!(
                    "the signing {} {} ({origin}) cannot be read: {e}",
                    pem.item,
                    path.display()
                ));
                None
            }
        }
    }
}

enum Source {
    Text(String, Vec<u8>),
    File(String, PathBuf),
}

fn check_account(id: &str, origin: &str, problems: &mut Vec<String>) -> Option<SecretString> {
    match rules::check_account_id(id) {
        Ok(()) => Some(SecretString::from(id.to_string())),
        Err(_) => {
            // The rule's message quotes the value; the account ID is kept out of messages.
            problems.push(format!(
                "the signing account ID ({origin}) must be 12 digits, e.g. \"012345678901\""
            ));
            None
        }
    }
}

/// `~/x` under $HOME; a relative path against `base` (the settings file's directory).
fn expand_home(p: &str, base: &Path) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    let path = PathBuf::from(p);
    if path.is_absolute() {
        path
    } else {
        base.join(path)
    }
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o044 != 0).then(|| {
        format!(
            "the signing key {} is readable by other users (mode {:04o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o7777,
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn readable_by_others(_: &Path) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n";
    const KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nU0VDUkVU\n-----END RSA PRIVATE KEY-----\n";

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn reads_the_settings_file_with_paths_relative_to_it() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("cert.pem"), CERT).unwrap();
        std::fs::write(d.path().join("pk.pem"), KEY).unwrap();
        let settings = d.path().join("local.yaml");
        std::fs::write(
            &settings,
            "account_id: \"012345678901\"\ncertificate: cert.pem\nprivate_key: pk.pem\n",
        )
        .unwrap();
        let m = load(&settings, true, no_env).unwrap();
        assert_eq!(m.account_id.expose_secret(), "012345678901");
        assert_eq!(m.certificate.expose_secret(), CERT.as_bytes());
        assert_eq!(m.private_key.expose_secret(), KEY.as_bytes());
        assert_eq!(format!("{m:?}"), "SigningMaterial([redacted])");
    }

    #[test]
    fn environment_wins_and_may_hold_pem_text() {
        let d = tempfile::tempdir().unwrap();
        let env = |k: &str| match k {
            ENV_ACCOUNT_ID => Some("111122223333".to_string()),
            ENV_CERTIFICATE => Some(CERT.to_string()),
            ENV_PRIVATE_KEY => Some(KEY.to_string()),
            _ => None,
        };
        let m = load(&d.path().join("absent.yaml"), false, env).unwrap();
        assert_eq!(m.account_id.expose_secret(), "111122223333");
        assert_eq!(m.private_key.expose_secret(), KEY.as_bytes());
    }

    #[test]
    fn every_missing_item_is_named_and_no_value_is_quoted() {
        let d = tempfile::tempdir().unwrap();
        let settings = d.path().join("local.yaml");
        std::fs::write(&settings, "account_id: \"98765\"\n").unwrap();
        let problems = load(&settings, false, no_env).unwrap_err();
        let all = problems.join("\n");
        assert_eq!(problems.len(), 3, "{all}");
        assert!(
            all.contains("account ID") && all.contains("12 digits"),
            "{all}"
        );
        assert!(
            !all.contains("98765"),
            "the account ID is not quoted: {all}"
        );
        assert!(all.contains("certificate is missing") && all.contains(ENV_CERTIFICATE));
        assert!(all.contains("key is missing") && all.contains(ENV_PRIVATE_KEY));
    }

    #[test]
    fn a_file_that_is_not_pem_is_refused_without_showing_it() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("pk.pem"), "top secret bytes").unwrap();
        let env = |k: &str| match k {
            ENV_ACCOUNT_ID => Some("111122223333".to_string()),
            ENV_CERTIFICATE => Some(CERT.to_string()),
            ENV_PRIVATE_KEY => Some(d.path().join("pk.pem").display().to_string()),
            _ => None,
        };
        let problems = load(&d.path().join("none.yaml"), false, env).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("is not a PEM key"), "{problems:?}");
        assert!(!problems[0].contains("top secret"));
    }

    #[cfg(unix)]
    #[test]
    fn warns_when_the_key_is_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let key = d.path().join("pk.pem");
        std::fs::write(&key, KEY).unwrap();
        let env = |k: &str| match k {
            ENV_ACCOUNT_ID => Some("111122223333".to_string()),
            ENV_CERTIFICATE => Some(CERT.to_string()),
            ENV_PRIVATE_KEY => Some(key.display().to_string()),
            _ => None,
        };
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let m = load(&d.path().join("none.yaml"), false, env).unwrap();
        assert_eq!(m.warnings.len(), 1);
        assert!(m.warnings[0].contains("chmod 600"), "{:?}", m.warnings);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let m = load(&d.path().join("none.yaml"), false, env).unwrap();
        assert!(m.warnings.is_empty());
    }
}
