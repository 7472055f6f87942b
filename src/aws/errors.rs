//! Turning SDK errors into one readable line: the service's code and message where it sent
//! them, the cause chain otherwise (connection refused, timeout).

use aws_sdk_ec2::error::ProvideErrorMetadata;

/// `Code: message` of a service error, or the whole cause chain of any other error.
pub fn describe<E>(
    e: &aws_sdk_ec2::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let Some(service) = e.as_service_error() {
        match (service.code(), service.message()) {
            (Some(c), Some(m)) => return format!("{c}: {m}"),
            (Some(c), None) => return c.to_string(),
            _ => {}
        }
    }
    short(e)
}

/// A failed AWS call: which operation, on what, the code AWS answered with (for code that
/// reacts to it) and the whole story for people.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}{}: {detail}", resource.as_deref().map(|r| format!(" {r}")).unwrap_or_default())]
pub struct AwsError {
    /// The API operation (`RunInstances`).
    pub operation: &'static str,
    /// The resource it acted on, when it had one (`ami-0123...`).
    pub resource: Option<String>,
    /// The service's error code, when it answered with one (`InsufficientInstanceCapacity`).
    pub code: Option<String>,
    /// [`describe`] of the error.
    pub detail: String,
}

impl AwsError {
    /// The failure of `operation` on `resource`.
    pub fn new<E>(
        operation: &'static str,
        resource: Option<&str>,
        e: &aws_sdk_ec2::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
    ) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        AwsError {
            operation,
            resource: resource.map(str::to_string),
            code: code(e).map(str::to_string),
            detail: describe(e),
        }
    }
}

/// The error code the service returned, if it returned one.
pub fn code<E>(
    e: &aws_sdk_ec2::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    e.as_service_error().and_then(|s| s.code())
}

/// An error and its causes on one line, each cause's message once ("dispatch failure: io
/// error: tcp connect error: Connection refused (os error 111)").
pub fn short(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let msg = err.to_string();
        if !msg.is_empty() && !parts.iter().any(|p| p.contains(&msg)) {
            parts.push(msg);
        }
        cur = err.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn chain_is_joined_without_repeats() {
        let e = E(
            "dispatch failure",
            Some(Box::new(E("io error", Some(Box::new(E("io error", None)))))),
        );
        assert_eq!(short(&e), "dispatch failure: io error");
    }
}
