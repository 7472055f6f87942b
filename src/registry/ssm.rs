//! The channel's SSM parameters: in each region of a version, one parameter per release and
//! virtualization type holding that region's AMI, with data type `aws:ec2:image` (EC2 reads it
//! with `resolve:ssm:`, Terraform with `data "aws_ssm_parameter"`). amipub overwrites only the
//! parameters it wrote (tagged `amipub:registry`), unless forced.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::{ParameterType, ResourceTypeForTagging, Tag};

use super::schema::Version;
use crate::aws::{Clients, errors, tags};
use crate::config::Template;

/// One parameter to point at one AMI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// Its region.
    pub region: String,
    /// Its name.
    pub name: String,
    /// The AMI it must hold.
    pub ami_id: String,
}

/// The parameters of `channel` for `version`'s builds, by region.
pub fn parameters(
    template: &Template,
    artifact: &str,
    channel: &str,
    version: &Version,
) -> BTreeMap<String, Vec<Parameter>> {
    let mut by_region: BTreeMap<String, Vec<Parameter>> = BTreeMap::new();
    for b in version.builds.values() {
        let name = name(
            template,
            artifact,
            channel,
            &b.release,
            (b.virtualization, b.architecture),
        );
        by_region
            .entry(b.region.clone())
            .or_default()
            .push(Parameter {
                region: b.region.clone(),
                name,
                ami_id: b.ami_id.clone(),
            });
    }
    by_region
}

/// The parameter of `channel` for a release, virtualization type and architecture.
pub fn name(
    template: &Template,
    artifact: &str,
    channel: &str,
    release: &str,
    (virt, arch): (crate::config::Virtualization, crate::config::Architecture),
) -> String {
    template.render_by(|p| match p {
        "artifact" => artifact.to_string(),
        "channel" => channel.to_string(),
        "release" => release.to_string(),
        "release_dotted" => crate::config::template::dotted_release(release),
        "virt" => virt.short().to_string(),
        "arch" => arch.as_str().to_string(),
        _ => virt.as_str().to_string(),
    })
}

/// What a region's parameters hold now, by name (absent ones are left out).
pub async fn current(
    clients: &Clients,
    region: &str,
    names: &[String],
) -> Result<BTreeMap<String, String>, String> {
    let ssm = client(clients, region)?;
    let mut found = BTreeMap::new();
    // GetParameters takes at most 10 names.
    for chunk in names.chunks(10) {
        let got = ssm
            .get_parameters()
            .set_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| format!("{region}: GetParameters: {}", errors::describe(&e)))?;
        for p in got.parameters() {
            if let (Some(n), Some(v)) = (p.name(), p.value()) {
                found.insert(n.to_string(), v.to_string());
            }
        }
    }
    Ok(found)
}

/// Points every parameter of `params` (one region's) at its AMI: a new one is created tagged
/// as amipub's, one amipub wrote is overwritten, one it did not write is refused unless
/// `force`. Returns how many changed.
pub async fn write_region(
    clients: &Clients,
    region: &str,
    artifact: &str,
    params: &[Parameter],
    force: bool,
) -> Result<usize, String> {
    let ssm = client(clients, region)?;
    let names: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
    let now = current(clients, region, &names).await?;
    let mut changed = 0;
    for p in params {
        match now.get(&p.name) {
            Some(v) if *v == p.ami_id => continue,
            Some(_) => {
                let ours = written_by_amipub(&ssm, &p.name, artifact).await?;
                if !force && !ours {
                    return Err(format!(
                        "{region}: the parameter {} was not written by amipub for {artifact}; pass --force to overwrite it",
                        p.name
                    ));
                }
                put(&ssm, p, None).await?;
                if !ours {
                    // An overwrite takes no tags: tagged now, so later moves need no --force.
                    tag(&ssm, &p.name, artifact).await?;
                }
            }
            None => put(&ssm, p, Some(artifact)).await?,
        }
        changed += 1;
    }
    confirm(clients, region, params).await?;
    Ok(changed)
}

/// Waits until every parameter holds its AMI: SSM validates `aws:ec2:image` values after
/// PutParameter answers, and does not write one that fails (an AMI that does not exist in the
/// region), so an answer is no proof.
async fn confirm(clients: &Clients, region: &str, params: &[Parameter]) -> Result<(), String> {
    let names: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
    let mut wrong = Vec::new();
    for attempt in 0..10 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
        let now = current(clients, region, &names).await?;
        wrong = params
            .iter()
            .filter(|p| now.get(&p.name) != Some(&p.ami_id))
            .map(|p| format!("{} = {}", p.name, p.ami_id))
            .collect();
        if wrong.is_empty() {
            return Ok(());
        }
    }
    Err(format!(
        "{region}: SSM did not take {} (it checks that each AMI exists in the region after answering)",
        wrong.join(", ")
    ))
}

/// Deletes the parameters of `names` amipub wrote in `region` (a rollback to a version that
/// has no build there); returns the names deleted.
pub async fn delete_region(
    clients: &Clients,
    region: &str,
    artifact: &str,
    names: &[String],
) -> Result<Vec<String>, String> {
    let ssm = client(clients, region)?;
    let mut deleted = Vec::new();
    for name in current(clients, region, names).await?.into_keys() {
        if written_by_amipub(&ssm, &name, artifact).await? {
            ssm.delete_parameter()
                .name(&name)
                .send()
                .await
                .map_err(|e| {
                    format!("{region}: DeleteParameter {name}: {}", errors::describe(&e))
                })?;
            deleted.push(name);
        }
    }
    Ok(deleted)
}

fn client(clients: &Clients, region: &str) -> Result<aws_sdk_ssm::Client, String> {
    clients
        .ssm(region)
        .ok_or_else(|| format!("{region}: no SSM client (this is a bug)"))
}

/// Writes `p`; a new parameter (`tag_for`: the artifact) is tagged in the call that creates
/// it, an existing one overwritten (SSM takes no tags with an overwrite). The data type is
/// sent every time: an overwrite without it would turn the parameter into plain text.
async fn put(
    ssm: &aws_sdk_ssm::Client,
    p: &Parameter,
    tag_for: Option<&str>,
) -> Result<(), String> {
    let mut req = ssm
        .put_parameter()
        .name(&p.name)
        .value(&p.ami_id)
        .r#type(ParameterType::String)
        .data_type("aws:ec2:image")
        .description("amipub: the channel's AMI for this release and virtualization type");
    req = match tag_for {
        Some(artifact) => req.tags(
            Tag::builder()
                .key(tags::REGISTRY)
                .value(artifact)
                .build()
                .map_err(|e| e.to_string())?,
        ),
        None => req.overwrite(true),
    };
    req.send().await.map_err(|e| {
        format!(
            "{}: PutParameter {} = {}: {}",
            p.region,
            p.name,
            p.ami_id,
            errors::describe(&e)
        )
    })?;
    Ok(())
}

/// Tags `name` as the artifact's parameter.
async fn tag(ssm: &aws_sdk_ssm::Client, name: &str, artifact: &str) -> Result<(), String> {
    ssm.add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .tags(
            Tag::builder()
                .key(tags::REGISTRY)
                .value(artifact)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await
        .map_err(|e| format!("AddTagsToResource {name}: {}", errors::describe(&e)))?;
    Ok(())
}

/// Whether amipub wrote `name` for `artifact` (another artifact's parameters are not ours).
async fn written_by_amipub(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    artifact: &str,
) -> Result<bool, String> {
    let got = ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .send()
        .await
        .map_err(|e| format!("ListTagsForResource {name}: {}", errors::describe(&e)))?;
    Ok(got
        .tag_list()
        .iter()
        .any(|t| t.key() == tags::REGISTRY && t.value() == artifact))
}
