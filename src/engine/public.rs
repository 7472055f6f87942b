//! Preflight checks for what makes a publish fail long after it started, found before anything
//! launches: regions the account has not enabled, and, for public profiles, AWS blocking new
//! public sharing of AMIs in a region, and the account's quota of public AMIs per region.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_ec2::types::{Filter, ManagedBy};
use futures::future::join_all;

use super::preflight::ExistingAmi;
use crate::aws::{Clients, RegionClients, errors};
use crate::matrix::Build;

/// The state of block public access for AMIs in which new public sharing is refused.
const BLOCKED: &str = "block-new-sharing";

/// AWS's default quota of public AMIs per Region ("Public AMIs" in Service Quotas); a profile
/// whose account has a higher one says so with `public_ami_quota`.
pub const DEFAULT_PUBLIC_AMI_QUOTA: usize = 5;

/// The regions of `regions` the account has not enabled (opt-in regions), asked of EC2 in a
/// region it can reach. `Ok(empty)` when there is none.
pub async fn regions_not_enabled(
    clients: &Clients,
    regions: &BTreeSet<String>,
) -> Result<Vec<String>, String> {
    // us-east-1 is enabled in every account; otherwise the first connected region that
    // answers (a region the account has not enabled does not).
    let mut order: Vec<&str> = clients.regions().collect();
    order.sort_by_key(|r| *r != "us-east-1");
    let mut last = String::from("no region connected");
    let mut answer = None;
    for region in order {
        let Some(c) = clients.try_region(region) else {
            continue;
        };
        match c.ec2.describe_regions().all_regions(true).send().await {
            Ok(out) => {
                answer = Some(out);
                break;
            }
            Err(e) => last = format!("DescribeRegions in {region}: {}", errors::describe(&e)),
        }
    }
    let out = answer.ok_or(last)?;
    Ok(out
        .regions()
        .iter()
        .filter(|r| r.opt_in_status() == Some("not-opted-in"))
        .filter_map(|r| r.region_name())
        .filter(|r| regions.contains(*r))
        .map(str::to_string)
        .collect())
}

/// What would make the public profile's AMIs fail to become public, every region at once.
/// `published`: the builds preflight found already made (they add no public AMI).
pub async fn public_problems(
    clients: &Clients,
    by_region: &BTreeMap<&str, Vec<&Build>>,
    published: &HashMap<String, ExistingAmi>,
    quota: usize,
) -> Vec<String> {
    let checks = by_region.iter().map(|(region, builds)| {
        let new = builds
            .iter()
            .filter(|b| !published.contains_key(&b.name))
            .count();
        check_region(clients.region(region), region, new, quota)
    });
    join_all(checks).await.into_iter().flatten().collect()
}

async fn check_region(c: &RegionClients, region: &str, new: usize, quota: usize) -> Vec<String> {
    let mut problems = Vec::new();
    match c.ec2.get_image_block_public_access_state().send().await {
        Ok(s) if s.image_block_public_access_state() == Some(BLOCKED) => {
            let how = if s.managed_by() == Some(&ManagedBy::DeclarativePolicy) {
                "an organisation's declarative policy sets it: ask its administrators to allow public AMIs in this region"
            } else {
                "turn it off with `aws ec2 disable-image-block-public-access --region REGION`, or publish privately"
            };
            problems.push(format!(
                "{region}: block public access for AMIs is on, so no AMI can be made public there; {}",
                how.replace("REGION", region)
            ));
        }
        Ok(_) => {}
        Err(e) => problems.push(format!(
            "{region}: cannot read block public access for AMIs: {}",
            errors::describe(&e)
        )),
    }
    if new == 0 {
        return problems;
    }
    match public_count(c).await {
        Ok(have) if have + new > quota => problems.push(format!(
            "{region}: this run would make {new} AMI(s) public, the account already has {have} public AMI(s) there, and its quota is {quota}; make older versions private or remove them (`amipub cleanup --region {region} --keep N`), or ask AWS for a higher \"Public AMIs\" quota (then set public_ami_quota in the profile)"
        )),
        Ok(_) => {}
        Err(e) => problems.push(format!("{region}: cannot count the public AMIs: {e}")),
    }
    problems
}

/// How many of the account's AMIs in the region are public.
async fn public_count(c: &RegionClients) -> Result<usize, String> {
    let out = c
        .ec2
        .describe_images()
        .owners("self")
        .filters(Filter::builder().name("is-public").values("true").build())
        .send()
        .await
        .map_err(|e| errors::describe(&e))?;
    Ok(out.images().len())
}
