//! The tables `verify` and `cleanup` print, as pure functions of their results (snapshot-tested
//! in tests/report.rs).

use std::collections::BTreeMap;

use crate::lifecycle::cleanup::{Item, Kind, Removal};
use crate::lifecycle::verify::{Row, Verdict};
use crate::plan::table;

/// `verify`'s table, the manifest's differences under it, and the count of AMIs as expected.
pub fn verify(rows: &[Row], manifest_notes: &[String]) -> String {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.build.clone(),
                r.region.clone(),
                r.ami_id.clone(),
                r.result.as_str().to_string(),
                r.differences.join("; "),
            ]
        })
        .collect();
    let mut out = table(&["BUILD", "REGION", "AMI", "RESULT", "DIFFERENCES"], &cells);
    for n in manifest_notes {
        out.push_str(&format!("manifest: {n}\n"));
    }
    let ok = rows.iter().filter(|r| r.result == Verdict::Ok).count();
    out.push_str(&format!("{ok} of {} AMI(s) as expected\n", rows.len()));
    out
}

/// The kind of a cleanup item, for people.
pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Instance => "instance",
        Kind::Ami => "AMI",
        Kind::Snapshot => "snapshot",
        Kind::Volume => "volume",
        Kind::Objects => "objects",
        Kind::Bucket => "bucket",
    }
}

/// `cleanup`'s table: each item and what happens to it.
pub fn cleanup(items: &[Item]) -> String {
    if items.is_empty() {
        return "nothing of amipub's matches.\n".to_string();
    }
    let rows: Vec<[String; 6]> = items
        .iter()
        .map(|i| {
            [
                i.region.clone(),
                kind_name(i.kind).to_string(),
                i.id.clone(),
                i.build.clone().unwrap_or_default(),
                i.size_gib.map(|g| format!("{g} GiB")).unwrap_or_default(),
                match (&i.refused, i.kind) {
                    (Some(why), _) => format!("keep: {why}"),
                    (None, Kind::Objects) => format!("remove {} object(s)", i.keys.len()),
                    (None, _) => "remove".to_string(),
                },
            ]
        })
        .collect();
    table(&["REGION", "KIND", "ID", "BUILD", "SIZE", "ACTION"], &rows)
}

/// `cleanup`'s count per region of what is to be removed (or, once `acted`, what was).
pub fn cleanup_summary(items: &[Item], acted: bool) -> String {
    let mut per_region: BTreeMap<&str, (usize, i64)> = BTreeMap::new();
    for i in items.iter().filter(|i| i.refused.is_none()) {
        if acted && i.result != Some(Removal::Removed) {
            continue;
        }
        let e = per_region.entry(i.region.as_str()).or_default();
        e.0 += 1;
        if i.kind == Kind::Snapshot {
            e.1 += i64::from(i.size_gib.unwrap_or(0));
        }
    }
    let verb = if acted { "removed" } else { "to remove" };
    let mut out = String::new();
    for (region, (n, gib)) in &per_region {
        out.push_str(&format!(
            "{region}: {n} resource(s) {verb}, {gib} GiB of snapshots freed\n"
        ));
    }
    out
}
