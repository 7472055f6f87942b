//! Sealing a finished build's prefix. The bootstrap's presigned PUT URLs (log, status) stay
//! valid until they expire, and anyone who reads the instance's user data can replay them. S3
//! cannot revoke a presigned URL, but a bucket policy's explicit Deny applies to presigned
//! requests too: when a build is done, its prefix gets a Deny of s3:PutObject that lasts until
//! its URLs expire (a `DateLessThan aws:CurrentTime` condition), so a replayed PUT is refused.
//! Lapsed statements are dropped on the next write, so the policy stays small. Statements of
//! others are kept as they are. Only the run holding the bucket's lock writes its policy.

use std::collections::HashMap;
use std::time::SystemTime;

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::aws::{RegionClients, errors};

/// The Sid prefix of amipub's statements.
const SID_PREFIX: &str = "AmipubSealed";

/// The policies of the run's staging buckets, as amipub last wrote them.
#[derive(Debug, Default)]
pub struct Sealer {
    /// bucket -> statements (`None` until read).
    policies: HashMap<String, Mutex<Option<Vec<Value>>>>,
}

impl Sealer {
    /// A sealer for `buckets`.
    pub fn new<'a>(buckets: impl IntoIterator<Item = &'a str>) -> Sealer {
        Sealer {
            policies: buckets
                .into_iter()
                .map(|b| (b.to_string(), Mutex::new(None)))
                .collect(),
        }
    }

    /// Says that this run created `bucket`: it has no policy, so the first seal need not
    /// read one.
    pub async fn created(&self, bucket: &str) {
        if let Some(slot) = self.policies.get(bucket) {
            slot.lock().await.get_or_insert_with(Vec::new);
        }
    }

    /// Denies writes under each of `prefixes` (`<run>/<build>` or `<run>`) of `bucket` until
    /// `until`.
    pub async fn seal(
        &self,
        c: &RegionClients,
        bucket: &str,
        prefixes: &[&str],
        until: SystemTime,
    ) -> Result<(), String> {
        if prefixes.is_empty() {
            return Ok(());
        }
        let Some(slot) = self.policies.get(bucket) else {
            return Err(format!("no policy state for {bucket} (this is a bug)"));
        };
        let mut slot = slot.lock().await;
        let mut statements = match slot.take() {
            Some(s) => s,
            None => read(c, bucket).await?,
        };
        let now = SystemTime::now();
        statements.retain(|s| !lapsed(s, now));
        for prefix in prefixes {
            let sid = sid(prefix);
            statements.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(sid.as_str()));
            statements.push(statement(bucket, prefix, until));
        }
        let policy = json!({ "Version": "2012-10-17", "Statement": statements });
        let result =
            c.s3.put_bucket_policy()
                .bucket(bucket)
                .policy(policy.to_string())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    format!(
                        "denying writes to s3://{bucket}/{}/ with the bucket policy: {}",
                        prefixes.join("/, "),
                        errors::describe(&e)
                    )
                });
        *slot = Some(statements);
        result
    }
}

/// The bucket's current statements; none when it has no policy.
async fn read(c: &RegionClients, bucket: &str) -> Result<Vec<Value>, String> {
    match c.s3.get_bucket_policy().bucket(bucket).send().await {
        Ok(out) => {
            let doc: Value = serde_json::from_str(out.policy().unwrap_or("{}"))
                .map_err(|e| format!("the policy of s3://{bucket} is not JSON: {e}"))?;
            Ok(match doc.get("Statement") {
                Some(Value::Array(a)) => a.clone(),
                Some(one) => vec![one.clone()],
                None => Vec::new(),
            })
        }
        Err(e) if errors::code(&e) == Some("NoSuchBucketPolicy") => Ok(Vec::new()),
        Err(e) => Err(format!(
            "reading the policy of s3://{bucket}: {}",
            errors::describe(&e)
        )),
    }
}

/// The Deny statement sealing `prefix/` until `until`.
fn statement(bucket: &str, prefix: &str, until: SystemTime) -> Value {
    json!({
        "Sid": sid(prefix),
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": format!("arn:aws:s3:::{bucket}/{prefix}/*"),
        "Condition": {
            "DateLessThan": {
                "aws:CurrentTime": humantime::format_rfc3339_seconds(until).to_string()
            }
        }
    })
}

/// A Sid for `prefix`: letters and digits only, as IAM requires.
fn sid(prefix: &str) -> String {
    let clean: String = prefix.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("{SID_PREFIX}{clean}")
}

/// True for amipub's statements whose time has passed; others are never touched.
fn lapsed(s: &Value, now: SystemTime) -> bool {
    let ours = s
        .get("Sid")
        .and_then(Value::as_str)
        .is_some_and(|sid| sid.starts_with(SID_PREFIX));
    let until = s
        .pointer("/Condition/DateLessThan/aws:CurrentTime")
        .and_then(Value::as_str)
        .and_then(|t| humantime::parse_rfc3339(t).ok());
    ours && until.is_none_or(|t| t <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_amipubs_lapsed_statements_are_dropped() {
        let now = SystemTime::now();
        let old = statement("b", "run/x", now - Duration::from_secs(1));
        let live = statement("b", "run/y", now + Duration::from_secs(60));
        let theirs = json!({"Sid": "Theirs", "Effect": "Deny", "Condition": {}});
        assert!(lapsed(&old, now));
        assert!(!lapsed(&live, now));
        assert!(!lapsed(&theirs, now));
        assert_eq!(
            sid("20261121T000000Z-abc/us-east-1-1404-pv"),
            "AmipubSealed20261121T000000Zabcuseast11404pv"
        );
        assert_eq!(live["Resource"], "arn:aws:s3:::b/run/y/*");
    }
}
