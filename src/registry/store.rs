//! The registry's documents in S3, read with their ETags and written with conditional
//! requests (If-None-Match for a new document, If-Match for a changed one): two operators can
//! never overwrite each other's change. A write that loses a race is made again on fresh data.

use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::RegistryError;
use super::schema::{Index, Version};
use crate::aws::errors;

/// How many times a change is made again on fresh data after losing a race.
const ATTEMPTS: usize = 5;

/// The documents of one artifact in one bucket.
pub struct Store {
    s3: aws_sdk_s3::Client,
    bucket: String,
    artifact: String,
}

/// A document and the ETag it was read with (`None`: it does not exist yet).
pub struct Read<T> {
    /// The document (a new one when it did not exist).
    pub doc: T,
    etag: Option<String>,
}

impl Store {
    /// The documents of `artifact` in `bucket`, through `s3` (a client of the bucket's region).
    pub fn new(s3: aws_sdk_s3::Client, bucket: &str, artifact: &str) -> Store {
        Store {
            s3,
            bucket: bucket.to_string(),
            artifact: artifact.to_string(),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The S3 client of the bucket's region.
    pub fn s3(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    fn index_key(&self) -> String {
        format!("artifacts/{}/index.json", self.artifact)
    }

    fn version_key(&self, version: &str) -> String {
        format!("artifacts/{}/versions/{version}.json", self.artifact)
    }

    /// The index (an empty one when there is none yet).
    pub async fn index(&self) -> Result<Read<Index>, RegistryError> {
        let read = self.get::<Index>(&self.index_key()).await?;
        Ok(read.unwrap_or_else(|| Read {
            doc: Index::new(&self.artifact),
            etag: None,
        }))
    }

    /// A version's document, if it is recorded.
    pub async fn version(&self, version: &str) -> Result<Option<Read<Version>>, RegistryError> {
        self.get::<Version>(&self.version_key(version)).await
    }

    /// Applies `change` to the index and writes it, on fresh data as often as a concurrent
    /// writer gets in first; `change` may refuse (nothing is written then).
    pub async fn update_index(
        &self,
        mut change: impl FnMut(&mut Index) -> Result<(), RegistryError>,
    ) -> Result<Index, RegistryError> {
        for _ in 0..ATTEMPTS {
            let mut read = self.index().await?;
            change(&mut read.doc)?;
            if self
                .put(&self.index_key(), &read.doc, read.etag.as_deref())
                .await?
            {
                return Ok(read.doc);
            }
        }
        Err(self.busy("index"))
    }

    /// Applies `change` to a version's document (`fresh` makes it when there is none) and
    /// writes it, on fresh data as often as a concurrent writer gets in first.
    pub async fn update_version(
        &self,
        version: &str,
        fresh: impl Fn() -> Version,
        mut change: impl FnMut(&mut Version) -> Result<(), RegistryError>,
    ) -> Result<Version, RegistryError> {
        let key = self.version_key(version);
        for _ in 0..ATTEMPTS {
            let mut read = self.version(version).await?.unwrap_or_else(|| Read {
                doc: fresh(),
                etag: None,
            });
            change(&mut read.doc)?;
            if self.put(&key, &read.doc, read.etag.as_deref()).await? {
                return Ok(read.doc);
            }
        }
        Err(self.busy(&format!("version {version}")))
    }

    fn busy(&self, what: &str) -> RegistryError {
        RegistryError::Conflict(format!(
            "the registry's {what} in s3://{} kept changing while this command wrote it ({ATTEMPTS} attempts); another operator is changing it: run the command again",
            self.bucket
        ))
    }

    async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<Read<T>>, RegistryError> {
        let got = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let out = match got {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(self.aws("reading", key, errors::describe(&e))),
        };
        let etag = out.e_tag().map(str::to_string);
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| self.aws("reading", key, e.to_string()))?
            .into_bytes();
        let doc = serde_json::from_slice(&bytes).map_err(|e| {
            RegistryError::Damaged(format!(
                "s3://{}/{key} is not a registry document: {e}",
                self.bucket
            ))
        })?;
        Ok(Some(Read { doc, etag }))
    }

    /// Writes `doc` at `key` if it is still as read (`etag`), or still absent (`None`).
    /// Returns false when another writer got in first.
    async fn put<T: Serialize>(
        &self,
        key: &str,
        doc: &T,
        etag: Option<&str>,
    ) -> Result<bool, RegistryError> {
        let mut body = serde_json::to_vec_pretty(doc).expect("in-memory JSON");
        body.push(b'\n');
        let req = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        let req = match etag {
            Some(t) => req.if_match(t),
            None => req.if_none_match("*"),
        };
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if lost_race(errors::code(&e)) => Ok(false),
            Err(e) => Err(self.aws("writing", key, errors::describe(&e))),
        }
    }

    fn aws(&self, doing: &str, key: &str, why: String) -> RegistryError {
        RegistryError::Aws(format!("{doing} s3://{}/{key}: {why}", self.bucket))
    }
}

/// S3's answers to a conditional write that another writer beat (or raced).
fn lost_race(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("PreconditionFailed" | "ConditionalRequestConflict")
    )
}
