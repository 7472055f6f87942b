//! AWS access: one EC2 and one S3 client per region, built once from one shared configuration
//! (the standard credential chain, profiles, `AWS_ENDPOINT_URL`), with timeouts and the SDK's
//! standard retries on every call, and each region's EC2 requests within AWS's rate limits
//! (budget.rs).

pub mod budget;
pub mod deregister;
pub mod errors;
pub mod images;
pub mod tags;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_types::region::Region;

use crate::error::Error;

/// How to reach AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Endpoint for every service (a local emulator); `AWS_ENDPOINT_URL` is honoured too.
    pub endpoint_url: Option<String>,
    /// Named profile.
    pub profile: Option<String>,
    /// The EC2 request budget of each region (AWS's limits unless overridden).
    pub rates: budget::Rates,
}

/// The clients of one region.
#[derive(Clone, Debug)]
pub struct RegionClients {
    /// EC2 in this region.
    pub ec2: aws_sdk_ec2::Client,
    /// S3 in this region.
    pub s3: aws_sdk_s3::Client,
}

/// Clients for every region a run touches, created once and shared.
#[derive(Clone, Debug)]
pub struct Clients {
    by_region: BTreeMap<String, RegionClients>,
    credentials_expire: Option<std::time::SystemTime>,
    /// The configuration the clients were made from, for the clients of other services
    /// (SSM, EventBridge) that some commands need; none for clients a test made.
    shared: Option<aws_types::SdkConfig>,
}

impl Clients {
    /// Loads the shared configuration, checks that credentials can be found, and creates the
    /// clients of `regions`.
    pub async fn connect<'a>(
        settings: &AwsSettings,
        regions: impl IntoIterator<Item = &'a str>,
    ) -> Result<Clients, Error> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .retry_config(RetryConfig::standard().with_max_attempts(6))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .operation_timeout(Duration::from_secs(300))
                    .build(),
            );
        if let Some(p) = &settings.profile {
            loader = loader.profile_name(p);
        }
        if let Some(u) = &settings.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        let shared = loader.load().await;
        let custom_endpoint = shared.endpoint_url().is_some();
        let profile_named = settings.profile.is_some() || std::env::var_os("AWS_PROFILE").is_some();
        let credentials_expire = check_credentials(&shared, custom_endpoint, profile_named).await?;

        let http = shared.http_client().unwrap_or_else(https_client);
        let mut by_region = BTreeMap::new();
        for r in regions {
            let budget = std::sync::Arc::new(budget::Budget::new(settings.rates.clone()));
            let ec2 = aws_sdk_ec2::config::Builder::from(&shared)
                .region(Region::new(r.to_string()))
                .http_client(budget::Budgeted::new(http.clone(), budget))
                .interceptor(budget::NameOperation)
                .build();
            // A local endpoint has no per-bucket host names, so S3 must use path-style URLs.
            let s3 = aws_sdk_s3::config::Builder::from(&shared)
                .region(Region::new(r.to_string()))
                .force_path_style(custom_endpoint)
                .request_checksum_calculation(
                    aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
                )
                .build();
            by_region.insert(
                r.to_string(),
                RegionClients {
                    ec2: aws_sdk_ec2::Client::from_conf(ec2),
                    s3: aws_sdk_s3::Client::from_conf(s3),
                },
            );
        }
        Ok(Clients {
            by_region,
            credentials_expire,
            shared: Some(shared),
        })
    }

    /// An SSM client for `region`, from the same configuration (credentials, endpoint,
    /// retries, timeouts) as the others.
    pub fn ssm(&self, region: &str) -> Option<aws_sdk_ssm::Client> {
        let conf = aws_sdk_ssm::config::Builder::from(self.shared.as_ref()?)
            .region(Region::new(region.to_string()))
            .build();
        Some(aws_sdk_ssm::Client::from_conf(conf))
    }

    /// An EventBridge client for `region`, from the same configuration as the others.
    pub fn events(&self, region: &str) -> Option<aws_sdk_eventbridge::Client> {
        let conf = aws_sdk_eventbridge::config::Builder::from(self.shared.as_ref()?)
            .region(Region::new(region.to_string()))
            .build();
        Some(aws_sdk_eventbridge::Client::from_conf(conf))
    }

    /// The endpoint every client was pointed at (`--endpoint-url`, `AWS_ENDPOINT_URL`), if one
    /// was.
    pub fn endpoint(&self) -> Option<&str> {
        self.shared.as_ref()?.endpoint_url()
    }

    /// When the credentials found at connection expire (temporary credentials), which is
    /// also when every URL they presign stops working.
    pub fn credentials_expire(&self) -> Option<std::time::SystemTime> {
        self.credentials_expire
    }

    /// Clients made elsewhere (the engine's tests give it the SDK's mock clients).
    pub fn from_parts(
        by_region: BTreeMap<String, RegionClients>,
        credentials_expire: Option<std::time::SystemTime>,
    ) -> Clients {
        Clients {
            by_region,
            credentials_expire,
            shared: None,
        }
    }

    /// The clients of `region`; every region of the run was connected up front.
    pub fn region(&self, region: &str) -> &RegionClients {
        self.by_region
            .get(region)
            .unwrap_or_else(|| panic!("no clients for {region}: connect() was not given it"))
    }

    /// The clients of `region`, if it was connected.
    pub fn try_region(&self, region: &str) -> Option<&RegionClients> {
        self.by_region.get(region)
    }

    /// The connected regions, in name order.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.by_region.keys().map(String::as_str)
    }
}

/// The SDK's default HTTPS client (rustls, proxies from the environment), shared by every
/// region's clients so that connections are pooled.
fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::{Builder, ConnectorBuilder, tls};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut conn = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        conn.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            conn.set_sleep_impl(components.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    })
}

/// Finds the credentials the chain gives; returns when they expire, if they do.
async fn check_credentials(
    shared: &aws_types::SdkConfig,
    custom_endpoint: bool,
    profile_named: bool,
) -> Result<Option<std::time::SystemTime>, Error> {
    let advice = "amipub needs AWS credentials: set AWS_PROFILE (or --aws-profile) to a profile \
of ~/.aws/config, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run on an instance with a \
role. To try amipub without an AWS account, run scripts/demo, or point it at a local emulator \
with --endpoint-url (or AWS_ENDPOINT_URL) and any test credentials.";
    let Some(provider) = shared.credentials_provider() else {
        return Err(Error::AwsSetup(advice.into()));
    };
    match tokio::time::timeout(Duration::from_secs(20), provider.provide_credentials()).await {
        Ok(Ok(c)) => Ok(c.expiry()),
        // What went wrong with a named profile helps; the chain's last word otherwise (the
        // instance metadata service refusing, on a machine that is no instance) does not.
        Ok(Err(e)) if profile_named => Err(Error::AwsSetup(format!(
            "no AWS credentials found for the profile ({}).\n{advice}",
            errors::short(&e)
        ))),
        Ok(Err(_)) => Err(Error::AwsSetup(format!(
            "no AWS credentials found: none in the environment, the shared config and \
             credentials files, SSO or an instance role.\n{advice}"
        ))),
        Err(_) if custom_endpoint => Err(Error::AwsSetup(format!(
            "looking for AWS credentials timed out.\n{advice}"
        ))),
        Err(_) => Err(Error::AwsSetup(format!(
            "looking for AWS credentials timed out (no profile, no environment variables, no \
instance role answered).\n{advice}"
        ))),
    }
}
