//! Moving channels: `promote` points a channel at a version, `revoke` marks a version revoked
//! and (with rollback) moves its channels back. Every refusal happens before anything changes;
//! parameters are written region by region, and the index moves only once all are written.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::schema::{Channel, Completeness, Move, Pending, Stamp, Version};
use super::{Registry, RegistryError, events, now, operator, ssm};
use crate::engine::Permissions;
use crate::lifecycle::verify::{self, Expected, Verdict};

/// What a promote did.
#[derive(Debug)]
pub struct Promotion {
    /// The channel.
    pub channel: String,
    /// The version it pointed at before.
    pub from: Option<String>,
    /// The version it points at now.
    pub to: String,
    /// Parameters changed, by region.
    pub changed: BTreeMap<String, usize>,
    /// The event could not be put (the promote stands).
    pub event_error: Option<String>,
}

/// Points `channel` at `version`: refused (nothing changed) when the version is unknown,
/// revoked or incomplete, when verifying its AMIs finds a difference, or when the channel is
/// public and an AMI is not. `force` overwrites parameters amipub did not write.
pub async fn promote(
    reg: &Registry<'_>,
    version: &str,
    channel: &str,
    force: bool,
) -> Result<Promotion, RegistryError> {
    let public = channel_is_public(reg, channel)?;
    let doc = promotable(reg, version).await?;
    check_amis(reg, &doc, public, channel).await?;
    let from = claim(reg, channel, version).await?;
    let params = ssm::parameters(reg.parameter, &reg.settings.artifact, channel, &doc);
    let changed = match write_all(reg, &params, force).await {
        Ok(changed) => changed,
        Err(failures) => {
            unclaim(reg, channel).await?;
            return Err(partial(
                channel,
                version,
                from.as_deref(),
                &params,
                &failures,
            ));
        }
    };
    reg.store
        .update_index(|index| {
            let previous = index.channels.get(channel).and_then(|c| c.version.clone());
            move_channel(index, channel, previous, Some(version.to_string()), None);
            Ok(())
        })
        .await?;
    let detail = json!({
        "artifact": reg.settings.artifact,
        "channel": channel,
        "version": version,
        "previous": from,
        "amis": amis_by_region(&doc),
    });
    let event_error = events::put(reg, events::PROMOTED, &detail).await.err();
    Ok(Promotion {
        channel: channel.to_string(),
        from,
        to: version.to_string(),
        changed,
        event_error,
    })
}

fn channel_is_public(reg: &Registry<'_>, channel: &str) -> Result<bool, RegistryError> {
    match reg.settings.channels.get(channel) {
        Some(c) => Ok(c.public),
        None => Err(RegistryError::Refused(format!(
            "the profile has no channel \"{channel}\"; its channels: {}",
            names(reg.settings.channels.keys())
        ))),
    }
}

fn names<'a>(it: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = it.map(String::as_str).collect();
    if v.is_empty() {
        "(none; add them under registry.channels)".into()
    } else {
        v.join(", ")
    }
}

/// The version's document, if the version may be promoted: recorded, not revoked, complete.
async fn promotable(reg: &Registry<'_>, version: &str) -> Result<Version, RegistryError> {
    let index = reg.store.index().await?.doc;
    let Some(summary) = index.versions.get(version) else {
        return Err(RegistryError::Refused(format!(
            "version {version} is not in the registry; versions: {}",
            names(index.versions.keys())
        )));
    };
    if let Some(r) = &summary.revoked {
        return Err(RegistryError::Refused(format!(
            "version {version} was revoked at {} by {}: {}",
            r.at,
            r.by,
            r.reason.as_deref().unwrap_or("no reason given")
        )));
    }
    let doc = reg
        .store
        .version(version)
        .await?
        .ok_or_else(|| {
            RegistryError::Damaged(format!(
                "the index lists version {version}, and its document is missing"
            ))
        })?
        .doc;
    if doc.status == Completeness::Incomplete {
        return Err(RegistryError::Refused(format!(
            "version {version} is incomplete: {} of the profile's builds are missing ({}); publish them first",
            doc.missing.len(),
            doc.missing.join(", ")
        )));
    }
    Ok(doc)
}

/// Verifies the version's AMIs against what it records (exist, available, named, tagged,
/// exactly its permissions); a public channel takes only public AMIs.
async fn check_amis(
    reg: &Registry<'_>,
    doc: &Version,
    public: bool,
    channel: &str,
) -> Result<(), RegistryError> {
    if public {
        let private: Vec<String> = doc
            .builds
            .iter()
            .filter(|(_, b)| !b.permissions.iter().any(|p| p == "group:all"))
            .map(|(n, b)| format!("{n} ({})", b.ami_id))
            .collect();
        if !private.is_empty() {
            return Err(RegistryError::Refused(format!(
                "the channel {channel} is public, and these AMIs of {} are not: {}",
                doc.version,
                private.join(", ")
            )));
        }
    }
    let rows = verify::run(
        reg.clients,
        &expected(doc),
        &doc.version,
        &recorded_permissions(doc),
        &doc.builds.values().map(|b| b.ami_name.clone()).collect(),
    )
    .await;
    let bad: Vec<String> = rows
        .iter()
        .filter(|r| r.result != Verdict::Ok && r.result != Verdict::Unlisted)
        .map(|r| format!("{} {}: {}", r.build, r.ami_id, r.differences.join("; ")))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(RegistryError::Refused(format!(
            "verifying version {} found differences, so it is not promoted:\n  {}",
            doc.version,
            bad.join("\n  ")
        )))
    }
}

fn expected(doc: &Version) -> Vec<Expected> {
    doc.builds
        .iter()
        .map(|(name, b)| Expected {
            build: name.clone(),
            region: b.region.clone(),
            ami_id: b.ami_id.clone(),
            ami_name: Some(b.ami_name.clone()),
        })
        .collect()
}

/// The permissions the version's builds record (they share the profile's).
fn recorded_permissions(doc: &Version) -> Permissions {
    let all: BTreeSet<&String> = doc.builds.values().flat_map(|b| &b.permissions).collect();
    Permissions {
        groups: all
            .iter()
            .filter_map(|p| p.strip_prefix("group:"))
            .map(str::to_string)
            .collect(),
        accounts: all
            .iter()
            .filter_map(|p| p.strip_prefix("account:"))
            .map(str::to_string)
            .collect(),
    }
}

/// Marks the channel as moving to `version`; refused while another move of it is under way
/// (a move to the same version, left by an interrupted promote, is taken over). Returns the
/// version the channel points at.
async fn claim(
    reg: &Registry<'_>,
    channel: &str,
    version: &str,
) -> Result<Option<String>, RegistryError> {
    let mut from = None;
    reg.store
        .update_index(|index| {
            let entry = index.channels.entry(channel.to_string()).or_insert(Channel {
                version: None,
                moved_at: now(),
                pending: None,
            });
            if let Some(p) = &entry.pending
                && p.to != version
            {
                return Err(RegistryError::Refused(format!(
                    "the channel {channel} is being moved to {} by {} (since {}); nothing was changed: try again once that promote is done",
                    p.to, p.stamp.by, p.stamp.at
                )));
            }
            entry.pending = Some(Pending {
                to: version.to_string(),
                stamp: stamp(None),
            });
            from = entry.version.clone();
            Ok(())
        })
        .await?;
    Ok(from)
}

/// Clears the channel's move under way (it failed; the channel stays where it was).
async fn unclaim(reg: &Registry<'_>, channel: &str) -> Result<(), RegistryError> {
    reg.store
        .update_index(|index| {
            if let Some(c) = index.channels.get_mut(channel) {
                c.pending = None;
            }
            Ok(())
        })
        .await?;
    Ok(())
}

/// Points the channel at `to` and records the move.
fn move_channel(
    index: &mut super::schema::Index,
    channel: &str,
    from: Option<String>,
    to: Option<String>,
    reason: Option<String>,
) {
    let at = now();
    index.channels.insert(
        channel.to_string(),
        Channel {
            version: to.clone(),
            moved_at: at.clone(),
            pending: None,
        },
    );
    index.history.push(Move {
        channel: channel.to_string(),
        from,
        to,
        stamp: Stamp {
            at,
            by: operator(),
            reason,
        },
    });
}

fn stamp(reason: Option<String>) -> Stamp {
    Stamp {
        at: now(),
        by: operator(),
        reason,
    }
}

/// Writes every region's parameters, all regions at once; returns how many changed in each,
/// or each region's failure.
async fn write_all(
    reg: &Registry<'_>,
    params: &BTreeMap<String, Vec<ssm::Parameter>>,
    force: bool,
) -> Result<BTreeMap<String, usize>, BTreeMap<String, String>> {
    let writes = params.iter().map(|(region, ps)| async move {
        let r = ssm::write_region(reg.clients, region, &reg.settings.artifact, ps, force).await;
        (region.clone(), r)
    });
    let results = futures::future::join_all(writes).await;
    let mut changed = BTreeMap::new();
    let mut failed = BTreeMap::new();
    for (region, r) in results {
        match r {
            Ok(n) => {
                changed.insert(region, n);
            }
            Err(e) => {
                failed.insert(region, e);
            }
        }
    }
    if failed.is_empty() {
        Ok(changed)
    } else {
        Err(failed)
    }
}

/// The error of a promote whose parameters could not all be written: which regions hold which
/// version now, and what to do.
fn partial(
    channel: &str,
    version: &str,
    from: Option<&str>,
    params: &BTreeMap<String, Vec<ssm::Parameter>>,
    failures: &BTreeMap<String, String>,
) -> RegistryError {
    let mut lines = Vec::new();
    for region in params.keys() {
        match failures.get(region) {
            Some(e) => lines.push(format!("{region}: still {} ({e})", from.unwrap_or("unset"))),
            None => lines.push(format!("{region}: now {version}")),
        }
    }
    RegistryError::Aws(format!(
        "the parameters of {channel} could not all be written, so the channel still points at {} in the registry:\n  {}\nrun the same promote again to finish it",
        from.unwrap_or("nothing"),
        lines.join("\n  ")
    ))
}

/// `{region: {build: ami}}` of a version, for events.
fn amis_by_region(doc: &Version) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (name, b) in &doc.builds {
        out.entry(b.region.clone())
            .or_default()
            .insert(name.clone(), b.ami_id.clone());
    }
    out
}

/// What a revoke did.
#[derive(Debug)]
pub struct Revocation {
    /// Channels moved back: (channel, the version it points at now).
    pub rolled_back: Vec<(String, String)>,
    /// AMIs set to deprecate.
    pub deprecated: Vec<String>,
    /// Events that could not be put (the revoke stands).
    pub event_errors: Vec<String>,
}

/// Marks `version` revoked. A channel pointing at it is refused unless `rollback`, which moves
/// each such channel back to its previous version (parameters first, then the index).
/// `deprecate` sets the version's AMIs to deprecate now.
pub async fn revoke(
    reg: &Registry<'_>,
    version: &str,
    reason: &str,
    rollback: bool,
    deprecate: bool,
) -> Result<Revocation, RegistryError> {
    let index = reg.store.index().await?.doc;
    if !index.versions.contains_key(version) {
        return Err(RegistryError::Refused(format!(
            "version {version} is not in the registry; versions: {}",
            names(index.versions.keys())
        )));
    }
    let targets = rollback_targets(&index, version, rollback)?;
    let doc = reg
        .store
        .version(version)
        .await?
        .ok_or_else(|| {
            RegistryError::Damaged(format!("the document of version {version} is missing"))
        })?
        .doc;
    let mut rolled_back = Vec::new();
    let mut event_errors = Vec::new();
    for (channel, previous) in &targets {
        roll_back(reg, &doc, channel, previous).await?;
        rolled_back.push((channel.clone(), previous.clone()));
    }
    let why = Some(reason.to_string());
    reg.store
        .update_index(|index| {
            if let Some(v) = index.versions.get_mut(version) {
                v.revoked.get_or_insert_with(|| stamp(why.clone()));
            }
            for (channel, previous) in &targets {
                move_channel(
                    index,
                    channel,
                    Some(version.to_string()),
                    Some(previous.clone()),
                    why.clone(),
                );
            }
            Ok(())
        })
        .await?;
    reg.store
        .update_version(
            version,
            || doc.clone(),
            |d| {
                d.revoked.get_or_insert_with(|| stamp(why.clone()));
                Ok(())
            },
        )
        .await?;
    let deprecated = if deprecate {
        deprecate_amis(reg, &doc).await?
    } else {
        Vec::new()
    };
    let detail = json!({
        "artifact": reg.settings.artifact,
        "version": version,
        "reason": reason,
        "rolled_back": rolled_back.iter().map(|(c, v)| json!({"channel": c, "version": v})).collect::<Vec<_>>(),
        "amis": amis_by_region(&doc),
    });
    event_errors.extend(events::put(reg, events::REVOKED, &detail).await.err());
    Ok(Revocation {
        rolled_back,
        deprecated,
        event_errors,
    })
}

/// The channels pointing at `version` and the version each goes back to; refused when one
/// points at it and `rollback` was not asked, or has nothing to go back to.
fn rollback_targets(
    index: &super::schema::Index,
    version: &str,
    rollback: bool,
) -> Result<Vec<(String, String)>, RegistryError> {
    let pointing: Vec<&String> = index
        .channels
        .iter()
        .filter(|(_, c)| c.version.as_deref() == Some(version))
        .map(|(n, _)| n)
        .collect();
    if pointing.is_empty() {
        return Ok(Vec::new());
    }
    let list = pointing
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if !rollback {
        return Err(RegistryError::Refused(format!(
            "the channel(s) {list} point at {version}; pass --rollback to move them back to their previous versions (nothing was changed)"
        )));
    }
    pointing
        .into_iter()
        .map(|c| {
            index
                .previous(c)
                .map(|p| (c.clone(), p))
                .ok_or_else(|| {
                    RegistryError::Refused(format!(
                        "the channel {c} has no earlier version that is not revoked to roll back to (nothing was changed)"
                    ))
                })
        })
        .collect()
}

/// Points `channel`'s parameters back at `previous`; parameters of the revoked version that
/// `previous` has no build for are deleted.
async fn roll_back(
    reg: &Registry<'_>,
    revoked: &Version,
    channel: &str,
    previous: &str,
) -> Result<(), RegistryError> {
    let back = reg
        .store
        .version(previous)
        .await?
        .ok_or_else(|| {
            RegistryError::Damaged(format!("the document of version {previous} is missing"))
        })?
        .doc;
    let artifact = &reg.settings.artifact;
    let params = ssm::parameters(reg.parameter, artifact, channel, &back);
    if let Err(failures) = write_all(reg, &params, false).await {
        return Err(partial(
            channel,
            previous,
            Some(&revoked.version),
            &params,
            &failures,
        ));
    }
    let keep: BTreeSet<&String> = params.values().flatten().map(|p| &p.name).collect();
    for (region, ps) in ssm::parameters(reg.parameter, artifact, channel, revoked) {
        let gone: Vec<String> = ps
            .into_iter()
            .map(|p| p.name)
            .filter(|n| !keep.contains(n))
            .collect();
        if !gone.is_empty() {
            ssm::delete_region(reg.clients, &region, &gone)
                .await
                .map_err(RegistryError::Aws)?;
        }
    }
    Ok(())
}

/// Sets every AMI of `doc` to deprecate now (EC2 takes a time at least a minute ahead).
async fn deprecate_amis(reg: &Registry<'_>, doc: &Version) -> Result<Vec<String>, RegistryError> {
    let at = std::time::SystemTime::now() + std::time::Duration::from_secs(90);
    let mut done = Vec::new();
    for b in doc.builds.values() {
        let c = reg.clients.region(&b.region);
        c.ec2
            .enable_image_deprecation()
            .image_id(&b.ami_id)
            .deprecate_at(aws_smithy_types::DateTime::from(at))
            .send()
            .await
            .map_err(|e| {
                RegistryError::Aws(format!(
                    "{}: EnableImageDeprecation {}: {}",
                    b.region,
                    b.ami_id,
                    crate::aws::errors::describe(&e)
                ))
            })?;
        done.push(format!("{} in {}", b.ami_id, b.region));
    }
    Ok(done)
}
