//! A client-side budget of EC2 requests, so that amipub is never the reason an account is
//! throttled. EC2 throttles each account per Region and per API action with token buckets
//! ("Request throttling for the Amazon EC2 API"): RunInstances holds 5 tokens refilled at 2
//! per second, describe calls 100 at 20, mutating calls 50 at 5, and so on. Each region's EC2
//! client holds the same buckets, with the same sizes by default, and a request waits for its
//! token before it is sent, retries included. A request EC2 throttles anyway (another tool
//! spends the same account's tokens) empties its bucket, so the calls that follow wait for
//! the refill instead of being refused too, while the SDK retries the throttled one.
//!
//! The hook: an interceptor names the operation on the request, and a wrapper around the HTTP
//! connector waits for the token (interceptors cannot wait; connectors can).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use tokio::time::Instant;

/// A bucket's size and refill rate (tokens per second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens when full: the burst.
    pub burst: f64,
    /// Tokens added per second.
    pub per_second: f64,
}

const fn rate(burst: f64, per_second: f64) -> Rate {
    Rate { burst, per_second }
}

/// AWS's buckets for the actions amipub calls that have their own (the rest are describe or
/// mutating calls).
const OWN_BUCKETS: &[(&str, Rate)] = &[
    ("RunInstances", rate(5.0, 2.0)),
    ("StartInstances", rate(5.0, 2.0)),
    ("TerminateInstances", rate(100.0, 5.0)),
    ("CopyImage", rate(100.0, 1.0)),
    ("ModifyImageAttribute", rate(100.0, 5.0)),
    ("ModifySnapshotAttribute", rate(100.0, 5.0)),
    ("CreateTags", rate(100.0, 10.0)),
    ("DeleteTags", rate(100.0, 10.0)),
    ("DeregisterImage", rate(100.0, 5.0)),
    ("DeleteSnapshot", rate(100.0, 5.0)),
    ("CreateSnapshot", rate(100.0, 5.0)),
    ("DisableImageBlockPublicAccess", rate(1.0, 0.1)),
    ("EnableImageBlockPublicAccess", rate(1.0, 0.1)),
];

/// Describe calls that EC2 meters with a smaller bucket when unfiltered: amipub treats them as
/// always so, which is never too fast.
const SMALL_DESCRIBES: &[&str] = &[
    "DescribeInstances",
    "DescribeInstanceStatus",
    "DescribeNetworkInterfaces",
    "DescribeSecurityGroups",
    "DescribeSnapshots",
    "DescribeVolumes",
];

/// The bucket sizes of every action: AWS's, or the overrides given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rates {
    /// `action` (or `describe`, `mutating`) -> its rate, overriding AWS's.
    pub overrides: HashMap<String, Rate>,
}

impl Rates {
    /// The rate of `action`'s bucket, as amipub spends it. Each action has a bucket of its
    /// own ("Limits are applied to individual API actions, not API action categories"); the
    /// category only gives its size.
    pub fn of(&self, action: &str) -> Rate {
        let category = if let Some((_, r)) = OWN_BUCKETS.iter().find(|(a, _)| *a == action) {
            (None, *r)
        } else if SMALL_DESCRIBES.contains(&action) {
            (Some("describe"), rate(50.0, 10.0))
        } else if ["Describe", "List", "Search", "Get"]
            .iter()
            .any(|p| action.starts_with(p))
        {
            (Some("describe"), rate(100.0, 20.0))
        } else {
            (Some("mutating"), rate(50.0, 5.0))
        };
        let chosen = self
            .overrides
            .get(action)
            .or_else(|| category.0.and_then(|c| self.overrides.get(c)))
            .copied()
            .unwrap_or(category.1);
        chosen.with_margin()
    }
}

impl Rate {
    /// What amipub spends of a bucket: 60% of the burst and 80% of the refill EC2 allows.
    /// EC2 counts a request when it arrives, amipub when it sends it; requests sent evenly can
    /// arrive bunched (a slow connection, a queue on the way), and without a margin a bunch
    /// finds EC2's bucket a token short. Measured: at 80% of the burst and 90% of the refill,
    /// 256 builds in 16 regions against the emulator (whose one process queues requests for
    /// seconds at that load) still saw 2 RunInstances throttled; at 60% and 80%, none. A
    /// region's 16 launches then take 8 s instead of 5.5 s, nothing beside builds of minutes.
    fn with_margin(self) -> Rate {
        Rate {
            burst: (self.burst * 0.6).floor().max(1.0),
            per_second: self.per_second * 0.8,
        }
    }
}

/// Parses `ACTION=BURST/PER_SECOND` (ACTION an EC2 action, `describe` or `mutating`).
pub fn parse_override(s: &str) -> Result<(String, Rate), String> {
    let usage = "expected ACTION=BURST/PER_SECOND, e.g. RunInstances=5/2 or describe=100/20";
    let (action, numbers) = s.split_once('=').ok_or(usage)?;
    let (burst, per_second) = numbers.split_once('/').ok_or(usage)?;
    let number = |n: &str| {
        n.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0)
    };
    match (number(burst), number(per_second)) {
        (Some(b), Some(r)) if b >= 1.0 && !action.trim().is_empty() => {
            Ok((action.trim().to_string(), rate(b, r)))
        }
        _ => Err(format!(
            "\"{s}\": the burst must be at least 1 and the rate above 0 ({usage})"
        )),
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    rate: Rate,
    at: Instant,
}

/// One region's buckets.
#[derive(Debug, Default)]
pub struct Budget {
    rates: Rates,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Budget {
    /// A region's budget with `rates`.
    pub fn new(rates: Rates) -> Budget {
        Budget {
            rates,
            buckets: Mutex::default(),
        }
    }

    /// Waits until `action` may be sent, and takes its token.
    pub async fn take(&self, action: &str) {
        while let Some(wait) = self.try_take(action) {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a token of `action` if there is one; otherwise how long until there is.
    fn try_take(&self, action: &str) -> Option<Duration> {
        let rate = self.rates.of(action);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let b = buckets.entry(action.to_string()).or_insert(Bucket {
            tokens: rate.burst,
            rate,
            at: now,
        });
        b.tokens = (b.tokens + (now - b.at).as_secs_f64() * b.rate.per_second).min(b.rate.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return None;
        }
        Some(Duration::from_secs_f64(
            (1.0 - b.tokens) / b.rate.per_second,
        ))
    }

    /// EC2 throttled `action` anyway: its bucket starts again from empty.
    pub fn throttled(&self, action: &str) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = buckets.get_mut(action) {
            b.tokens = b.tokens.min(0.0);
        }
    }
}

/// The operation a request is for, as the interceptor names it for the connector.
#[derive(Debug, Clone)]
struct Operation(String);

/// Names each request's operation (from the SDK's metadata) for [`Budgeted`].
#[derive(Debug)]
pub struct NameOperation;

impl Intercept for NameOperation {
    fn name(&self) -> &'static str {
        "amipub::NameOperation"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            let op = Operation(m.name().to_string());
            context.request_mut().add_extension(op);
        }
        Ok(())
    }
}

/// An HTTP client whose requests wait for their token of `budget`.
#[derive(Debug, Clone)]
pub struct Budgeted {
    inner: SharedHttpClient,
    budget: Arc<Budget>,
}

impl Budgeted {
    /// `inner`, metered by `budget`.
    pub fn new(inner: SharedHttpClient, budget: Arc<Budget>) -> Budgeted {
        Budgeted { inner, budget }
    }
}

impl HttpClient for Budgeted {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(BudgetedConnector {
            inner: self.inner.http_connector(settings, components),
            budget: self.budget.clone(),
        })
    }
}

#[derive(Debug)]
struct BudgetedConnector {
    inner: SharedHttpConnector,
    budget: Arc<Budget>,
}

impl HttpConnector for BudgetedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let op = request.extension::<Operation>().cloned();
        let inner = self.inner.clone();
        let budget = self.budget.clone();
        HttpConnectorFuture::new(async move {
            if let Some(Operation(op)) = &op {
                budget.take(op).await;
            }
            let response = inner.call(request).await?;
            // EC2 answers RequestLimitExceeded with 503.
            if let (Some(Operation(op)), 503) = (&op, response.status().as_u16()) {
                budget.throttled(op);
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's bucket, as amipub spends it (with its margin).
    fn spent(burst: f64, per_second: f64) -> Rate {
        rate(burst, per_second).with_margin()
    }

    #[test]
    fn actions_draw_from_awss_buckets_unless_overridden() {
        let r = Rates::default();
        assert_eq!(r.of("RunInstances"), spent(5.0, 2.0));
        assert_eq!(r.of("RunInstances"), rate(3.0, 1.6));
        assert_eq!(r.of("DescribeImages"), spent(100.0, 20.0));
        assert_eq!(r.of("DescribeInstances"), spent(50.0, 10.0));
        assert_eq!(r.of("CreateImage"), spent(50.0, 5.0));
        assert_eq!(r.of("CopyImage"), spent(100.0, 1.0));
        let mut o = Rates::default();
        o.overrides.insert("describe".into(), rate(10.0, 1.0));
        o.overrides.insert("RunInstances".into(), rate(1.0, 1.0));
        assert_eq!(o.of("DescribeImages"), spent(10.0, 1.0));
        assert_eq!(
            o.of("RunInstances"),
            rate(1.0, 0.8),
            "never below one token"
        );
        assert_eq!(o.of("CreateImage"), spent(50.0, 5.0));
    }

    #[test]
    fn overrides_are_parsed_and_bad_ones_refused() {
        assert_eq!(
            parse_override("RunInstances=5/2").unwrap(),
            ("RunInstances".to_string(), rate(5.0, 2.0))
        );
        assert_eq!(
            parse_override("describe=100/0.5").unwrap().1,
            rate(100.0, 0.5)
        );
        for bad in [
            "RunInstances",
            "RunInstances=5",
            "x=0/1",
            "x=5/0",
            "=5/2",
            "x=a/b",
        ] {
            assert!(parse_override(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_then_requests_wait_for_the_refill() {
        let mut given = Rates::default();
        given
            .overrides
            .insert("RunInstances".into(), rate(5.0, 2.5));
        let budget = Budget::new(given);
        let start = Instant::now();
        for _ in 0..3 {
            budget.take("RunInstances").await;
        }
        assert_eq!(
            Instant::now(),
            start,
            "the burst of 3 (60% of 5) goes at once"
        );
        for _ in 0..4 {
            budget.take("RunInstances").await;
        }
        // Four more at 2 per second (the override's refill less the margin).
        let took = (Instant::now() - start).as_secs_f64();
        assert!((took - 2.0).abs() < 0.01, "{took}");
        // Another action's bucket is its own.
        budget.take("DescribeImages").await;
        assert_eq!(Instant::now() - start, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_action_waits_for_a_whole_token_again() {
        let budget = Budget::new(Rates::default());
        budget.take("CreateImage").await;
        budget.throttled("CreateImage");
        let start = Instant::now();
        budget.take("CreateImage").await;
        // Mutating: 5 per second, 4 with the margin, so a token takes 0.25 s from empty.
        let took = (Instant::now() - start).as_secs_f64();
        assert!((took - 0.25).abs() < 0.01, "{took}");
    }
}
