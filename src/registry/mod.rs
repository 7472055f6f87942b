//! The registry: where published versions are recorded and channels kept, in the user's own
//! AWS account (README, "Registry"). Documents live in an S3 bucket ([`store`]); channels are
//! published to deployments as SSM parameters in each region ([`ssm`]) and announced on
//! EventBridge ([`events`]). [`record`] runs after every publish, [`channels`] moves channels
//! (promote, revoke).

pub mod channels;
pub mod events;
pub mod record;
pub mod schema;
pub mod ssm;
pub mod store;

use crate::aws::Clients;
use crate::config::{Config, RegistrySettings, Template};

/// Why a registry operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The operation is refused; nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// Another operator kept changing the same document.
    #[error("{0}")]
    Conflict(String),
    /// A document is not what the registry writes.
    #[error("{0}")]
    Damaged(String),
    /// AWS failed.
    #[error("{0}")]
    Aws(String),
}

/// The registry of a profile: its settings, documents and the clients to reach them.
pub struct Registry<'a> {
    /// The profile's `registry:` section.
    pub settings: &'a RegistrySettings,
    /// The SSM parameter names' template.
    pub parameter: &'a Template,
    /// The documents.
    pub store: store::Store,
    /// Clients of the registry's region and of every region the command touches.
    pub clients: &'a Clients,
}

impl<'a> Registry<'a> {
    /// The registry of `config`, if its profile has one and `clients` include its region.
    pub fn of(config: &'a Config, clients: &'a Clients) -> Option<Registry<'a>> {
        let settings = config.p().registry.as_ref()?;
        let parameter = config.templates.ssm_parameter.as_ref()?;
        let s3 = clients.try_region(&settings.region)?.s3.clone();
        Some(Registry {
            settings,
            parameter,
            store: store::Store::new(s3, &settings.bucket, &settings.artifact),
            clients,
        })
    }
}

/// `user@host`, for the history.
pub fn operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

/// Now, in RFC 3339 (seconds).
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
