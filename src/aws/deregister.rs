//! Deregistering an AMI that may have deregistration protection: protection is turned off
//! first, and where it was on with a cooldown, EC2 refuses for 24 hours more, which is said
//! with the time it ends rather than as a failure nobody can act on.

use super::{RegionClients, errors};

/// Why an AMI was not deregistered.
#[derive(Debug, thiserror::Error)]
pub enum DeregisterError {
    /// Protection was on with a cooldown: it is off now, and EC2 refuses until `until`.
    #[error(
        "{ami} had deregistration protection with a cooldown: protection is off now, and EC2 allows deregistering it only after the 24-hour cooldown ({until}); run the same command again then"
    )]
    Cooldown {
        /// The AMI.
        ami: String,
        /// What EC2 says (`disabled-until <time>`).
        until: String,
    },
    /// Any other failure.
    #[error("{0}")]
    Failed(String),
}

/// Deregisters `ami`; an AMI already gone counts as deregistered. Only when EC2 refuses is
/// the AMI's protection looked at, so that the common case costs one call; what the protection
/// was before turning it off decides whether a cooldown follows (EC2 documents no answer of
/// DisableImageDeregistrationProtection that says so).
pub async fn deregister(c: &RegionClients, ami: &str) -> Result<(), DeregisterError> {
    let first = match c.ec2.deregister_image().image_id(ami).send().await {
        Ok(_) => return Ok(()),
        Err(e) if gone(errors::code(&e)) => return Ok(()),
        Err(e) => format!("DeregisterImage {ami}: {}", errors::describe(&e)),
    };
    let before = protection(c, ami).await?;
    let cooldown = |until: String| DeregisterError::Cooldown {
        ami: ami.to_string(),
        until,
    };
    if let Some(until) = before.strip_prefix("disabled-until") {
        return Err(cooldown(until.trim().to_string()));
    }
    if !before.starts_with("enabled") {
        return Err(DeregisterError::Failed(first));
    }
    c.ec2
        .disable_image_deregistration_protection()
        .image_id(ami)
        .send()
        .await
        .map_err(|e| {
            DeregisterError::Failed(format!(
                "turning off deregistration protection of {ami}: {}",
                errors::describe(&e)
            ))
        })?;
    if before == "enabled-with-cooldown" {
        let now = protection(c, ami).await.unwrap_or_default();
        let until = match now.strip_prefix("disabled-until") {
            Some(t) => t.trim().to_string(),
            None => format!(
                "about {}",
                humantime::format_rfc3339_seconds(
                    std::time::SystemTime::now() + std::time::Duration::from_secs(24 * 3600)
                )
            ),
        };
        return Err(cooldown(until));
    }
    match c.ec2.deregister_image().image_id(ami).send().await {
        Ok(_) => Ok(()),
        Err(e) if gone(errors::code(&e)) => Ok(()),
        Err(e) => Err(DeregisterError::Failed(format!(
            "DeregisterImage {ami}: {}",
            errors::describe(&e)
        ))),
    }
}

fn gone(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("InvalidAMIID.NotFound" | "InvalidAMIID.Unavailable")
    )
}

/// What DescribeImages says of `ami`'s protection (`disabled` when it says nothing).
async fn protection(c: &RegionClients, ami: &str) -> Result<String, DeregisterError> {
    let resp = c
        .ec2
        .describe_images()
        .image_ids(ami)
        .send()
        .await
        .map_err(|e| {
            DeregisterError::Failed(format!("DescribeImages {ami}: {}", errors::describe(&e)))
        })?;
    Ok(resp
        .images()
        .first()
        .and_then(|i| i.deregistration_protection())
        .unwrap_or("disabled")
        .to_string())
}
