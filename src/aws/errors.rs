//! Turning SDK errors into one readable line: the service's code and message where it sent
//! them, the cause chain otherwise (connection refused, timeout).

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_smithy_types::error::display::DisplayErrorContext;

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

/// The error code the service returned, if it returned one.
pub fn code<E>(
    e: &aws_sdk_ec2::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    e.as_service_error().and_then(|s| s.code())
}

/// An error and its causes on one line.
pub fn short(e: &(dyn std::error::Error + 'static)) -> String {
    DisplayErrorContext(e).to_string()
}
