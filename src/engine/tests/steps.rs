//! Every step's failure fails the build at that step and rolls back what it made; a failure
//! while finishing keeps the published AMI and lists what is left.

use aws_sdk_ec2::operation::create_image::CreateImageError;
use aws_sdk_ec2::operation::modify_image_attribute::ModifyImageAttributeError;
use aws_sdk_ec2::operation::run_instances::RunInstancesError;
use aws_sdk_ec2::operation::terminate_instances::TerminateInstancesError;
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_smithy_mocks::{Rule, mock};

use super::kit::{AMI, INSTANCE, Kit, SNAPSHOT, ec2_error, status};
use crate::events::{Event, Outcome, Step};

/// Runs the build with `ec2` and `s3` rules first; returns the step it failed at, its error,
/// and what its clean-up said it removed.
async fn fails(ec2: Vec<Rule>, s3: Vec<Rule>) -> (Step, String, Vec<String>, Vec<Event>) {
    let mut kit = Kit::new(ec2, s3);
    let outcome = kit.run().await;
    let events = kit.events();
    let Outcome::Failed { step, error } = outcome else {
        panic!("expected a failure, got {outcome:?}; events: {events:?}");
    };
    let removed = events
        .iter()
        .find_map(|e| match e {
            Event::CleanedUp { removed, left, .. } => {
                assert!(left.is_empty(), "nothing left: {left:?}");
                Some(removed.clone())
            }
            _ => None,
        })
        .expect("a failed build is cleaned up");
    (step, error, removed, events)
}

#[tokio::test(start_paused = true)]
async fn a_build_whose_calls_all_succeed_is_published_and_leaves_nothing() {
    let mut kit = Kit::new(vec![], vec![]);
    let outcome = kit.run().await;
    let Outcome::Published { artifact } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(artifact.ami_id, AMI);
    assert_eq!(artifact.snapshot_ids, [SNAPSHOT]);
    assert!(kit.engine.ledger().left_behind().is_empty());
    let events = kit.events();
    assert!(
        !events.iter().any(|e| matches!(e, Event::CleanedUp { .. })),
        "{events:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn staging_that_fails_fails_the_stage_step() {
    let put = mock!(aws_sdk_s3::Client::put_object)
        .then_error(|| PutObjectError::generic(ec2_error("AccessDenied")));
    let (step, error, _, _) = fails(vec![], vec![put]).await;
    assert_eq!(step, Step::Stage);
    assert!(error.contains("AccessDenied"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_launch_ec2_refuses_fails_the_launch_step_and_removes_the_staged_files() {
    let run = mock!(aws_sdk_ec2::Client::run_instances)
        .then_error(|| RunInstancesError::generic(ec2_error("InsufficientInstanceCapacity")));
    let (step, error, _, events) = fails(vec![run], vec![]).await;
    assert_eq!(step, Step::Launch);
    assert!(
        error.starts_with("RunInstances ami-0aaaaaaaaaaaaaaaa: "),
        "{error}"
    );
    let code = events.iter().find_map(|e| match e {
        Event::BuildFailed { code, .. } => code.clone(),
        _ => None,
    });
    assert_eq!(
        code.as_deref(),
        Some("InsufficientInstanceCapacity"),
        "typed, for scripts"
    );
}

#[tokio::test(start_paused = true)]
async fn a_provisioning_script_that_fails_fails_the_provision_step_with_its_log() {
    let (step, error, removed, events) = fails(vec![], vec![status(3)]).await;
    assert_eq!(step, Step::Provision);
    assert_eq!(error, "the provisioning script exited with status 3");
    assert!(
        removed.contains(&format!("instance {INSTANCE} (terminated)")),
        "{removed:?}"
    );
    let tail = events.iter().find_map(|e| match e {
        Event::BuildFailed { log_tail, .. } => Some(log_tail.clone()),
        _ => None,
    });
    assert_eq!(tail.unwrap(), ["provisioning", "exit 3"]);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::BuildLog { text, .. } if text.contains("exit 3"))),
        "the log is handed to the run directory: {events:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_image_ec2_will_not_make_fails_the_image_step_and_terminates_the_instance() {
    let create = mock!(aws_sdk_ec2::Client::create_image)
        .then_error(|| CreateImageError::generic(ec2_error("InvalidInstanceID.NotFound")));
    let (step, error, removed, _) = fails(vec![create], vec![]).await;
    assert_eq!(step, Step::Image);
    assert!(
        error.starts_with(&format!(
            "CreateImage {INSTANCE}: InvalidInstanceID.NotFound"
        )),
        "{error}"
    );
    assert!(
        removed.contains(&format!("instance {INSTANCE} (terminated)")),
        "{removed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn permissions_that_cannot_be_set_fail_the_build_and_remove_its_ami() {
    let modify = mock!(aws_sdk_ec2::Client::modify_image_attribute)
        .then_error(|| ModifyImageAttributeError::generic(ec2_error("InvalidAMIID.Unavailable")));
    let (step, error, removed, _) = fails(vec![modify], vec![]).await;
    assert_eq!(step, Step::Permissions);
    assert!(error.contains("ModifyImageAttribute"), "{error}");
    for gone in [
        format!("AMI {AMI} (deregistered)"),
        format!("snapshot {SNAPSHOT} (deleted)"),
        format!("instance {INSTANCE} (terminated)"),
    ] {
        assert!(removed.contains(&gone), "{gone} not in {removed:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_finish_keeps_the_published_ami_and_lists_the_instance() {
    let terminate = mock!(aws_sdk_ec2::Client::terminate_instances)
        .then_error(|| TerminateInstancesError::generic(ec2_error("InternalError")));
    let mut kit = Kit::new(vec![terminate], vec![]);
    let outcome = kit.run().await;
    assert!(matches!(outcome, Outcome::Published { .. }), "{outcome:?}");
    let left = kit.events().into_iter().find_map(|e| match e {
        Event::CleanedUp { left, .. } => Some(left),
        _ => None,
    });
    let left = left.expect("what finishing could not remove is said");
    assert!(
        left.iter()
            .any(|l| l.contains(INSTANCE) && l.contains("TerminateInstances failed")),
        "{left:?}"
    );
    assert!(
        kit.engine
            .ledger()
            .left_behind()
            .iter()
            .any(|l| l.contains(INSTANCE)),
        "a second signal would list it"
    );
}
