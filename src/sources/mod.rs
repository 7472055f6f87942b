//! `sources update`: the newest upstream image of every cell the profile builds (release,
//! virtualization type, architecture) in every enabled region of the regions file, compared
//! with what the file holds; `edit` writes the changes into the file keeping its layout.

pub mod edit;
pub mod lookup;

use futures::future::join_all;
use tokio::sync::Semaphore;

use crate::aws::Clients;
use crate::config::template::{Template, dotted_release};
use crate::config::{Architecture, Profile, RegionsFile, Virtualization};

/// The placeholders of the `sources:` templates.
pub const PLACEHOLDERS: &[&str] = &["release", "arch", "virtualization"];

/// One source image the regions file may hold.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cell {
    /// Region.
    pub region: String,
    /// Release as keyed in the file (`2404`).
    pub release: String,
    /// Virtualization type.
    pub virt: Virtualization,
    /// Architecture.
    pub arch: Architecture,
}

/// An upstream image found for a cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its ID.
    pub ami_id: String,
    /// Its name.
    pub name: String,
    /// Its creation date (RFC 3339).
    pub created: String,
}

/// A cell whose image is not the newest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The cell.
    pub cell: Cell,
    /// What the file holds now, if anything.
    pub old: Option<String>,
    /// The newest image.
    pub new: Found,
}

/// What a lookup of every cell found.
#[derive(Debug, Default)]
pub struct Update {
    /// Cells to change.
    pub changes: Vec<Change>,
    /// Cells checked.
    pub checked: usize,
    /// Cells for which nothing was found (left as they are).
    pub not_found: Vec<Cell>,
    /// Regions whose lookups failed, with why.
    pub failed: Vec<lookup::LookupError>,
}

/// The `sources:` templates, parsed.
pub struct Templates {
    /// Parameter names, in order.
    pub parameters: Vec<Template>,
    /// The owner of the fallback's images.
    pub owner: String,
    /// The fallback's name pattern.
    pub name_pattern: Template,
    /// EBS profiles take only EBS-backed images (Canonical's names match instance-store ones
    /// too).
    pub ebs_only: bool,
}

impl Templates {
    /// Parses the profile's `sources:` section.
    pub fn parse(p: &Profile) -> Result<Templates, String> {
        let parse = |what: &str, src: &str| {
            Template::parse_with(src, PLACEHOLDERS).map_err(|e| {
                format!(
                    "sources.{what}: {e} in \"{src}\"; placeholders are {{{}}}",
                    PLACEHOLDERS.join("}, {")
                )
            })
        };
        let parameters = p
            .sources
            .parameters
            .iter()
            .map(|s| parse("parameters", s))
            .collect::<Result<_, _>>()?;
        Ok(Templates {
            parameters,
            owner: p.sources.owner.clone(),
            name_pattern: parse("name_pattern", &p.sources.name_pattern)?,
            ebs_only: p.backing == crate::config::Backing::Ebs,
        })
    }

    /// `template` for `cell`: the release dotted, the architecture in Debian's words.
    pub fn render(&self, template: &Template, cell: &Cell) -> String {
        template.render_by(|name| match name {
            "release" => dotted_release(&cell.release),
            "arch" => cell.arch.debian_name().to_string(),
            _ => cell.virt.as_str().to_string(),
        })
    }
}

/// Every cell of `regions` (enabled regions of the file) the profile builds.
pub fn cells(p: &Profile, regions: &[&str]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for region in regions {
        for release in &p.releases {
            for &virt in &p.virtualizations {
                for &arch in &p.architectures {
                    cells.push(Cell {
                        region: region.to_string(),
                        release: release.clone(),
                        virt,
                        arch,
                    });
                }
            }
        }
    }
    cells
}

/// Looks up every cell (a few regions at a time, their cells one after another) and compares
/// with `file`.
pub async fn update(
    clients: &Clients,
    t: &Templates,
    file: &RegionsFile,
    cells: Vec<Cell>,
) -> Update {
    let slots = Semaphore::new(4);
    let mut by_region: std::collections::BTreeMap<String, Vec<Cell>> = Default::default();
    for c in cells {
        by_region.entry(c.region.clone()).or_default().push(c);
    }
    let lookups = by_region.into_iter().map(|(region, cells)| {
        let slots = &slots;
        async move {
            let _slot = slots.acquire().await;
            let (Some(c), Some(ssm)) = (clients.try_region(&region), clients.ssm(&region)) else {
                return (cells, Err(no_client(&region)));
            };
            let mut found = Vec::new();
            for cell in &cells {
                match lookup::newest(c, &ssm, t, cell).await {
                    Ok(f) => found.push(f),
                    Err(e) => return (cells, Err(e)),
                }
            }
            (cells, Ok(found))
        }
    });
    let mut out = Update::default();
    for (cells, result) in join_all(lookups).await {
        match result {
            Ok(found) => compare(file, cells, found, &mut out),
            Err(e) => out.failed.push(e),
        }
    }
    out
}

fn no_client(region: &str) -> lookup::LookupError {
    lookup::LookupError {
        region: region.to_string(),
        operation: "connect",
        detail: "no client for the region".into(),
    }
}

fn compare(file: &RegionsFile, cells: Vec<Cell>, found: Vec<Option<Found>>, out: &mut Update) {
    for (cell, found) in cells.into_iter().zip(found) {
        out.checked += 1;
        let Some(new) = found else {
            out.not_found.push(cell);
            continue;
        };
        let old = file
            .regions
            .get(&cell.region)
            .and_then(|e| e.source(&cell.release, cell.virt, cell.arch))
            .map(str::to_string);
        if old.as_deref() != Some(new.ami_id.as_str()) {
            out.changes.push(Change { cell, old, new });
        }
    }
}
