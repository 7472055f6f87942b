//! Finding the newest upstream image of one cell in one region: the publisher's SSM parameter
//! first (the region's own), then DescribeImages by owner and name pattern, newest by creation
//! date. A found image is accepted only if it is available and of the cell's architecture and
//! virtualization type, whatever the parameter or pattern said.

use aws_sdk_ec2::types::{Filter, Image};

use super::{Cell, Found, Templates};
use crate::aws::{RegionClients, errors};

/// Why a region's lookups could not be made.
#[derive(Debug, thiserror::Error)]
#[error("{region}: {operation}: {detail}")]
pub struct LookupError {
    /// The region asked.
    pub region: String,
    /// The call that failed.
    pub operation: &'static str,
    /// What AWS said.
    pub detail: String,
}

/// The newest image of `cell`, or `None` when neither a parameter nor the pattern finds one.
pub async fn newest(
    c: &RegionClients,
    ssm: &aws_sdk_ssm::Client,
    t: &Templates,
    cell: &Cell,
) -> Result<Option<Found>, LookupError> {
    let fail = |operation, detail| LookupError {
        region: cell.region.clone(),
        operation,
        detail,
    };
    for template in &t.parameters {
        let name = t.render(template, cell);
        let Some(id) = parameter(ssm, &name)
            .await
            .map_err(|e| fail("GetParameter", e))?
        else {
            continue;
        };
        let images = describe(c, vec![id_filter(&id)])
            .await
            .map_err(|e| fail("DescribeImages", e))?;
        if let Some(img) = images.iter().find(|i| fits(i, cell, t.ebs_only)) {
            return Ok(Some(found(img)));
        }
    }
    let pattern = t.render(&t.name_pattern, cell);
    let mut images = describe_owned(c, &t.owner, &pattern, cell)
        .await
        .map_err(|e| fail("DescribeImages", e))?;
    images.retain(|i| fits(i, cell, t.ebs_only));
    // Creation dates are RFC 3339 in UTC, so text order is time order.
    let newest = images
        .iter()
        .max_by_key(|i| i.creation_date().unwrap_or(""));
    Ok(newest.map(found))
}

/// A parameter's value; `None` when it does not exist in the region.
async fn parameter(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Option<String>, String> {
    match ssm.get_parameter().name(name).send().await {
        Ok(r) => Ok(r.parameter().and_then(|p| p.value()).map(str::to_string)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_not_found()) =>
        {
            Ok(None)
        }
        Err(e) => Err(errors::describe(&e)),
    }
}

fn id_filter(id: &str) -> Filter {
    Filter::builder().name("image-id").values(id).build()
}

async fn describe(c: &RegionClients, filters: Vec<Filter>) -> Result<Vec<Image>, String> {
    c.ec2
        .describe_images()
        .set_filters(Some(filters))
        .send()
        .await
        .map(|r| r.images().to_vec())
        .map_err(|e| errors::describe(&e))
}

async fn describe_owned(
    c: &RegionClients,
    owner: &str,
    pattern: &str,
    cell: &Cell,
) -> Result<Vec<Image>, String> {
    let filter = |name: &str, value: &str| Filter::builder().name(name).values(value).build();
    c.ec2
        .describe_images()
        .owners(owner)
        .filters(filter("name", pattern))
        .filters(filter("architecture", cell.arch.as_str()))
        .filters(filter("virtualization-type", cell.virt.as_str()))
        .filters(filter("state", "available"))
        .send()
        .await
        .map(|r| r.images().to_vec())
        .map_err(|e| errors::describe(&e))
}

/// Whether `img` can be `cell`'s source.
fn fits(img: &Image, cell: &Cell, ebs_only: bool) -> bool {
    let ebs = img.root_device_type().map(|t| t.as_str()) == Some("ebs");
    (ebs || !ebs_only)
        && img.state() == Some(&aws_sdk_ec2::types::ImageState::Available)
        && img.architecture().map(|a| a.as_str()) == Some(cell.arch.as_str())
        && img.virtualization_type().map(|v| v.as_str()) == Some(cell.virt.as_str())
}

fn found(img: &Image) -> Found {
    Found {
        ami_id: img.image_id().unwrap_or_default().to_string(),
        name: img.name().unwrap_or_default().to_string(),
        created: img.creation_date().unwrap_or_default().to_string(),
    }
}
