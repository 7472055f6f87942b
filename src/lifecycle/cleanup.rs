//! `cleanup`: find what amipub made (by its tags), decide what may go, and remove it in a safe
//! order: instances, AMIs, snapshots, volumes, staged objects, then buckets left empty.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use aws_sdk_ec2::types::{Filter, Image};
use futures::future::join_all;
use serde::Serialize;

use crate::aws::images::{snapshots_of, tag};
use crate::aws::{Clients, RegionClients, errors, tags};

/// What to select.
#[derive(Debug, Clone, Default)]
pub struct Criteria {
    /// Only resources tagged with this version.
    pub version: Option<String>,
    /// Only resources of this run.
    pub run: Option<String>,
    /// Only resources whose build name matches one of these globs.
    pub builds: crate::matrix::Patterns,
    /// Only resources older than this.
    pub older_than: Option<Duration>,
    /// Keep the newest N AMIs of each build.
    pub keep: Option<usize>,
    /// AMIs named explicitly (amipub's tags not required).
    pub amis: Vec<String>,
    /// AMI IDs the current ami_ids.json lists, by region.
    pub listed: BTreeSet<(String, String)>,
    /// Remove listed and in-use AMIs too.
    pub force: bool,
}

/// A kind of resource, in the order removal happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A build instance (terminated).
    Instance,
    /// An AMI (deregistered).
    Ami,
    /// An EBS snapshot.
    Snapshot,
    /// An EBS volume.
    Volume,
    /// Staged or bundle objects under one prefix.
    Objects,
    /// A staging bucket that is empty once its objects are gone.
    Bucket,
}

/// One resource and what happens to it.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// Kind.
    pub kind: Kind,
    /// Region.
    pub region: String,
    /// Its ID (for objects: `bucket/prefix`; for buckets: the name).
    pub id: String,
    /// Build name, where known.
    pub build: Option<String>,
    /// Storage it takes, in GiB (snapshots and volumes).
    pub size_gib: Option<i32>,
    /// Why it is kept, when it is ("listed in ami_ids.json"); `None` means it is to be removed.
    pub refused: Option<String>,
    /// For objects: the keys to delete.
    #[serde(skip)]
    pub keys: Vec<String>,
    /// After acting: what removing it came to.
    pub result: Option<Removal>,
}

impl Item {
    fn new(kind: Kind, region: &str, id: impl Into<String>) -> Item {
        Item {
            kind,
            region: region.to_string(),
            id: id.into(),
            build: None,
            size_gib: None,
            refused: None,
            keys: Vec::new(),
            result: None,
        }
    }
}

/// Everything found in the selected regions; regions that could not be read are in `errors`.
#[derive(Debug, Default, Serialize)]
pub struct Inventory {
    /// Resources, ordered by region and removal order.
    pub items: Vec<Item>,
    /// Regions (or buckets) that could not be examined.
    pub errors: Vec<String>,
}

impl Criteria {
    fn filters(&self) -> Vec<Filter> {
        let mut f = vec![tags::filter(tags::MANAGED, "true")];
        if let Some(v) = &self.version {
            f.push(tags::filter(tags::VERSION, v));
        }
        if let Some(r) = &self.run {
            f.push(tags::filter(tags::RUN_ID, r));
        }
        f
    }

    fn build_ok(&self, build: Option<&str>) -> bool {
        self.builds.is_empty() || build.is_some_and(|b| self.builds.any_matches(b))
    }

    fn old_enough(&self, created: Option<SystemTime>) -> bool {
        match (self.older_than, created) {
            (None, _) => true,
            (Some(age), Some(t)) => SystemTime::now().duration_since(t).is_ok_and(|d| d >= age),
            (Some(_), None) => false,
        }
    }
}

fn time_of(s: Option<&str>) -> Option<SystemTime> {
    s.and_then(|s| humantime::parse_rfc3339_weak(s.trim_end_matches('Z').split('.').next()?).ok())
}

fn smithy_time(t: Option<&aws_smithy_types::DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

/// Finds what `c` selects in every region of `clients`.
pub async fn inventory(clients: &Clients, c: &Criteria) -> Inventory {
    let regions: Vec<&str> = clients.regions().collect();
    let per_region = join_all(
        regions
            .iter()
            .map(|r| region_inventory(clients.region(r), r, c)),
    )
    .await;
    let mut inv = Inventory::default();
    let mut bundles_kept = BTreeMap::new();
    for r in per_region {
        match r {
            Ok((items, kept)) => {
                inv.items.extend(items);
                bundles_kept.extend(kept);
            }
            Err(e) => inv.errors.push(e),
        }
    }
    match bucket_inventory(clients, &regions, c).await {
        Ok((mut items, errs)) => {
            keep_bundles(&mut items, &bundles_kept);
            inv.items.extend(items);
            inv.errors.extend(errs);
        }
        Err(e) => inv.errors.push(e),
    }
    inv.items.sort_by(|a, b| {
        (&a.region, a.kind, &a.build, &a.id).cmp(&(&b.region, b.kind, &b.build, &b.id))
    });
    inv
}

/// An instance-store AMI boots from its bundle: objects under a prefix that holds the bundle
/// of an AMI that stays are refused, and so is their bucket. `kept` maps `bucket/prefix/` to
/// the AMI.
fn keep_bundles(items: &mut [Item], kept: &BTreeMap<String, String>) {
    let mut buckets_kept = BTreeSet::new();
    for i in items.iter_mut().filter(|i| i.kind == Kind::Objects) {
        if let Some(ami) = kept.get(&i.id) {
            i.refused = Some(format!("holds the bundle of {ami}, which is kept"));
            buckets_kept.insert(i.id.split('/').next().unwrap_or_default().to_string());
        }
    }
    for i in items.iter_mut().filter(|i| i.kind == Kind::Bucket) {
        if buckets_kept.contains(&i.id) {
            i.refused = Some("holds bundles of AMIs that are kept".into());
        }
    }
}

/// The `bucket/prefix/` an instance-store AMI was registered from.
fn bundle_dir(img: &aws_sdk_ec2::types::Image) -> Option<String> {
    let location = img.image_location()?;
    let (dir, _) = location.rsplit_once('/')?;
    dir.contains('/').then(|| format!("{dir}/"))
}

/// A region's items, and the bundles of the AMIs that stay (`bucket/prefix/` -> AMI).
async fn region_inventory(
    rc: &RegionClients,
    region: &str,
    c: &Criteria,
) -> Result<(Vec<Item>, BTreeMap<String, String>), String> {
    let fail = |what: &str, e: String| format!("{region}: cannot list {what}: {e}");
    let mut amis = candidate_amis(rc, c).await.map_err(|e| fail("AMIs", e))?;
    if let Some(n) = c.keep {
        let kept = newest_of_each_build(&amis, n);
        amis.retain(|i| !kept.contains(i.image_id().unwrap_or_default()));
    }
    let in_use = amis_in_use(rc, &amis)
        .await
        .map_err(|e| fail("instances", e))?;
    let mut items = ami_items(region, c, &amis, &in_use);
    let bundles_kept = orphan_snapshots(rc, region, c, &mut items)
        .await
        .map_err(|e| fail("AMIs and snapshots", e))?;
    items.extend(
        instance_items(rc, region, c)
            .await
            .map_err(|e| fail("instances", e))?,
    );
    items.extend(
        volume_items(rc, region, c)
            .await
            .map_err(|e| fail("volumes", e))?,
    );
    Ok((items, bundles_kept))
}

/// AMIs amipub tagged that the criteria select, plus any named explicitly.
async fn candidate_amis(rc: &RegionClients, c: &Criteria) -> Result<Vec<Image>, String> {
    let tagged = rc
        .ec2
        .describe_images()
        .owners("self")
        .set_filters(Some(c.filters()))
        .send()
        .await
        .map_err(|e| errors::describe(&e))?;
    let mut amis: Vec<Image> = tagged
        .images()
        .iter()
        .filter(|i| {
            c.build_ok(tag(i, tags::BUILD).as_deref()) && c.old_enough(time_of(i.creation_date()))
        })
        .cloned()
        .collect();
    if c.amis.is_empty() {
        return Ok(amis);
    }
    let named = rc
        .ec2
        .describe_images()
        .filters(
            Filter::builder()
                .name("image-id")
                .set_values(Some(c.amis.clone()))
                .build(),
        )
        .send()
        .await
        .map_err(|e| errors::describe(&e))?;
    for img in named.images() {
        if !amis.iter().any(|a| a.image_id() == img.image_id()) {
            amis.push(img.clone());
        }
    }
    Ok(amis)
}

/// `--keep N`: the newest N AMIs of each build (by creation time, then the time-sortable run
/// ID), which stay.
fn newest_of_each_build(amis: &[Image], n: usize) -> BTreeSet<String> {
    let mut by_build: BTreeMap<String, Vec<&Image>> = BTreeMap::new();
    for img in amis {
        if let Some(b) = tag(img, tags::BUILD) {
            by_build.entry(b).or_default().push(img);
        }
    }
    let mut kept = BTreeSet::new();
    for list in by_build.values_mut() {
        list.sort_by_key(|i| {
            std::cmp::Reverse((
                i.creation_date().unwrap_or("").to_string(),
                tag(i, tags::RUN_ID),
            ))
        });
        kept.extend(
            list.iter()
                .take(n)
                .filter_map(|i| i.image_id())
                .map(str::to_string),
        );
    }
    kept
}

/// The AMIs of `amis` that a pending or running instance was launched from, with the instance.
async fn amis_in_use(
    rc: &RegionClients,
    amis: &[Image],
) -> Result<HashMap<String, String>, String> {
    let ids: Vec<String> = amis
        .iter()
        .filter_map(|i| i.image_id())
        .map(str::to_string)
        .collect();
    let mut in_use = HashMap::new();
    if ids.is_empty() {
        return Ok(in_use);
    }
    let running = rc
        .ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("image-id")
                .set_values(Some(ids))
                .build(),
        )
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .build(),
        )
        .send()
        .await
        .map_err(|e| errors::describe(&e))?;
    for i in running.reservations().iter().flat_map(|r| r.instances()) {
        if let (Some(img), Some(id)) = (i.image_id(), i.instance_id()) {
            in_use.insert(img.to_string(), id.to_string());
        }
    }
    Ok(in_use)
}

/// An item for each AMI and each of its snapshots; refused when the AMI is listed in
/// ami_ids.json or in use (unless `--force`).
fn ami_items(
    region: &str,
    c: &Criteria,
    amis: &[Image],
    in_use: &HashMap<String, String>,
) -> Vec<Item> {
    let mut items = Vec::new();
    for img in amis {
        let id = img.image_id().unwrap_or_default().to_string();
        let mut item = Item::new(Kind::Ami, region, &id);
        item.build = tag(img, tags::BUILD);
        if !c.force {
            if c.listed.contains(&(region.to_string(), id.clone())) {
                item.refused = Some("listed in ami_ids.json (--force removes it anyway)".into());
            } else if let Some(inst) = in_use.get(&id) {
                item.refused = Some(format!(
                    "instance {inst} was launched from it and runs (--force removes it anyway)"
                ));
            }
        }
        let refused = item.refused.clone();
        items.push(item);
        for snap in snapshots_of(img) {
            let mut s = Item::new(Kind::Snapshot, region, &snap);
            s.build = tag(img, tags::BUILD);
            s.refused = refused
                .as_ref()
                .map(|_| format!("belongs to {id}, which is kept"));
            items.push(s);
        }
    }
    items
}

/// Adds the snapshots amipub tagged that no AMI outside this removal uses (left by
/// interrupted runs), and every snapshot item's size; returns the bundles of the AMIs that
/// stay (`bucket/prefix/` -> AMI).
async fn orphan_snapshots(
    rc: &RegionClients,
    region: &str,
    c: &Criteria,
    items: &mut Vec<Item>,
) -> Result<BTreeMap<String, String>, String> {
    let all_images = rc
        .ec2
        .describe_images()
        .owners("self")
        .send()
        .await
        .map_err(|e| errors::describe(&e))?;
    let removing: BTreeSet<&str> = items
        .iter()
        .filter(|i| i.kind == Kind::Ami && i.refused.is_none())
        .map(|i| i.id.as_str())
        .collect();
    let staying: Vec<&Image> = all_images
        .images()
        .iter()
        .filter(|i| !removing.contains(i.image_id().unwrap_or_default()))
        .collect();
    let bundles_kept: BTreeMap<String, String> = staying
        .iter()
        .filter(|i| i.root_device_type() == Some(&aws_sdk_ec2::types::DeviceType::InstanceStore))
        .filter_map(|i| Some((bundle_dir(i)?, i.image_id()?.to_string())))
        .collect();
    let referenced: BTreeSet<String> = staying.iter().flat_map(|i| snapshots_of(i)).collect();
    let snaps = rc
        .ec2
        .describe_snapshots()
        .owner_ids("self")
        .set_filters(Some(c.filters()))
        .send()
        .await
        .map_err(|e| errors::describe(&e))?;
    let mut sizes: HashMap<String, i32> = HashMap::new();
    for s in snaps.snapshots() {
        let Some(id) = s.snapshot_id() else { continue };
        sizes.insert(id.to_string(), s.volume_size().unwrap_or(0));
        let build = build_tag(s.tags());
        if items.iter().any(|i| i.kind == Kind::Snapshot && i.id == id)
            || referenced.contains(id)
            || !c.build_ok(build)
            || !c.old_enough(smithy_time(s.start_time()))
        {
            continue;
        }
        let mut item = Item::new(Kind::Snapshot, region, id);
        item.build = build.map(str::to_string);
        items.push(item);
    }
    for i in items.iter_mut().filter(|i| i.kind == Kind::Snapshot) {
        i.size_gib = sizes.get(&i.id).copied();
    }
    Ok(bundles_kept)
}

/// The value of amipub's build tag among `tags`.
fn build_tag(tags: &[aws_sdk_ec2::types::Tag]) -> Option<&str> {
    tags.iter()
        .find(|t| t.key() == Some(tags::BUILD))
        .and_then(|t| t.value())
}

/// Build instances that are still there.
async fn instance_items(
    rc: &RegionClients,
    region: &str,
    c: &Criteria,
) -> Result<Vec<Item>, String> {
    let inst = rc
        .ec2
        .describe_instances()
        .set_filters(Some(c.filters()))
        .filters(tags::instance_not_terminated())
        .send()
        .await
        .map_err(|e| errors::describe(&e))?;
    let mut items = Vec::new();
    for i in inst.reservations().iter().flat_map(|r| r.instances()) {
        let build = build_tag(i.tags());
        if let Some(id) = i.instance_id()
            && c.build_ok(build)
            && c.old_enough(smithy_time(i.launch_time()))
        {
            let mut item = Item::new(Kind::Instance, region, id);
            item.build = build.map(str::to_string);
            items.push(item);
        }
    }
    Ok(items)
}

/// Volumes amipub's builds left unattached.
async fn volume_items(rc: &RegionClients, region: &str, c: &Criteria) -> Result<Vec<Item>, String> {
    let vols = rc
        .ec2
        .describe_volumes()
        .set_filters(Some(c.filters()))
        .filters(Filter::builder().name("status").values("available").build())
        .send()
        .await
        .map_err(|e| errors::describe(&e))?;
    let mut items = Vec::new();
    for v in vols.volumes() {
        let build = build_tag(v.tags());
        if let Some(id) = v.volume_id()
            && c.build_ok(build)
            && c.old_enough(smithy_time(v.create_time()))
        {
            let mut item = Item::new(Kind::Volume, region, id);
            item.build = build.map(str::to_string);
            item.size_gib = v.size();
            items.push(item);
        }
    }
    Ok(items)
}

/// Objects in amipub's staging buckets of the selected regions (objects sit under
/// `<run-id>/<build>/`), and the buckets that would then be empty.
async fn bucket_inventory(
    clients: &Clients,
    regions: &[&str],
    c: &Criteria,
) -> Result<(Vec<Item>, Vec<String>), String> {
    let Some(first) = regions.first() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let listing = clients
        .region(first)
        .s3
        .list_buckets()
        .send()
        .await
        .map_err(|e| format!("cannot list buckets: {}", errors::describe(&e)))?;
    let mut items = Vec::new();
    let mut errs = Vec::new();
    for b in listing.buckets() {
        let Some(name) = b.name() else { continue };
        let region = match b.bucket_region() {
            Some(r) => r.to_string(),
            None => match bucket_region(clients.region(first), name).await {
                Ok(r) => r,
                Err(e) => {
                    errs.push(e);
                    continue;
                }
            },
        };
        // Every bucket is addressed through its own region's client, as S3 requires; those
        // of regions not selected are not looked at.
        if !regions.contains(&region.as_str()) {
            continue;
        }
        match bucket_items(
            clients.region(&region),
            &region,
            c,
            name,
            smithy_time(b.creation_date()),
        )
        .await
        {
            Ok(found) => items.extend(found),
            Err(e) => errs.push(e),
        }
    }
    Ok((items, errs))
}

/// The region of `bucket`, for listings that do not say (GetBucketLocation answers from any
/// region).
async fn bucket_region(any: &crate::aws::RegionClients, bucket: &str) -> Result<String, String> {
    let location = any
        .s3
        .get_bucket_location()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| format!("bucket {bucket}: {}", errors::describe(&e)))?;
    Ok(location
        .location_constraint()
        .map(|l| l.as_str().to_string())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "us-east-1".to_string()))
}

async fn bucket_items(
    rc: &crate::aws::RegionClients,
    region: &str,
    c: &Criteria,
    bucket: &str,
    created: Option<SystemTime>,
) -> Result<Vec<Item>, String> {
    if !selected_bucket(rc, region, c, bucket).await? {
        return Ok(Vec::new());
    }
    let mut listing = list_bucket(rc, c, bucket).await?;
    let selected: usize = listing
        .by_prefix
        .values()
        .map(|(_, k)| k.len())
        .sum::<usize>()
        + usize::from(listing.stale_lock.is_some());
    // A bucket serves every run and build of its version and region: it goes only when the
    // selection is the whole version (no run, build or keep narrowing) and it is old enough.
    let whole_version = c.run.is_none() && c.builds.is_empty() && c.keep.is_none();
    let bucket_goes = selected == listing.total && whole_version && c.old_enough(created);
    if let Some(lock) = listing.stale_lock.filter(|_| bucket_goes) {
        listing
            .by_prefix
            .insert(".amipub/".into(), (None, vec![lock]));
    }
    let mut items: Vec<Item> = listing
        .by_prefix
        .into_iter()
        .map(|(prefix, (build, keys))| {
            let mut i = Item::new(Kind::Objects, region, format!("{bucket}/{prefix}"));
            i.build = build;
            i.keys = keys;
            i
        })
        .collect();
    if bucket_goes {
        items.push(Item::new(Kind::Bucket, region, bucket));
    }
    Ok(items)
}

/// Whether `bucket` is amipub's (by its tags) and of the selected version.
async fn selected_bucket(
    rc: &crate::aws::RegionClients,
    region: &str,
    c: &Criteria,
    bucket: &str,
) -> Result<bool, String> {
    let tagging = match rc.s3.get_bucket_tagging().bucket(bucket).send().await {
        Ok(t) => t,
        Err(e) if errors::code(&e) == Some("NoSuchTagSet") => return Ok(false), // not amipub's
        Err(e) => {
            return Err(format!(
                "bucket {bucket} in {region}: {}",
                errors::describe(&e)
            ));
        }
    };
    let get = |k: &str| {
        tagging
            .tag_set()
            .iter()
            .find(|t| t.key() == k)
            .map(|t| t.value().to_string())
    };
    let managed = get(tags::MANAGED).as_deref() == Some("true");
    let version_ok = c
        .version
        .as_ref()
        .is_none_or(|v| get(tags::VERSION).as_deref() == Some(v.as_str()));
    Ok(managed && version_ok)
}

/// A staging bucket's objects that the criteria select, by `run/build/` prefix (signing
/// material apart).
struct Listing {
    by_prefix: BTreeMap<String, (Option<String>, Vec<String>)>,
    /// Every object in the bucket.
    total: usize,
    /// The lock object, when its lease lapsed.
    stale_lock: Option<String>,
}

async fn list_bucket(
    rc: &crate::aws::RegionClients,
    c: &Criteria,
    bucket: &str,
) -> Result<Listing, String> {
    let mut listing = Listing {
        by_prefix: BTreeMap::new(),
        total: 0,
        stale_lock: None,
    };
    let mut token = None;
    loop {
        let page = rc
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| format!("bucket {bucket}: {}", errors::describe(&e)))?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            listing.total += 1;
            let written = smithy_time(o.last_modified());
            // The lock of a live run is not cleanup's; a lapsed one goes with its bucket.
            if key == crate::engine::lock::LOCK_KEY {
                if written.is_some_and(|t| t + crate::engine::lock::LEASE < SystemTime::now()) {
                    listing.stale_lock = Some(key.to_string());
                }
                continue;
            }
            let mut parts = key.splitn(3, '/');
            let (run, second, rest) = (parts.next().unwrap_or(""), parts.next(), parts.next());
            // `run/file` is the run's own (its provisioning script, staged once per region),
            // `run/build/...` a build's.
            let build = second.filter(|_| rest.is_some());
            if c.run.as_deref().is_some_and(|r| r != run)
                || !c.build_ok(build)
                || !c.old_enough(written)
            {
                continue;
            }
            // Signing material is its own item: it goes even where the bundle beside it stays.
            let secret = rest.is_some_and(|r| r.starts_with("signing/"));
            let prefix = match (build, secret) {
                (Some(b), true) => format!("{run}/{b}/signing/"),
                (Some(b), false) => format!("{run}/{b}/"),
                (None, _) if second.is_some() => format!("{run}/"),
                (None, _) => String::new(),
            };
            let e = listing
                .by_prefix
                .entry(prefix)
                .or_insert((build.map(str::to_string), Vec::new()));
            e.1.push(key.to_string());
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => return Ok(listing),
        }
    }
}

/// What removing an item came to. In JSON: `"removed"`, or `"failed: <why>"` (schema 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// It is gone.
    Removed,
    /// AWS refused or failed, for this reason.
    Failed(String),
}

impl serde::Serialize for Removal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Removal::Removed => s.serialize_str("removed"),
            Removal::Failed(why) => s.serialize_str(&format!("failed: {why}")),
        }
    }
}

/// Removes every item not refused, in order, recording each result; `progress` hears of each.
pub async fn remove(clients: &Clients, inv: &mut Inventory, mut progress: impl FnMut(&Item)) {
    let mut order: Vec<usize> = (0..inv.items.len()).collect();
    order.sort_by_key(|&i| (inv.items[i].kind, inv.items[i].region.clone()));
    for i in order {
        let item = &mut inv.items[i];
        if item.refused.is_some() {
            continue;
        }
        let c = clients.region(&item.region);
        let r = match item.kind {
            Kind::Instance => c
                .ec2
                .terminate_instances()
                .instance_ids(&item.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| errors::describe(&e)),
            Kind::Ami => crate::aws::deregister::deregister(c, &item.id)
                .await
                .map_err(|e| e.to_string()),
            Kind::Snapshot => c
                .ec2
                .delete_snapshot()
                .snapshot_id(&item.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| errors::describe(&e)),
            Kind::Volume => c
                .ec2
                .delete_volume()
                .volume_id(&item.id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| errors::describe(&e)),
            Kind::Objects => {
                let bucket = item.id.split('/').next().unwrap_or_default().to_string();
                crate::engine::staging::delete_keys(c, &bucket, &item.keys).await
            }
            Kind::Bucket => {
                c.s3.delete_bucket()
                    .bucket(&item.id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| errors::describe(&e))
            }
        };
        item.result = Some(match r {
            Ok(()) => Removal::Removed,
            Err(e) => Removal::Failed(e),
        });
        progress(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_creation_dates_parse() {
        let t = time_of(Some("2026-11-21T05:38:51.000Z")).expect("EC2's CreationDate parses");
        assert_eq!(
            humantime::format_rfc3339_seconds(t).to_string(),
            "2026-11-21T05:38:51Z"
        );
        assert!(time_of(Some("2026-11-21T05:38:51Z")).is_some());
        assert!(time_of(Some("yesterday")).is_none());
    }

    #[test]
    fn older_than_compares_with_now() {
        let c = Criteria {
            older_than: Some(Duration::from_secs(3600)),
            ..Criteria::default()
        };
        let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
        assert!(c.old_enough(Some(two_hours_ago)));
        assert!(!c.old_enough(Some(SystemTime::now())));
        assert!(!c.old_enough(None), "an unknown age is never old enough");
        assert!(Criteria::default().old_enough(None));
    }
}
