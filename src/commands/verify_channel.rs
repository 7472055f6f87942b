//! `amipub verify --channel NAME`: every region's SSM parameters of a channel against the
//! registry: correct, missing, wrong (another AMI), or unexpected (a parameter of the channel
//! where its version has no build).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::registry::{failed, open, registry};
use crate::error::Error;
use crate::options::{OutputFormat, RegistryOptions, VerifyOptions};
use crate::plan::table;
use crate::registry::{Registry, ssm};

/// What one parameter came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Found {
    Correct,
    Missing,
    Wrong,
    Unexpected,
}

#[derive(Debug, Serialize)]
struct Row {
    region: String,
    parameter: String,
    expected: Option<String>,
    actual: Option<String>,
    result: Found,
}

/// Runs `amipub verify --channel CHANNEL`.
pub async fn run(args: &VerifyOptions, channel: &str) -> Result<(), Error> {
    let opts = RegistryOptions {
        config: args.config.clone(),
        regions_file: args.regions_file.clone(),
        format: args.format,
        aws: args.aws.clone(),
    };
    let (config, clients) = open(&opts).await?;
    let reg = registry(&config, &clients)?;
    if !reg.settings.channels.contains_key(channel) {
        return Err(Error::Usage(vec![format!(
            "the profile has no channel \"{channel}\""
        )]));
    }
    let index = reg.store.index().await.map_err(failed)?.doc;
    let version = index.channels.get(channel).and_then(|c| c.version.clone());
    let expected = match &version {
        Some(v) => match reg.store.version(v).await.map_err(failed)? {
            Some(read) => {
                ssm::parameters(reg.parameter, &reg.settings.artifact, channel, &read.doc)
            }
            None => {
                return Err(Error::Failed(format!(
                    "the document of version {v} is missing"
                )));
            }
        },
        None => BTreeMap::new(),
    };
    let rows = compare(&reg, &config, channel, &expected).await?;
    let bad = rows.iter().filter(|r| r.result != Found::Correct).count();
    print(&rows, args.format, channel, version.as_deref(), bad == 0);
    if bad > 0 {
        return Err(Error::Failed(format!(
            "{bad} parameter(s) of {channel} differ from the registry"
        )));
    }
    Ok(())
}

/// Every parameter the channel has or should have, in every region the profile builds in or
/// the version has builds in.
async fn compare(
    reg: &Registry<'_>,
    config: &crate::config::Config,
    channel: &str,
    expected: &BTreeMap<String, Vec<ssm::Parameter>>,
) -> Result<Vec<Row>, Error> {
    let p = config.p();
    let mut regions: BTreeSet<String> = crate::registry::record::profile_builds_regions(config);
    regions.extend(expected.keys().cloned());
    let mut rows = Vec::new();
    for region in regions {
        let want: BTreeMap<String, String> = expected
            .get(&region)
            .into_iter()
            .flatten()
            .map(|p| (p.name.clone(), p.ami_id.clone()))
            .collect();
        let mut names: BTreeSet<String> = want.keys().cloned().collect();
        for release in &p.releases {
            for &virt in &p.virtualizations {
                for &arch in &p.architectures {
                    names.insert(ssm::name(
                        reg.parameter,
                        &reg.settings.artifact,
                        channel,
                        release,
                        (virt, arch),
                    ));
                }
            }
        }
        let names: Vec<String> = names.into_iter().collect();
        let have = ssm::current(reg.clients, &region, &names)
            .await
            .map_err(Error::Failed)?;
        for name in names {
            let (expected, actual) = (want.get(&name).cloned(), have.get(&name).cloned());
            let result = match (&expected, &actual) {
                (None, None) => continue,
                (Some(e), Some(a)) if e == a => Found::Correct,
                (Some(_), Some(_)) => Found::Wrong,
                (Some(_), None) => Found::Missing,
                (None, Some(_)) => Found::Unexpected,
            };
            rows.push(Row {
                region: region.clone(),
                parameter: name,
                expected,
                actual,
                result,
            });
        }
    }
    Ok(rows)
}

fn print(rows: &[Row], format: OutputFormat, channel: &str, version: Option<&str>, ok: bool) {
    if format == OutputFormat::Json {
        let out = serde_json::json!({
            "schema_version": 1,
            "channel": channel,
            "version": version,
            "ok": ok,
            "results": rows,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("in-memory JSON")
        );
        return;
    }
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.region.clone(),
                r.parameter.clone(),
                r.expected.clone().unwrap_or_else(|| "-".into()),
                r.actual.clone().unwrap_or_else(|| "-".into()),
                serde_json::to_value(r.result)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["REGION", "PARAMETER", "EXPECTED", "ACTUAL", "RESULT"],
            &cells
        )
    );
    let correct = rows.iter().filter(|r| r.result == Found::Correct).count();
    println!(
        "{channel} -> {}: {correct} of {} parameter(s) as the registry says",
        version.unwrap_or("(nothing)"),
        rows.len()
    );
}
