//! Events on EventBridge after publish, promote and revoke (source `amipub`), so that a rule can
//! start the deployment's next run. A failed put is reported and undoes nothing.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::Value;

use super::Registry;
use crate::aws::errors;

/// The event a publish sends.
pub const PUBLISHED: &str = "Image Version Published";
/// The event a promote (and a rollback) sends.
pub const PROMOTED: &str = "Channel Promoted";
/// The event a revoke sends.
pub const REVOKED: &str = "Version Revoked";

/// Puts one event of `detail_type` with `detail` on the registry's bus.
pub async fn put(reg: &Registry<'_>, detail_type: &str, detail: &Value) -> Result<(), String> {
    let client = reg
        .clients
        .events(&reg.settings.region)
        .ok_or("no EventBridge client (this is a bug)")?;
    let mut entry = PutEventsRequestEntry::builder()
        .source("amipub")
        .detail_type(detail_type)
        .detail(detail.to_string());
    if let Some(bus) = &reg.settings.event_bus {
        entry = entry.event_bus_name(bus);
    }
    let out = client
        .put_events()
        .entries(entry.build())
        .send()
        .await
        .map_err(|e| format!("PutEvents: {}", errors::describe(&e)))?;
    if out.failed_entry_count() > 0 {
        let why = out
            .entries()
            .iter()
            .filter_map(|e| e.error_message())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(format!("EventBridge refused the event: {why}"));
    }
    Ok(())
}
