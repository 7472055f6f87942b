//! After a publish: the version in the profile's registry, and its event.

use serde_json::json;

use crate::aws::Clients;
use crate::config::Config;
use crate::events::Outcome;
use crate::matrix::Build;
use crate::registry::{Registry, events, record};

/// Records what `outcomes` published in the registry, when the profile has one and anything
/// was published; says so on standard output. A failed event is a warning.
pub async fn record(
    run: &crate::options::RunOptions,
    config: &Config,
    clients: &Clients,
    builds: &[Build],
    outcomes: &[Outcome],
) -> Result<(), String> {
    let Some(reg) = Registry::of(config, clients) else {
        return Ok(());
    };
    if !outcomes
        .iter()
        .any(|o| matches!(o, Outcome::Published { .. }))
    {
        return Ok(());
    }
    let commit = git_commit().await;
    let doc = record::record(&reg, config, builds, outcomes, commit)
        .await
        .map_err(|e| e.to_string())?;
    let missing = if doc.missing.is_empty() {
        String::new()
    } else {
        format!(
            " ({} build(s) missing: run the rest to complete it)",
            doc.missing.len()
        )
    };
    run.tell(&format!(
        "registry: {} {} recorded in s3://{}, {}{missing}\n",
        doc.artifact,
        doc.version,
        reg.store.bucket(),
        doc.status.as_str()
    ));
    let detail = json!({
        "artifact": doc.artifact,
        "version": doc.version,
        "status": doc.status,
        "missing": doc.missing,
        "amis": doc.builds.iter().map(|(n, b)| json!({"build": n, "region": b.region, "ami_id": b.ami_id})).collect::<Vec<_>>(),
    });
    if let Err(e) = events::put(&reg, events::PUBLISHED, &detail).await {
        eprintln!("warning: the version is recorded, but its event was not sent: {e}");
    }
    Ok(())
}

/// The commit of the git checkout amipub runs in, if it runs in one.
async fn git_commit() -> Option<String> {
    let git = crate::release::git::Git::new(std::path::Path::new("."));
    git.commit_of("HEAD").await.ok().flatten()
}
