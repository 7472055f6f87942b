//! `amipub registry versions|show`, `promote`, `revoke` and `channels`: the registry of the
//! profile's `registry:` section (README, "Registry").

use std::collections::BTreeSet;

use serde_json::json;

use super::prompt::confirmed;
use crate::aws::Clients;
use crate::config::{self, Config};
use crate::error::Error;
use crate::options::{OutputFormat, PromoteOptions, RegistryOptions, RevokeOptions};
use crate::plan::table;
use crate::registry::{Registry, RegistryError, channels as moves, record};

/// The profile, and clients of its registry's region, every region it builds in and every
/// region a recorded version has builds in.
pub(crate) async fn open(opts: &RegistryOptions) -> Result<(Config, Clients), Error> {
    let config = config::load(&opts.config, &opts.regions_file).map_err(Error::Config)?;
    let Some(settings) = config.p().registry.as_ref() else {
        return Err(Error::Usage(vec![format!(
            "{} has no registry: section; add one (README, \"Registry\")",
            opts.config.display()
        )]));
    };
    let home = Clients::connect(&opts.aws, [settings.region.as_str()]).await?;
    let index = registry(&config, &home)?
        .store
        .index()
        .await
        .map_err(failed)?
        .doc;
    let mut regions: BTreeSet<String> = record::profile_builds_regions(&config);
    regions.insert(settings.region.clone());
    regions.extend(
        index
            .versions
            .values()
            .flat_map(|v| v.regions.iter().cloned()),
    );
    let clients = Clients::connect(&opts.aws, regions.iter().map(String::as_str)).await?;
    Ok((config, clients))
}

pub(crate) fn registry<'a>(
    config: &'a Config,
    clients: &'a Clients,
) -> Result<Registry<'a>, Error> {
    Registry::of(config, clients)
        .ok_or_else(|| Error::Usage(vec!["the profile has no usable registry: section".into()]))
}

pub(crate) fn failed(e: RegistryError) -> Error {
    Error::Failed(e.to_string())
}

fn print_json(v: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("in-memory JSON")
    );
}

/// `amipub registry versions`.
pub async fn versions(opts: &RegistryOptions) -> Result<(), Error> {
    let (config, clients) = open(opts).await?;
    let reg = registry(&config, &clients)?;
    let index = reg.store.index().await.map_err(failed)?.doc;
    if opts.format == OutputFormat::Json {
        print_json(&serde_json::to_value(&index).expect("in-memory JSON"));
        return Ok(());
    }
    let rows: Vec<[String; 6]> = index
        .versions
        .iter()
        .map(|(v, s)| {
            let on: Vec<&str> = index
                .channels
                .iter()
                .filter(|(_, c)| c.version.as_deref() == Some(v))
                .map(|(n, _)| n.as_str())
                .collect();
            [
                v.clone(),
                s.status.as_str().to_string(),
                s.builds.to_string(),
                s.created_at.clone(),
                on.join(", "),
                s.revoked
                    .as_ref()
                    .map(|r| format!("revoked {}: {}", r.at, r.reason.as_deref().unwrap_or("")))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "VERSION", "STATUS", "BUILDS", "CREATED", "CHANNELS", "REVOKED"
            ],
            &rows
        )
    );
    Ok(())
}

/// `amipub registry show VERSION`.
pub async fn show(opts: &RegistryOptions, version: &str) -> Result<(), Error> {
    let (config, clients) = open(opts).await?;
    let reg = registry(&config, &clients)?;
    let Some(read) = reg.store.version(version).await.map_err(failed)? else {
        return Err(Error::Failed(format!(
            "version {version} is not in the registry s3://{}",
            reg.store.bucket()
        )));
    };
    let doc = read.doc;
    if opts.format == OutputFormat::Json {
        print_json(&serde_json::to_value(&doc).expect("in-memory JSON"));
        return Ok(());
    }
    println!(
        "{} {}: {}, {} build(s){}",
        doc.artifact,
        doc.version,
        doc.status.as_str(),
        doc.builds.len(),
        doc.git_commit
            .as_ref()
            .map(|c| format!(", commit {c}"))
            .unwrap_or_default()
    );
    let rows: Vec<[String; 5]> = doc
        .builds
        .iter()
        .map(|(n, b)| {
            [
                n.clone(),
                b.region.clone(),
                b.ami_id.clone(),
                b.source_ami.clone(),
                b.run_id.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["BUILD", "REGION", "AMI", "SOURCE", "RUN"], &rows)
    );
    if !doc.missing.is_empty() {
        println!("missing: {}", doc.missing.join(", "));
    }
    if let Some(r) = &doc.revoked {
        println!(
            "revoked {} by {}: {}",
            r.at,
            r.by,
            r.reason.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

/// `amipub channels`.
pub async fn channels(opts: &RegistryOptions) -> Result<(), Error> {
    let (config, clients) = open(opts).await?;
    let reg = registry(&config, &clients)?;
    let index = reg.store.index().await.map_err(failed)?.doc;
    let public = |c: &str| reg.settings.channels.get(c).is_some_and(|s| s.public);
    if opts.format == OutputFormat::Json {
        let list: Vec<_> = reg
            .settings
            .channels
            .keys()
            .map(|name| {
                let c = index.channels.get(name);
                json!({
                    "channel": name,
                    "public": public(name),
                    "version": c.and_then(|c| c.version.clone()),
                    "moved_at": c.map(|c| c.moved_at.clone()),
                    "moving_to": c.and_then(|c| c.pending.as_ref().map(|p| p.to.clone())),
                })
            })
            .collect();
        print_json(&json!({"schema_version": 1, "artifact": index.artifact, "channels": list}));
        return Ok(());
    }
    let rows: Vec<[String; 4]> = reg
        .settings
        .channels
        .keys()
        .map(|name| {
            let c = index.channels.get(name);
            let version = c
                .and_then(|c| c.version.clone())
                .unwrap_or_else(|| "-".into());
            let moving = c
                .and_then(|c| c.pending.as_ref())
                .map(|p| format!(" (moving to {})", p.to))
                .unwrap_or_default();
            [
                name.clone(),
                if public(name) { "public" } else { "private" }.to_string(),
                format!("{version}{moving}"),
                c.map(|c| c.moved_at.clone()).unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["CHANNEL", "VISIBILITY", "VERSION", "MOVED"], &rows)
    );
    Ok(())
}

/// `amipub promote VERSION --channel NAME`.
pub async fn promote(opts: &PromoteOptions) -> Result<(), Error> {
    let (config, clients) = open(&opts.registry).await?;
    let reg = registry(&config, &clients)?;
    let question = format!("Point {} at {}?", opts.channel, opts.version);
    if !confirmed(&question, opts.yes).await {
        return Err(Error::Usage(vec![
            "not confirmed; nothing was changed".into(),
        ]));
    }
    let p = moves::promote(&reg, &opts.version, &opts.channel, opts.force)
        .await
        .map_err(failed)?;
    if opts.registry.format == OutputFormat::Json {
        print_json(&json!({
            "schema_version": 1,
            "channel": p.channel,
            "from": p.from,
            "to": p.to,
            "parameters_changed": p.changed,
            "event_error": p.event_error,
        }));
    } else {
        println!(
            "{}: {} -> {}",
            p.channel,
            p.from.as_deref().unwrap_or("(none)"),
            p.to
        );
        for (region, n) in &p.changed {
            println!("  {region}: {n} parameter(s) changed");
        }
    }
    if let Some(e) = p.event_error {
        eprintln!("warning: the channel moved, but its event was not sent: {e}");
    }
    Ok(())
}

/// `amipub revoke VERSION --reason TEXT`.
pub async fn revoke(opts: &RevokeOptions) -> Result<(), Error> {
    let (config, clients) = open(&opts.registry).await?;
    let reg = registry(&config, &clients)?;
    let question = format!("Revoke {} ({})?", opts.version, opts.reason);
    if !confirmed(&question, opts.yes).await {
        return Err(Error::Usage(vec![
            "not confirmed; nothing was changed".into(),
        ]));
    }
    let r = moves::revoke(
        &reg,
        &opts.version,
        &opts.reason,
        opts.rollback,
        opts.deprecate,
    )
    .await
    .map_err(failed)?;
    if opts.registry.format == OutputFormat::Json {
        print_json(&json!({
            "schema_version": 1,
            "version": opts.version,
            "rolled_back": r.rolled_back.iter().map(|(c, v)| json!({"channel": c, "version": v})).collect::<Vec<_>>(),
            "deprecated": r.deprecated,
            "event_errors": r.event_errors,
        }));
    } else {
        println!("{} is revoked: {}", opts.version, opts.reason);
        for (c, v) in &r.rolled_back {
            println!("  {c}: {} -> {v}", opts.version);
        }
        for a in &r.deprecated {
            println!("  deprecated {a}");
        }
    }
    for e in &r.event_errors {
        eprintln!("warning: the revoke stands, but its event was not sent: {e}");
    }
    Ok(())
}
