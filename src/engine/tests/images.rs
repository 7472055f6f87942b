//! The image step's waits: an AMI pending and then failed, one that never becomes available,
//! and a throttled poll.

use std::time::Duration;

use aws_sdk_ec2::operation::describe_images::DescribeImagesError;
use aws_sdk_ec2::types::ImageState;

use super::kit::{AMI, Kit, ec2_error, image, image_poll};
use crate::events::{Event, Outcome, Step};

#[tokio::test(start_paused = true)]
async fn an_image_pending_then_failed_fails_the_build_with_ec2s_reason_and_is_removed() {
    let poll = image_poll()
        .sequence()
        .output(|| image(ImageState::Pending, None))
        .times(3)
        .output(|| image(ImageState::Failed, Some("Client.InternalError")))
        .build();
    let mut kit = Kit::new(vec![poll], vec![]);
    let outcome = kit.run().await;
    let Outcome::Failed { step, error } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(step, Step::Image);
    assert_eq!(error, format!("{AMI} is failed: Client.InternalError"));
    let removed = kit.events().into_iter().find_map(|e| match e {
        Event::CleanedUp { removed, .. } => Some(removed),
        _ => None,
    });
    assert!(
        removed
            .unwrap()
            .contains(&format!("AMI {AMI} (deregistered)")),
        "the failed AMI is deregistered"
    );
}

#[tokio::test(start_paused = true)]
async fn an_image_that_never_becomes_available_fails_when_its_timeout_passes() {
    let poll = image_poll().then_output(|| image(ImageState::Pending, None));
    let mut kit = Kit::with(vec![poll], vec![], |o| {
        o.timeouts.image = Duration::from_secs(45 * 60);
    });
    let started = tokio::time::Instant::now();
    let outcome = kit.run().await;
    let Outcome::Failed { step, error } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(step, Step::Image);
    assert_eq!(error, format!("{AMI} did not become available within 45m"));
    assert!(
        started.elapsed() >= Duration::from_secs(45 * 60),
        "it waited the whole timeout"
    );
    assert!(
        kit.events()
            .iter()
            .any(|e| matches!(e, Event::CleanedUp { removed, .. } if removed.contains(&format!("AMI {AMI} (deregistered)")))),
        "the pending AMI is removed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_throttled_image_poll_is_said_and_polled_again() {
    let poll = image_poll()
        .sequence()
        .error(|| DescribeImagesError::generic(ec2_error("RequestLimitExceeded")))
        .times(2)
        .output(|| image(ImageState::Available, None))
        .build();
    let mut kit = Kit::new(vec![poll], vec![]);
    let outcome = kit.run().await;
    assert!(matches!(outcome, Outcome::Published { .. }), "{outcome:?}");
    let warnings: Vec<String> = kit
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Warning { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].starts_with("DescribeImages failed, will retry")
            && warnings[0].contains("RequestLimitExceeded"),
        "{warnings:?}"
    );
}
