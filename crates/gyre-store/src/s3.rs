//! The blob store in S3-compatible object storage, for a team whose servers, agents and laptops
//! share one project.
//!
//! Objects live at `s3://BUCKET/PREFIX/objects/ab/cdef…`, the layout of the local store, so a
//! bucket can be seeded with a plain copy of `.gyre/objects/`. Every object that is read is
//! first fetched into a local read cache (a [`LocalBlobStore`] under `.gyre/bucket-cache/`), hashed
//! as it streams in and published there only when it matches its name: the invariants of
//! [`crate::blob`] hold, and a second read costs no request. Uploads of files are streamed in
//! parts (multipart above [`PART_BYTES`]), so memory stays bounded by the parts in flight,
//! never the file; an upload is invisible until S3 completes it.
//!
//! Credentials and the endpoint come from the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`…), read by
//! `object_store`; none is ever printed.

use crate::blob::{BlobStore, LocalBlobStore, PutOutcome, StagedBlob, StoredObject, blocking};
use crate::{Result, StoreError};
use async_trait::async_trait;
use futures_util::StreamExt;
use gyre_core::ContentHash;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The size of an upload's parts: S3 wants at least 5 MiB (but the last), and a file smaller
/// than one part goes up in a single request.
pub const PART_BYTES: usize = 8 << 20;
/// Parts of one file in flight at once.
const PARTS_IN_FLIGHT: usize = 8;

/// Objects in S3-compatible storage, read through a local cache.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    remote: Arc<dyn ObjectStore>,
    /// `PREFIX/objects`, under which the shards live.
    objects: Key,
    /// `s3://BUCKET/PREFIX`, for messages.
    url: String,
    cache: LocalBlobStore,
}

/// An `s3://BUCKET[/PREFIX]` URL, split and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Url {
    pub bucket: String,
    pub prefix: String,
}

impl std::str::FromStr for S3Url {
    type Err = StoreError;
    fn from_str(url: &str) -> Result<S3Url> {
        let bad = |why: &str| StoreError::Invalid(format!("object store URL `{url}`: {why}"));
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("use s3://BUCKET/PREFIX"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(bad(
                "a bucket name is 3 to 63 lowercase letters, digits, dots and hyphens",
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix
            .split('/')
            .any(|s| matches!(s, "." | "..") || (s.is_empty() && !prefix.is_empty()))
        {
            return Err(bad("the prefix has an empty, `.` or `..` segment"));
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

fn remote_error(context: String) -> impl FnOnce(object_store::Error) -> StoreError {
    move |source| StoreError::Remote {
        context,
        source: Box::new(source),
    }
}

/// A file that did not hash to the name it was to be stored under.
fn changed(src: &Path, expected: ContentHash, found: ContentHash) -> StoreError {
    StoreError::SourceChanged {
        path: src.to_path_buf(),
        expected,
        found,
    }
}

impl S3BlobStore {
    /// Opens the bucket named by `url` (`s3://BUCKET/PREFIX`), with credentials and endpoint
    /// from the environment, and a read cache rooted at `cache`. Nothing is requested yet.
    pub fn open(url: &str, cache: &Path) -> Result<S3BlobStore> {
        S3BlobStore::with_cache(url, LocalBlobStore::open(cache)?)
    }

    /// The bucket named by `url`, with `cache` as its local side: a project's own object
    /// store when `gyre push` and `gyre pull` exchange objects with a bucket.
    pub fn with_cache(url: &str, cache: LocalBlobStore) -> Result<S3BlobStore> {
        let parsed: S3Url = url.parse()?;
        // reqwest's rustls is built without a crypto provider of its own; rustls's ring (which
        // the NATS client already brings) is the process's default. Installing twice is a
        // no-op that reports the provider already there.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let remote = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(&parsed.bucket)
            .build()
            .map_err(remote_error(format!("opening {parsed}")))?;
        let objects = if parsed.prefix.is_empty() {
            Key::from("objects")
        } else {
            Key::from(format!("{}/objects", parsed.prefix))
        };
        Ok(S3BlobStore {
            remote: Arc::new(remote),
            objects,
            url: parsed.to_string(),
            cache,
        })
    }

    /// The local read cache.
    pub fn cache(&self) -> &LocalBlobStore {
        &self.cache
    }

    fn key(&self, hash: ContentHash) -> Key {
        let hex = hash.to_hex();
        self.objects.clone().join(&hex[..2]).join(&hex[2..])
    }

    /// How the object is named in messages.
    fn display(&self, hash: ContentHash) -> PathBuf {
        PathBuf::from(format!("{}/{}", self.url, self.key_suffix(hash)))
    }

    fn key_suffix(&self, hash: ContentHash) -> String {
        let hex = hash.to_hex();
        format!("objects/{}/{}", &hex[..2], &hex[2..])
    }

    /// `s3://BUCKET/PREFIX`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Uploads the local side's copy of an object (`gyre push`), hashing it as it streams:
    /// a local copy that rotted is refused, and the bucket never shows it.
    pub async fn push_cached(&self, hash: ContentHash) -> Result<u64> {
        let path = self.cache.object_path(hash);
        if !path.is_file() {
            return Err(StoreError::MissingObject { hash, path });
        }
        match self.upload(&path, hash).await {
            // A stored object that no longer hashes to its name has rotted; it did not change
            // under a writer.
            Err(StoreError::SourceChanged { found, .. }) => {
                Err(StoreError::Corrupt { hash, found, path })
            }
            other => other,
        }
    }

    /// Downloads an object into the local side when it lacks it (`gyre pull`), verified.
    pub async fn pull_to_cache(&self, hash: ContentHash) -> Result<()> {
        self.fetch(hash).await
    }

    /// Uploads a file that should hash to `hash`: in one request when small, else in parts,
    /// streamed from disk. The bytes are hashed as they are sent; on a mismatch nothing is
    /// published (a multipart upload is aborted) and the error names what was found.
    /// Returns the bytes sent.
    async fn upload(&self, src: &Path, hash: ContentHash) -> Result<u64> {
        let key = self.key(hash);
        let context = || {
            format!(
                "uploading {} to {}",
                src.display(),
                self.display(hash).display()
            )
        };
        let mut file = tokio::fs::File::open(src)
            .await
            .map_err(StoreError::io(format!("opening {}", src.display())))?;
        let len = file
            .metadata()
            .await
            .map_err(StoreError::io(format!("reading {}", src.display())))?
            .len();
        if len <= PART_BYTES as u64 {
            let mut buf = Vec::with_capacity(len as usize);
            file.read_to_end(&mut buf)
                .await
                .map_err(StoreError::io(format!("reading {}", src.display())))?;
            let found = ContentHash::of(&buf);
            if found != hash {
                return Err(changed(src, hash, found));
            }
            let sent = buf.len() as u64;
            self.remote
                .put(&key, PutPayload::from(buf))
                .await
                .map_err(remote_error(context()))?;
            return Ok(sent);
        }
        let upload = self
            .remote
            .put_multipart(&key)
            .await
            .map_err(remote_error(context()))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut hasher = blake3::Hasher::new();
        let mut total = 0u64;
        let sent: Result<()> = async {
            loop {
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(remote_error(context()))?;
                let mut part = bytes::BytesMut::zeroed(PART_BYTES);
                let mut filled = 0;
                while filled < PART_BYTES {
                    let n = file
                        .read(&mut part[filled..])
                        .await
                        .map_err(StoreError::io(format!("reading {}", src.display())))?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                part.truncate(filled);
                if filled == 0 {
                    return Ok(());
                }
                hasher.update_rayon(&part);
                total += filled as u64;
                writer.put(part.freeze());
                if filled < PART_BYTES {
                    return Ok(());
                }
            }
        }
        .await
        .and_then(|()| {
            let found: ContentHash = hasher.finalize().into();
            if found == hash {
                Ok(())
            } else {
                Err(changed(src, hash, found))
            }
        });
        match sent {
            Ok(()) => {
                writer.finish().await.map_err(remote_error(context()))?;
                Ok(total)
            }
            Err(e) => {
                // Parts already sent are discarded by S3; the object never appears.
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    /// Makes sure the cache holds a verified copy of the object: downloads it when missing,
    /// hashing as it streams in, and publishes it only when the hash matches.
    async fn fetch(&self, hash: ContentHash) -> Result<()> {
        if self.cache.contains(hash).await? {
            return Ok(());
        }
        let name = self.display(hash);
        let got = match self.remote.get(&self.key(hash)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StoreError::MissingObject { hash, path: name });
            }
            Err(e) => return Err(remote_error(format!("reading {}", name.display()))(e)),
        };
        let tmp_dir = self.cache.tmp_dir();
        let tmp = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(StoreError::io(format!(
            "creating a temporary file in {}",
            tmp_dir.display()
        )))?;
        let full = || StoreError::io("writing to the read cache (is the disk full?)");
        // Written through tokio's blocking pool: a large object never stalls the runtime.
        let mut out = tokio::fs::File::from_std(tmp.as_file().try_clone().map_err(full())?);
        let mut hasher = blake3::Hasher::new();
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(remote_error(format!("reading {}", name.display())))?;
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(full())?;
        }
        out.flush().await.map_err(full())?;
        drop(out);
        let found: ContentHash = hasher.finalize().into();
        if found != hash {
            return Err(StoreError::Corrupt {
                hash,
                found,
                path: name,
            });
        }
        let (cache, dest) = (self.cache.clone(), self.cache.object_path(hash));
        blocking(move || {
            tmp.as_file()
                .sync_all()
                .map_err(StoreError::io("syncing the read cache"))?;
            if dest.exists() {
                return Ok(());
            }
            cache.publish(tmp, &dest)
        })
        .await
    }

    /// The remote object's size, or `None` when there is none.
    pub async fn head(&self, hash: ContentHash) -> Result<Option<u64>> {
        match self.remote.head(&self.key(hash)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(remote_error(format!(
                "looking for {}",
                self.display(hash).display()
            ))(e)),
        }
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put_file(&self, src: &Path, expected: ContentHash) -> Result<PutOutcome> {
        match self.stage_file(src, expected).await? {
            Some(staged) => self.commit(staged).await,
            None => Ok(PutOutcome::AlreadyPresent),
        }
    }

    /// The copy is staged (and checked) in the cache's temporary space, as the local store
    /// does: what is uploaded is bytes already known to hash to the name.
    async fn stage_file(&self, src: &Path, expected: ContentHash) -> Result<Option<StagedBlob>> {
        if self.head(expected).await?.is_some() {
            return Ok(None);
        }
        let (cache, src) = (self.cache.clone(), src.to_path_buf());
        blocking(move || cache.stage_copy(&src, expected).map(Some)).await
    }

    async fn commit(&self, staged: StagedBlob) -> Result<PutOutcome> {
        if self.head(staged.hash).await?.is_some() {
            return Ok(PutOutcome::AlreadyPresent);
        }
        self.upload(staged.tmp.path(), staged.hash).await?;
        // Write through: the machine that stored an object reads it without a request.
        self.cache.commit(staged).await?;
        Ok(PutOutcome::Stored)
    }

    async fn put_bytes(&self, bytes: Vec<u8>) -> Result<ContentHash> {
        let hash = ContentHash::of(&bytes);
        if self.head(hash).await?.is_none() {
            let payload = PutPayload::from(bytes.clone());
            self.remote
                .put(&self.key(hash), payload)
                .await
                .map_err(remote_error(format!(
                    "uploading {}",
                    self.display(hash).display()
                )))?;
        }
        self.cache.put_bytes(bytes).await?;
        Ok(hash)
    }

    /// Asks the bucket, not the cache: an object another machine's `gyre gc` removed is gone.
    async fn contains(&self, hash: ContentHash) -> Result<bool> {
        Ok(self.head(hash).await?.is_some())
    }

    async fn get_to_file(&self, hash: ContentHash, dest: &Path) -> Result<()> {
        self.fetch(hash).await?;
        self.cache.get_to_file(hash, dest).await
    }

    async fn get_bytes(&self, hash: ContentHash) -> Result<Vec<u8>> {
        self.fetch(hash).await?;
        self.cache.get_bytes(hash).await
    }

    /// Fetches the object when the cache lacks it (verified as it arrives), then re-hashes
    /// the cached copy, which [`BlobStore::local_path`] hands out.
    async fn verify(&self, hash: ContentHash) -> Result<()> {
        self.fetch(hash).await?;
        self.cache.verify(hash).await
    }

    fn local_path(&self, hash: ContentHash) -> Option<PathBuf> {
        let path = self.cache.object_path(hash);
        path.is_file().then_some(path)
    }

    async fn list(&self) -> Result<Vec<StoredObject>> {
        let mut out = Vec::new();
        let mut listing = self.remote.list(Some(&self.objects));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(remote_error(format!("listing {}/objects", self.url)))?;
            let mut parts: Vec<_> = meta.location.parts().collect();
            let (Some(rest), Some(shard)) = (parts.pop(), parts.pop()) else {
                continue;
            };
            // Anything not named by a hash is not an object of this store.
            let Ok(hash) = format!("{}{}", shard.as_ref(), rest.as_ref()).parse::<ContentHash>()
            else {
                continue;
            };
            out.push(StoredObject {
                hash,
                bytes: meta.size,
                modified_ms: meta.last_modified.timestamp_millis(),
            });
        }
        out.sort_by_key(|o| o.hash.to_hex());
        Ok(out)
    }

    async fn remove(&self, hash: ContentHash) -> Result<bool> {
        let present = self.head(hash).await?.is_some();
        if present {
            self.remote
                .delete(&self.key(hash))
                .await
                .map_err(remote_error(format!(
                    "removing {}",
                    self.display(hash).display()
                )))?;
        }
        self.cache.remove(hash).await?;
        Ok(present)
    }

    /// The cache's temporary files. An upload a killed writer left unfinished holds parts in
    /// the bucket that S3 never shows as an object; a bucket lifecycle rule
    /// (`AbortIncompleteMultipartUpload`) reclaims them.
    async fn sweep_tmp(&self, before_ms: i64, dry_run: bool) -> Result<(usize, u64)> {
        self.cache.sweep_tmp(before_ms, dry_run).await
    }

    async fn trim_cache(&self, before_ms: i64, dry_run: bool) -> Result<(usize, u64)> {
        let (mut n, mut bytes) = (0, 0);
        for o in self.cache.list().await? {
            if o.modified_ms >= before_ms {
                continue;
            }
            if dry_run || self.cache.remove(o.hash).await? {
                n += 1;
                bytes += o.bytes;
            }
        }
        Ok((n, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::S3Url;

    #[test]
    fn urls() {
        let u: S3Url = "s3://team-bucket/gyre/churn/".parse().unwrap();
        assert_eq!(u.bucket, "team-bucket");
        assert_eq!(u.prefix, "gyre/churn");
        assert_eq!(u.to_string(), "s3://team-bucket/gyre/churn");
        let bare: S3Url = "s3://team-bucket".parse().unwrap();
        assert_eq!(bare.prefix, "");
        for bad in [
            "gs://b/x",
            "s3://",
            "s3://Upper/x",
            "s3://ok-bucket/a/../b",
            "s3://ok-bucket/a//b",
        ] {
            assert!(bad.parse::<S3Url>().is_err(), "{bad} must be refused");
        }
    }
}
