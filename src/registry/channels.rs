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
            let err = partial(
                channel,
                version,
                from.as_deref(),
                &params,
                &failures,
                "promote",
            );
            return Err(match unclaim(reg, channel).await {
                Ok(()) => err,
                Err(e) => RegistryError::Aws(format!(
                    "{err}\nand the channel's move could not be cleared ({e}); the same promote takes it over"
                )),
            });
        }
    };
    let mut warnings = Vec::new();
    if let Some(old) = from.as_deref().filter(|old| *old != version)
        && let Err(e) = remove_stale(reg, channel, old, &params).await
    {
        warnings.push(e);
    }
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
    warnings.extend(events::put(reg, events::PROMOTED, &detail).await.err());
    let event_error = (!warnings.is_empty()).then(|| warnings.join("; "));
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
        &verify::Wants {
            permissions: recorded_permissions(doc),
            // The registry records no settings; the version's own verify checked them.
            ami: Default::default(),
            backing: crate::config::Backing::Ebs,
        },
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
            architecture: Some(b.architecture),
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

/// How long a channel's move under way holds off other moves: one older than this was left by
/// an interrupted promote, and is taken over.
const CLAIM_LASTS: std::time::Duration = std::time::Duration::from_secs(15 * 60);

fn stale(stamp: &Stamp) -> bool {
    humantime::parse_rfc3339(&stamp.at)
        .ok()
        .and_then(|at| at.elapsed().ok())
        .is_some_and(|age| age > CLAIM_LASTS)
}

/// Marks the channel as moving to `version`; refused while another move of it is under way
/// (one to the same version, or older than [`CLAIM_LASTS`], is taken over) and when the
/// version was revoked meanwhile. Returns the version the channel points at.
async fn claim(
    reg: &Registry<'_>,
    channel: &str,
    version: &str,
) -> Result<Option<String>, RegistryError> {
    let mut from = None;
    reg.store
        .update_index(|index| {
            if index.versions.get(version).is_some_and(|v| v.revoked.is_some()) {
                return Err(RegistryError::Refused(format!(
                    "version {version} was revoked meanwhile; nothing was changed"
                )));
            }
            let entry = index.channels.entry(channel.to_string()).or_insert(Channel {
                version: None,
                moved_at: now(),
                pending: None,
            });
            if let Some(p) = &entry.pending
                && p.to != version
                && !stale(&p.stamp)
            {
                return Err(RegistryError::Refused(format!(
                    "the channel {channel} is being moved to {} by {} (since {}); nothing was changed: try again once that promote is done (a move left for {} is taken over)",
                    p.to,
                    p.stamp.by,
                    p.stamp.at,
                    humantime::format_duration(CLAIM_LASTS)
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

/// Deletes the parameters of `channel` that version `old` had and the new set `now` does not
/// (a region or a release the new version has no build for), so that no region keeps serving
/// the old AMI.
async fn remove_stale(
    reg: &Registry<'_>,
    channel: &str,
    old: &str,
    now: &BTreeMap<String, Vec<ssm::Parameter>>,
) -> Result<(), String> {
    let Some(read) = reg.store.version(old).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let artifact = &reg.settings.artifact;
    let keep: BTreeSet<(&str, &str)> = now
        .values()
        .flatten()
        .map(|p| (p.region.as_str(), p.name.as_str()))
        .collect();
    for (region, ps) in ssm::parameters(reg.parameter, artifact, channel, &read.doc) {
        let gone: Vec<String> = ps
            .iter()
            .filter(|p| !keep.contains(&(p.region.as_str(), p.name.as_str())))
            .map(|p| p.name.clone())
            .collect();
        if !gone.is_empty() {
            ssm::delete_region(reg.clients, &region, artifact, &gone).await?;
        }
    }
    Ok(())
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
    command: &str,
) -> RegistryError {
    let mut lines = Vec::new();
    for region in params.keys() {
        match failures.get(region) {
            Some(e) => lines.push(format!(
                "{region}: still {} or partly moved ({e})",
                from.unwrap_or("unset")
            )),
            None => lines.push(format!("{region}: now {version}")),
        }
    }
    RegistryError::Aws(format!(
        "the parameters of {channel} could not all be written, so the channel still points at {} in the registry:\n  {}\nrun the same {command} again to finish it",
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
    /// What did not happen and undoes nothing (events, deprecations).
    pub event_errors: Vec<String>,
}

/// Marks `version` revoked. A channel pointing at it (or being moved to it) is refused unless
/// `rollback`, which moves each such channel back to its previous version: every previous
/// version is read first, then parameters are written, then the index changes, refused if a
/// channel moved meanwhile. `deprecate` sets the version's AMIs to deprecate now.
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
    let doc = document(reg, version).await?;
    let mut targets = Vec::new();
    for (channel, previous) in rollback_targets(&index, version, rollback)? {
        let back = document(reg, &previous).await?;
        targets.push((channel, back));
    }
    for (channel, back) in &targets {
        roll_back(reg, &doc, channel, back).await?;
    }
    let why = Some(reason.to_string());
    reg.store
        .update_index(|index| {
            for (channel, back) in &targets {
                let c = index.channels.get(channel);
                let still = c.is_some_and(|c| {
                    c.version.as_deref() == Some(version)
                        || c.pending.as_ref().is_some_and(|p| p.to == version)
                        || c.version.as_deref() == Some(back.version.as_str())
                });
                if !still {
                    return Err(RegistryError::Conflict(format!(
                        "the channel {channel} was moved by someone else meanwhile; run the same revoke again"
                    )));
                }
                move_channel(
                    index,
                    channel,
                    Some(version.to_string()),
                    Some(back.version.clone()),
                    why.clone(),
                );
            }
            if let Some(v) = index.versions.get_mut(version) {
                v.revoked.get_or_insert_with(|| stamp(why.clone()));
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
    let mut warnings = Vec::new();
    let deprecated = if deprecate {
        deprecate_amis(reg, &doc, &mut warnings).await
    } else {
        Vec::new()
    };
    let rolled_back: Vec<(String, String)> = targets
        .iter()
        .map(|(c, back)| (c.clone(), back.version.clone()))
        .collect();
    announce(reg, &doc, reason, &targets, &mut warnings).await;
    Ok(Revocation {
        rolled_back,
        deprecated,
        event_errors: warnings,
    })
}

/// A version's document (it must exist: the index lists it).
async fn document(reg: &Registry<'_>, version: &str) -> Result<Version, RegistryError> {
    Ok(reg
        .store
        .version(version)
        .await?
        .ok_or_else(|| {
            RegistryError::Damaged(format!(
                "the document of version {version} is missing; nothing was changed"
            ))
        })?
        .doc)
}

/// `Version Revoked`, and a `Channel Promoted` for each channel rolled back (a deployment
/// following the channel must move too).
async fn announce(
    reg: &Registry<'_>,
    doc: &Version,
    reason: &str,
    targets: &[(String, Version)],
    warnings: &mut Vec<String>,
) {
    for (channel, back) in targets {
        let detail = json!({
            "artifact": reg.settings.artifact,
            "channel": channel,
            "version": back.version,
            "previous": doc.version,
            "amis": amis_by_region(back),
        });
        warnings.extend(events::put(reg, events::PROMOTED, &detail).await.err());
    }
    let detail = json!({
        "artifact": reg.settings.artifact,
        "version": doc.version,
        "reason": reason,
        "rolled_back": targets.iter().map(|(c, v)| json!({"channel": c, "version": v.version})).collect::<Vec<_>>(),
        "amis": amis_by_region(doc),
    });
    warnings.extend(events::put(reg, events::REVOKED, &detail).await.err());
}

/// The channels pointing at `version` (or being moved to it) and the version each goes back
/// to; refused when there is one and `rollback` was not asked, or one has nothing to go back to.
fn rollback_targets(
    index: &super::schema::Index,
    version: &str,
    rollback: bool,
) -> Result<Vec<(String, String)>, RegistryError> {
    let pointing: Vec<&String> = index
        .channels
        .iter()
        .filter(|(_, c)| {
            c.version.as_deref() == Some(version)
                || c.pending.as_ref().is_some_and(|p| p.to == version)
        })
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
            "the channel(s) {list} point at {version} (or are being moved to it); pass --rollback to move them back to their previous versions (nothing was changed)"
        )));
    }
    pointing
        .into_iter()
        .map(|c| {
            // A channel only being moved to the version goes back to where it points.
            let current = index.channels.get(c).and_then(|ch| ch.version.clone());
            let back = match current {
                Some(v) if v != version => Some(v),
                _ => index.previous(c),
            };
            back.map(|p| (c.clone(), p)).ok_or_else(|| {
                RegistryError::Refused(format!(
                    "the channel {c} has no earlier version that is not revoked to roll back to (nothing was changed)"
                ))
            })
        })
        .collect()
}

/// Points `channel`'s parameters back at `back`; parameters of the revoked version that `back`
/// has no build for (in that region) are deleted.
async fn roll_back(
    reg: &Registry<'_>,
    revoked: &Version,
    channel: &str,
    back: &Version,
) -> Result<(), RegistryError> {
    let artifact = &reg.settings.artifact;
    let params = ssm::parameters(reg.parameter, artifact, channel, back);
    if let Err(failures) = write_all(reg, &params, false).await {
        return Err(partial(
            channel,
            &back.version,
            Some(&revoked.version),
            &params,
            &failures,
            "revoke",
        ));
    }
    remove_stale(reg, channel, &revoked.version, &params)
        .await
        .map_err(RegistryError::Aws)
}

/// Sets every AMI of `doc` to deprecate now (EC2 takes a time at least a minute ahead); what
/// fails is a warning: the revoke stands.
async fn deprecate_amis(
    reg: &Registry<'_>,
    doc: &Version,
    warnings: &mut Vec<String>,
) -> Vec<String> {
    let at = std::time::SystemTime::now() + std::time::Duration::from_secs(90);
    let mut done = Vec::new();
    for b in doc.builds.values() {
        let Some(c) = reg.clients.try_region(&b.region) else {
            warnings.push(format!(
                "{}: not connected; {} not deprecated",
                b.region, b.ami_id
            ));
            continue;
        };
        let sent = c
            .ec2
            .enable_image_deprecation()
            .image_id(&b.ami_id)
            .deprecate_at(aws_smithy_types::DateTime::from(at))
            .send()
            .await;
        match sent {
            Ok(_) => done.push(format!("{} in {}", b.ami_id, b.region)),
            Err(e) => warnings.push(format!(
                "{}: EnableImageDeprecation {}: {}",
                b.region,
                b.ami_id,
                crate::aws::errors::describe(&e)
            )),
        }
    }
    done
}
