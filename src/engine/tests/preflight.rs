//! Preflight against regions that answer badly: one that stops answering is named once, and
//! a source AMI that is not available is a problem before anything is launched.

use aws_sdk_ec2::operation::describe_images::DescribeImagesOutput;
use aws_sdk_ec2::types::{Image, ImageState};
use aws_sdk_s3::operation::head_bucket::HeadBucketOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;

use super::kit::build;

/// What a region that stops answering sends: 503 with nothing in it.
fn unavailable() -> Response {
    Response::new(StatusCode::try_from(503).unwrap(), SdkBody::empty())
}
use crate::aws::{Clients, RegionClients};

fn clients(ec2: &[Rule], s3: &[Rule]) -> Clients {
    let no_retries = aws_sdk_ec2::config::retry::RetryConfig::disabled();
    let c = RegionClients {
        ec2: mock_client!(aws_sdk_ec2, RuleMode::MatchAny, ec2, |c| {
            c.retry_config(no_retries.clone())
        }),
        s3: mock_client!(aws_sdk_s3, RuleMode::MatchAny, s3, |c| {
            c.retry_config(no_retries.clone())
        }),
    };
    Clients::from_parts([("us-east-1".to_string(), c)].into(), None)
}

async fn preflight(ec2: &[Rule], s3: &[Rule]) -> Vec<String> {
    // The build's instance type is not these tests' subject: EC2 says nothing of it.
    let mut ec2 = ec2.to_vec();
    ec2.push(
        mock!(aws_sdk_ec2::Client::describe_instance_types).then_output(|| {
            aws_sdk_ec2::operation::describe_instance_types::DescribeInstanceTypesOutput::builder()
                .build()
        }),
    );
    let p = crate::engine::preflight::run(
        &clients(&ec2, s3),
        &[build()],
        ("1.0.0", false),
        std::time::Duration::from_secs(3600),
        &Default::default(),
    )
    .await;
    p.problems
}

#[tokio::test(start_paused = true)]
async fn a_region_that_stops_answering_is_named_once() {
    let ec2 = mock!(aws_sdk_ec2::Client::describe_images).then_http_response(unavailable);
    let s3 = mock!(aws_sdk_s3::Client::head_bucket).then_http_response(unavailable);
    let problems = preflight(&[ec2], &[s3]).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("us-east-1: cannot reach EC2's endpoint for us-east-1: ")
            && problems[0].ends_with("check the network, and HTTPS_PROXY when a proxy is needed"),
        "not a verdict on the bucket or the AMIs: {problems:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_source_ami_that_is_still_pending_is_a_problem() {
    let source = build().source_ami;
    let ec2 = mock!(aws_sdk_ec2::Client::describe_images).then_output(move || {
        DescribeImagesOutput::builder()
            .images(
                Image::builder()
                    .image_id(source.clone())
                    .state(ImageState::Pending)
                    .build(),
            )
            .build()
    });
    let s3 =
        mock!(aws_sdk_s3::Client::head_bucket).then_output(|| HeadBucketOutput::builder().build());
    let problems = preflight(&[ec2], &[s3]).await;
    assert_eq!(
        problems,
        [format!(
            "us-east-1-1404-hvm: source AMI {} in us-east-1 is pending, not available",
            build().source_ami
        )]
    );
}
