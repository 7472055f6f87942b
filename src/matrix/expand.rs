//! Expansion of the matrix for a set of regions, with the checks that need rendered values.

use std::collections::{BTreeMap, HashMap};

use super::{Build, build_name};
use crate::config::{Architecture, Config, Diagnostics, Seg, Vars, Virtualization, rules};

/// The names of every cell of the matrix over `regions`, whether or not it has a source AMI.
pub fn cell_names(config: &Config, regions: &[&str]) -> Vec<String> {
    let p = config.p();
    let mut names = Vec::new();
    for &region in regions {
        for release in &p.releases {
            for &virt in &p.virtualizations {
                for &arch in &p.architectures {
                    names.push(build_name(region, release, virt, arch));
                }
            }
        }
    }
    names
}

/// Expands `config` over `regions` (enabled, known to the regions file) into the builds whose
/// names `keep` accepts, ordered by region, release, virtualization type and architecture, or
/// every problem
/// their rendered values have. Cells left out by `keep` are not checked, so that a hole in the
/// matrix can be routed around with `--except`.
pub fn expand(
    config: &Config,
    regions: &[&str],
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<Build>, Diagnostics> {
    let p = config.p();
    let mut diags = Diagnostics::default();
    let mut builds = Vec::new();
    for &region in regions {
        let Some(entry) = config.regions.value.regions.get(region) else {
            continue;
        };
        for release in &p.releases {
            for &virt in &p.virtualizations {
                for &arch in &p.architectures {
                    let cell = Cell {
                        region,
                        release,
                        virt,
                        arch,
                    };
                    let name = build_name(region, release, virt, arch);
                    if !keep(&name) {
                        continue;
                    }
                    match entry.source(release, virt, arch) {
                        Some(source_ami) => builds.push(render(config, &cell, name, source_ami)),
                        None => no_source(config, &cell, &mut diags),
                    }
                }
            }
        }
    }
    check_rendered(config, &builds, &mut diags);
    if diags.is_empty() {
        Ok(builds)
    } else {
        Err(diags)
    }
}

/// One cell of the matrix.
struct Cell<'a> {
    region: &'a str,
    release: &'a str,
    virt: Virtualization,
    arch: Architecture,
}

/// A cell the profile builds that the regions file has no source AMI for.
fn no_source(config: &Config, cell: &Cell<'_>, diags: &mut Diagnostics) {
    let (region, release, virt) = (cell.region, cell.release, cell.virt);
    let arch_label = match cell.arch {
        Architecture::X86_64 => String::new(),
        other => format!(" {other}"),
    };
    diags.push(
        &config.regions_path,
        config.regions.line(&[
            Seg::Key("regions"),
            Seg::Key(region),
            Seg::Key("amis"),
            Seg::Key(release),
        ]),
        format!(
            "{region} has no {}{arch_label} source AMI for release {release}, which the profile builds",
            virt.as_str()
        ),
        Some(format!(
            "add it under regions.{region}.amis.\"{release}\" (amipub sources update --write finds it), or leave {region} out with --region/--except"
        )),
    );
}

/// The build of one cell, its templates rendered.
fn render(config: &Config, cell: &Cell<'_>, name: String, source_ami: &str) -> Build {
    let Cell {
        region,
        release,
        virt,
        arch,
    } = *cell;
    let p = config.p();
    let t = &config.templates;
    let vars = Vars {
        version: &p.version,
        branch: &p.branch,
        region,
        release,
        virt: Some(virt),
        arch: Some(arch),
        build: &name,
    };
    Build {
        env: render_map(&t.env, &vars),
        tags: render_map(&t.tags, &vars),
        ami_name: t.ami_name.render(&vars),
        description: t.description.render(&vars),
        bucket: t.bucket.render_bucket(&vars),
        region: region.to_string(),
        release: release.to_string(),
        virtualization: virt,
        architecture: arch,
        source_ami: source_ami.to_string(),
        backing: p.backing,
        // Checked when the profile was loaded: every built architecture has a type.
        instance_type: p
            .instance_type
            .for_arch_or_all(arch)
            .unwrap_or_default()
            .to_string(),
        copy_of: None,
        name,
    }
}

/// The checks that need rendered values: AMI names (EC2's rules, unique in a region), bucket
/// names, description lengths, build names occurring once. A problem every build shares is
/// said once.
fn check_rendered(config: &Config, builds: &[Build], diags: &mut Diagnostics) {
    let line = |key: &'static str| config.profile.line(&[Seg::Key(key)]);
    let mut names_in_region: HashMap<(&str, &str), &str> = HashMap::new();
    for b in builds {
        if let Some(other) = names_in_region.insert((&b.region, &b.ami_name), &b.name) {
            diags.push(
                &config.profile_path,
                line("ami_name"),
                format!(
                    "ami_name renders \"{}\" for both {other} and {} in {}; AMI names must be unique in a region",
                    b.ami_name, b.name, b.region
                ),
                Some(if config.p().architectures.len() > 1 {
                    "include {release}, {virt} and {arch} in ami_name".into()
                } else {
                    "include {release} and {virt} in ami_name".into()
                }),
            );
        }
    }
    let bad_names: Vec<(&str, String)> = builds
        .iter()
        .filter_map(|b| {
            Some((
                b.ami_name.as_str(),
                rules::check_ami_name(&b.ami_name).err()?,
            ))
        })
        .collect();
    if let Some((example, why)) = bad_names.first() {
        let more = bad_names.len() - 1;
        diags.push(
            &config.profile_path,
            line("ami_name"),
            format!(
                "ami_name renders \"{example}\", which {why}{}",
                if more > 0 {
                    format!(" (and {more} more builds)")
                } else {
                    String::new()
                }
            ),
            Some("change the ami_name template".into()),
        );
    }
    if let Some((bucket, why)) = builds
        .iter()
        .find_map(|b| Some((&b.bucket, rules::check_bucket_name(&b.bucket).err()?)))
    {
        diags.push(
            &config.profile_path,
            line("bucket"),
            format!("bucket renders \"{bucket}\", which {why}"),
            Some("change the bucket template (placeholder values already have dots replaced by hyphens)".into()),
        );
    }
    if let Some(b) = builds.iter().find(|b| b.description.chars().count() > 255) {
        diags.push(
            &config.profile_path,
            line("description"),
            format!(
                "description renders {} characters for {}; EC2 allows 255",
                b.description.chars().count(),
                b.name
            ),
            None,
        );
    }
    let mut seen = HashMap::new();
    for b in builds {
        if seen.insert(b.name.as_str(), ()).is_some() {
            diags.push(
                &config.profile_path,
                None,
                format!("build name {} occurs twice in the matrix", b.name),
                Some("make releases, virtualizations and regions lists free of repeats".into()),
            );
        }
    }
}

fn render_map(
    templates: &BTreeMap<String, crate::config::Template>,
    vars: &Vars<'_>,
) -> BTreeMap<String, String> {
    templates
        .iter()
        .map(|(k, t)| (k.clone(), t.render(vars)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Backing, Virtualization, load};
    use std::path::Path;

    fn official() -> Config {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        load(
            &root.join("configs/official.yaml"),
            &root.join("regions.yaml"),
        )
        .unwrap_or_else(|d| panic!("{d}"))
    }

    #[test]
    fn expands_region_release_virt_in_order() {
        let c = official();
        let b = expand(&c, &["us-east-1", "us-west-2"], |_| true).unwrap();
        let names: Vec<_> = b.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "us-east-1-1204-pv",
                "us-east-1-1204-hvm",
                "us-east-1-1404-pv",
                "us-east-1-1404-hvm",
                "us-west-2-1204-pv",
                "us-west-2-1204-hvm",
                "us-west-2-1404-pv",
                "us-west-2-1404-hvm",
            ]
        );
    }

    #[test]
    fn renders_every_field_of_a_build() {
        let c = official();
        let b = expand(&c, &["us-east-1"], |n| n == "us-east-1-1404-hvm").unwrap();
        assert_eq!(b.len(), 1);
        let b = &b[0];
        assert_eq!(b.region, "us-east-1");
        assert_eq!(b.release, "1404");
        assert_eq!(b.virtualization, Virtualization::Hvm);
        assert_eq!(b.source_ami, "ami-eb6b8480");
        assert_eq!(b.ami_name, "DataStax Auto-Clustering AMI 2.6.2-1404-hvm");
        assert!(b.description.starts_with("Launch a DataStax Enterprise"));
        assert_eq!(b.backing, Backing::InstanceStore);
        assert_eq!(b.instance_type, "m3.medium");
        assert_eq!(b.bucket, "comboami-2-6-2-us-east-1");
        assert_eq!(b.env["COMBOAMI_VERSION"], "2.6.2");
        assert_eq!(b.env["COMBOAMI_BRANCH"], "2.6");
        assert_eq!(b.tags["Project"], "ComboAMI");
        assert_eq!(b.prefix("r1"), "r1/us-east-1-1404-hvm");
    }

    #[test]
    fn cell_names_cover_cells_without_source_amis() {
        let c = official();
        assert_eq!(cell_names(&c, &["us-east-1"]).len(), 4);
        assert_eq!(cell_names(&c, &["us-east-1", "eu-west-1"]).len(), 8);
    }

    #[test]
    fn regions_outside_the_file_expand_to_nothing() {
        let c = official();
        assert!(expand(&c, &["eu-west-3"], |_| true).unwrap().is_empty());
    }
}
