//! An engine over one region whose EC2 and S3 answer as a test says (the SDK's own mocks, no
//! emulator): the happy path of an EBS build, which a test overrides by putting its own rules
//! first (the first rule that matches a request answers it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::operation::create_image::CreateImageOutput;
use aws_sdk_ec2::operation::delete_snapshot::DeleteSnapshotOutput;
use aws_sdk_ec2::operation::deregister_image::DeregisterImageOutput;
use aws_sdk_ec2::operation::describe_image_attribute::DescribeImageAttributeOutput;
use aws_sdk_ec2::operation::describe_images::DescribeImagesOutput;
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::operation::describe_snapshots::DescribeSnapshotsOutput;
use aws_sdk_ec2::operation::modify_image_attribute::ModifyImageAttributeOutput;
use aws_sdk_ec2::operation::run_instances::RunInstancesOutput;
use aws_sdk_ec2::operation::terminate_instances::TerminateInstancesOutput;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, Image, ImageState, Instance, InstanceState,
    InstanceStateName, LaunchPermission, PermissionGroup, Reservation, StateReason,
};
use aws_sdk_s3::operation::delete_objects::DeleteObjectsOutput;
use aws_sdk_s3::operation::get_bucket_policy::GetBucketPolicyError;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_bucket_policy::PutBucketPolicyOutput;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use tokio_util::sync::CancellationToken;

use crate::aws::{Clients, RegionClients};
use crate::config::{Backing, Virtualization};
use crate::engine::{
    Engine, EngineOptions, ErrorPolicy, NoInteraction, Permissions, PollSettings, staging,
};
use crate::events::{Event, EventSink, Outcome, Stamped};
use crate::matrix::Build;

pub const REGION: &str = "us-east-1";
pub const INSTANCE: &str = "i-0123456789abcdef0";
pub const AMI: &str = "ami-0123456789abcdef0";
pub const SNAPSHOT: &str = "snap-0123456789abcdef0";

/// The build every test runs: public, EBS-backed, in [`REGION`].
pub fn build() -> Build {
    Build {
        name: "us-east-1-1404-hvm".into(),
        region: REGION.into(),
        release: "1404".into(),
        virtualization: Virtualization::Hvm,
        architecture: crate::config::Architecture::X86_64,
        source_ami: "ami-0aaaaaaaaaaaaaaaa".into(),
        ami_name: "test 1.0.0 1404 hvm".into(),
        description: "test".into(),
        backing: Backing::Ebs,
        instance_type: "m3.medium".into(),
        bucket: "test-bucket".into(),
        env: BTreeMap::new(),
        tags: BTreeMap::new(),
        copy_of: None,
    }
}

/// An engine over mocked clients, and what it says.
pub struct Kit {
    pub engine: Engine,
    rx: tokio::sync::mpsc::UnboundedReceiver<Stamped>,
}

impl Kit {
    /// An engine whose EC2 answers by `ec2` then the happy path, and S3 by `s3` then the happy
    /// path. No SDK retries: each answer is one call, so a test's sequence is the engine's.
    pub fn new(ec2: Vec<Rule>, s3: Vec<Rule>) -> Kit {
        Kit::with(ec2, s3, |_| {})
    }

    /// As [`Kit::new`], with the engine's options changed by `tweak`.
    pub fn with(ec2: Vec<Rule>, s3: Vec<Rule>, tweak: impl FnOnce(&mut EngineOptions)) -> Kit {
        let ec2: Vec<Rule> = ec2.into_iter().chain(happy_ec2()).collect();
        let s3: Vec<Rule> = s3.into_iter().chain(happy_s3()).collect();
        let no_retries = aws_sdk_ec2::config::retry::RetryConfig::disabled();
        let c = RegionClients {
            ec2: mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &ec2, |c| {
                c.retry_config(no_retries.clone())
            }),
            s3: mock_client!(aws_sdk_s3, RuleMode::MatchAny, &s3, |c| {
                c.retry_config(no_retries.clone())
            }),
        };
        let clients = Clients::from_parts([(REGION.to_string(), c)].into(), None);
        let mut opts = options();
        tweak(&mut opts);
        let (events, rx) = EventSink::channel();
        // Preflight found the bucket (the sealer keeps its policy).
        let preflight = crate::engine::Preflight {
            buckets: [build().bucket].into(),
            ..Default::default()
        };
        let engine = Engine::new(
            clients,
            opts,
            preflight,
            events,
            CancellationToken::new(),
            Arc::new(NoInteraction),
        );
        // What prepare() makes (locks, bucket, security group) is not under test here.
        let stage = staging::RegionStage {
            security_group: "sg-0123456789abcdef0".into(),
        };
        let _ = engine.regions[REGION].1.set(Ok(stage));
        Kit { engine, rx }
    }

    /// Runs [`build`] to its end.
    pub async fn run(&self) -> Outcome {
        self.engine.run(&[build()]).await.remove(0)
    }

    /// Everything the engine said so far.
    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.rx.try_recv().ok())
            .map(|s| s.event)
            .collect()
    }
}

/// The options of a run of one build (also used by the lock-renewal tests).
pub fn options() -> EngineOptions {
    EngineOptions {
        run_id: "20261121T000000Z-aaaaaa".into(),
        version: "1.0.0".into(),
        max_parallel: 1,
        max_per_region: 1,
        on_error: ErrorPolicy::Cleanup,
        poll: PollSettings {
            min: Duration::from_secs(1),
            max: Duration::from_secs(10),
        },
        timeouts: Default::default(),
        permissions: Permissions {
            groups: vec!["all".into()],
            accounts: Vec::new(),
        },
        script: Arc::new(b"#!/bin/sh\ntrue\n".to_vec()),
        log_interval_secs: 20,
        log_dir: std::env::temp_dir(),
        signing: None,
        bundle: Default::default(),
        iam_instance_profile: None,
        break_lock: false,
        copies: Default::default(),
        ami: Default::default(),
    }
}

/// Whether a request's filters include one named `name`.
pub fn filters_by(filters: &[Filter], name: &str) -> bool {
    filters.iter().any(|f| f.name() == Some(name))
}

/// An EC2 error with `code`.
pub fn ec2_error(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message(format!("{code} (injected)"))
        .build()
}

/// The build's AMI in `state` (with its snapshot, and `reason` when given).
pub fn image(state: ImageState, reason: Option<&str>) -> DescribeImagesOutput {
    let mut img = Image::builder()
        .image_id(AMI)
        .name(build().ami_name)
        .state(state)
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name("/dev/sda1")
                .ebs(EbsBlockDevice::builder().snapshot_id(SNAPSHOT).build())
                .build(),
        );
    if let Some(r) = reason {
        img = img.state_reason(StateReason::builder().code(r).message(r).build());
    }
    DescribeImagesOutput::builder().images(img.build()).build()
}

/// The image-state poll (the waiter asks by image ID; rollback and lookups ask by owner).
pub fn image_poll() -> aws_smithy_mocks::RuleBuilder<
    aws_sdk_ec2::operation::describe_images::DescribeImagesInput,
    DescribeImagesOutput,
    aws_sdk_ec2::operation::describe_images::DescribeImagesError,
> {
    mock!(aws_sdk_ec2::Client::describe_images)
        .match_requests(|r| filters_by(r.filters(), "image-id"))
}

/// The status object a bootstrap that ended with `code` uploads.
pub fn status(code: i32) -> Rule {
    let body = format!("status={code}\nstage=provision\n\nprovisioning\nexit {code}\n");
    mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.key().is_some_and(|k| k.ends_with("/status")))
        .then_output(move || {
            GetObjectOutput::builder()
                .body(ByteStream::from(body.clone().into_bytes()))
                .build()
        })
}

fn happy_ec2() -> Vec<Rule> {
    let instance = |state: InstanceStateName| {
        Instance::builder()
            .instance_id(INSTANCE)
            .state(InstanceState::builder().name(state).build())
            .build()
    };
    vec![
        mock!(aws_sdk_ec2::Client::run_instances).then_output(move || {
            RunInstancesOutput::builder()
                .instances(instance(InstanceStateName::Pending))
                .build()
        }),
        mock!(aws_sdk_ec2::Client::describe_instances).then_output(move || {
            DescribeInstancesOutput::builder()
                .reservations(
                    Reservation::builder()
                        .instances(instance(InstanceStateName::Stopped))
                        .build(),
                )
                .build()
        }),
        mock!(aws_sdk_ec2::Client::create_image)
            .then_output(|| CreateImageOutput::builder().image_id(AMI).build()),
        mock!(aws_sdk_ec2::Client::describe_images)
            .then_output(|| image(ImageState::Available, None)),
        mock!(aws_sdk_ec2::Client::modify_image_attribute)
            .then_output(|| ModifyImageAttributeOutput::builder().build()),
        mock!(aws_sdk_ec2::Client::describe_image_attribute).then_output(|| {
            DescribeImageAttributeOutput::builder()
                .launch_permissions(
                    LaunchPermission::builder()
                        .group(PermissionGroup::All)
                        .build(),
                )
                .build()
        }),
        mock!(aws_sdk_ec2::Client::terminate_instances)
            .then_output(|| TerminateInstancesOutput::builder().build()),
        mock!(aws_sdk_ec2::Client::deregister_image)
            .then_output(|| DeregisterImageOutput::builder().build()),
        mock!(aws_sdk_ec2::Client::delete_snapshot)
            .then_output(|| DeleteSnapshotOutput::builder().build()),
        mock!(aws_sdk_ec2::Client::describe_snapshots)
            .then_output(|| DescribeSnapshotsOutput::builder().build()),
    ]
}

fn happy_s3() -> Vec<Rule> {
    vec![
        mock!(aws_sdk_s3::Client::put_object)
            .then_output(|| PutObjectOutput::builder().e_tag("\"e\"").build()),
        status(0),
        mock!(aws_sdk_s3::Client::get_bucket_policy).then_error(|| {
            GetBucketPolicyError::generic(
                ErrorMetadata::builder().code("NoSuchBucketPolicy").build(),
            )
        }),
        mock!(aws_sdk_s3::Client::put_bucket_policy)
            .then_output(|| PutBucketPolicyOutput::builder().build()),
        // Presigning goes through the same interceptors as a call; the script's answer is
        // never read.
        mock!(aws_sdk_s3::Client::get_object).then_output(|| GetObjectOutput::builder().build()),
        mock!(aws_sdk_s3::Client::delete_objects)
            .then_output(|| DeleteObjectsOutput::builder().build()),
        mock!(aws_sdk_s3::Client::list_objects_v2)
            .then_output(|| ListObjectsV2Output::builder().build()),
    ]
}
