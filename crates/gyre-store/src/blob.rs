//! The content-addressed blob store.
//!
//! Architecture invariant: an object is named by the BLAKE3 hash of its bytes, is never
//! modified after it is written, is never visible half-written, and is verified against its
//! name every time it is read.

use crate::{Result, StoreError};
use async_trait::async_trait;
use fs_err as fs;
use gyre_core::ContentHash;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// What [`BlobStore::put_file`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The bytes were new and are now stored.
    Stored,
    /// An object with this hash was already stored; nothing was written.
    AlreadyPresent,
}

/// A content-addressed, immutable object store.
///
/// The trait is async so that an S3-compatible implementation (`object_store`) can sit beside
/// the local one without changing callers.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores the file at `src`, whose hash the caller computed as `expected`. If the file's
    /// bytes no longer hash to `expected` (it changed meanwhile), nothing is stored.
    async fn put_file(&self, src: &Path, expected: ContentHash) -> Result<PutOutcome>;

    /// Copies the file at `src` into the store's temporary space and checks its hash, without
    /// publishing it: the slow part of [`BlobStore::put_file`], which can run while other work
    /// decides whether the object is wanted at all. `None` when the object is already stored.
    async fn stage_file(&self, src: &Path, expected: ContentHash) -> Result<Option<StagedBlob>>;

    /// Publishes a staged copy as the object named by its hash.
    async fn commit(&self, staged: StagedBlob) -> Result<PutOutcome>;

    /// Stores bytes held in memory and returns their hash.
    async fn put_bytes(&self, bytes: Vec<u8>) -> Result<ContentHash>;

    async fn contains(&self, hash: ContentHash) -> Result<bool>;

    /// Writes the object to `dest` atomically, after verifying it. A corrupt object is
    /// reported and `dest` is left untouched.
    async fn get_to_file(&self, hash: ContentHash, dest: &Path) -> Result<()>;

    /// Reads a whole object into memory, verified.
    async fn get_bytes(&self, hash: ContentHash) -> Result<Vec<u8>>;

    /// Re-hashes a stored object and reports corruption.
    async fn verify(&self, hash: ContentHash) -> Result<()>;

    /// Where the object's bytes can be read in place, for stores that keep them on this
    /// machine. Callers verify the object first; stores without local files return `None` and
    /// callers fetch a copy with [`BlobStore::get_to_file`].
    fn local_path(&self, hash: ContentHash) -> Option<PathBuf>;

    /// Every stored object with its size and when it was written (`gyre gc`).
    async fn list(&self) -> Result<Vec<StoredObject>>;

    /// Deletes an object; `false` when there was none. Only `gyre gc` calls it, for objects
    /// nothing references.
    async fn remove(&self, hash: ContentHash) -> Result<bool>;

    /// Temporary files (left by a writer that was killed) last written before `before_ms`:
    /// removed unless `dry_run`; returns how many and their bytes.
    async fn sweep_tmp(&self, before_ms: i64, dry_run: bool) -> Result<(usize, u64)>;

    /// Drops local copies of remote objects fetched before `before_ms` (they are fetched
    /// again when next read): removed unless `dry_run`; returns how many and their bytes.
    /// A store with no cache has nothing to drop.
    async fn trim_cache(&self, _before_ms: i64, _dry_run: bool) -> Result<(usize, u64)> {
        Ok((0, 0))
    }
}

/// An object as [`BlobStore::list`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObject {
    pub hash: ContentHash,
    pub bytes: u64,
    /// When it was written, in ms since the epoch.
    pub modified_ms: i64,
}

fn modified_ms(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}

/// Hashes a file with every core (BLAKE3's rayon tree mode).
///
/// Large files are memory-mapped one 64 MiB window at a time: no copy out of the page cache
/// (as fast as `b3sum`), while resident memory stays bounded by the window, not the file.
pub fn hash_file(path: &Path) -> Result<ContentHash> {
    const WINDOW: u64 = 32 << 20;
    let context = || format!("reading {}", path.display());
    let mut file = std::fs::File::open(path).map_err(StoreError::io(context()))?;
    let len = file.metadata().map_err(StoreError::io(context()))?.len();
    let mut hasher = blake3::Hasher::new();
    if len < (1 << 20) {
        let mut buf = Vec::with_capacity(len as usize);
        file.read_to_end(&mut buf)
            .map_err(StoreError::io(context()))?;
        hasher.update(&buf);
        return Ok(hasher.finalize().into());
    }
    // One thread maps (and pre-faults) the next window while the rayon pool hashes the
    // current one; the channel holds one window, so at most three are mapped at once.
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<memmap2::Mmap>>(1);
    std::thread::scope(|scope| -> Result<()> {
        let file = &file;
        scope.spawn(move || {
            let mut offset = 0;
            while offset < len {
                let n = WINDOW.min(len - offset);
                #[allow(unsafe_code)]
                // SAFETY: the mapping is read-only and dropped after hashing. If another
                // process truncates or rewrites the file meanwhile, the hash is simply wrong
                // (as with b3sum), and a copy that is stored is hashed again before it is
                // published.
                let map = unsafe {
                    memmap2::MmapOptions::new()
                        .offset(offset)
                        .len(n as usize)
                        .populate()
                        .map(file)
                };
                let failed = map.is_err();
                if tx.send(map).is_err() || failed {
                    return;
                }
                offset += n;
            }
        });
        for map in rx {
            let map = map.map_err(StoreError::io(context()))?;
            hasher.update_rayon(&map);
        }
        Ok(())
    })?;
    // A file that grew while it was hashed is read to its new end, so the hash is of one
    // consistent length.
    let mut rest = Vec::new();
    file.seek(std::io::SeekFrom::Start(len))
        .and_then(|_| file.read_to_end(&mut rest))
        .map_err(StoreError::io(context()))?;
    hasher.update(&rest);
    Ok(hasher.finalize().into())
}

/// A verified copy of a file in the store's temporary folder, not yet visible as an object.
/// Dropping it deletes the copy; [`BlobStore::commit`] publishes it.
#[derive(Debug)]
pub struct StagedBlob {
    pub hash: ContentHash,
    pub(crate) tmp: tempfile::NamedTempFile,
}

/// Objects under `ROOT/objects/ab/cdef…`, temporary files under `ROOT/tmp/`.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    /// Opens (and creates if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for dir in [root.join("objects"), root.join("tmp")] {
            fs::create_dir_all(&dir).map_err(|e| StoreError::Io {
                context: format!("creating the blob store at {}", root.display()),
                source: e,
            })?;
        }
        Ok(LocalBlobStore { root })
    }

    /// Where the object with this hash lives. The hash is 64 hex digits by construction, so
    /// the path cannot leave the store.
    pub fn object_path(&self, hash: ContentHash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join("objects").join(&hex[..2]).join(&hex[2..])
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn stage_blocking(&self, src: &Path, expected: ContentHash) -> Result<Option<StagedBlob>> {
        if self.object_path(expected).exists() {
            return Ok(None);
        }
        self.stage_copy(src, expected).map(Some)
    }

    /// Copies `src` into the temporary folder and checks it hashes to `expected`, whether or
    /// not this store holds the object (a cache stages what its bucket lacks).
    pub(crate) fn stage_copy(&self, src: &Path, expected: ContentHash) -> Result<StagedBlob> {
        let mut tmp = tempfile::NamedTempFile::new_in(self.tmp_dir()).map_err(StoreError::io(
            format!("creating a temporary file in {}", self.tmp_dir().display()),
        ))?;
        let mut input = fs::File::open(src).map_err(|e| StoreError::Io {
            context: format!("opening {}", src.display()),
            source: e,
        })?;
        // std::io::copy between two files uses copy_file_range on Linux: the kernel moves the
        // bytes without a round trip through user space.
        std::io::copy(input.file_mut(), tmp.as_file_mut()).map_err(StoreError::io(format!(
            "storing {} (is the disk full?)",
            src.display()
        )))?;
        tmp.as_file().sync_all().map_err(StoreError::io(format!(
            "syncing the copy of {}",
            src.display()
        )))?;
        let found = hash_file(tmp.path())?;
        if found != expected {
            return Err(StoreError::SourceChanged {
                path: src.to_path_buf(),
                expected,
                found,
            });
        }
        Ok(StagedBlob {
            hash: expected,
            tmp,
        })
    }

    fn commit_blocking(&self, staged: StagedBlob) -> Result<PutOutcome> {
        let dest = self.object_path(staged.hash);
        if dest.exists() {
            return Ok(PutOutcome::AlreadyPresent);
        }
        self.publish(staged.tmp, &dest)?;
        Ok(PutOutcome::Stored)
    }

    /// Moves a complete, synced temporary file to its final name and syncs the directory, so
    /// the object is either fully there or not there at all, even across a crash.
    pub(crate) fn publish(&self, tmp: tempfile::NamedTempFile, dest: &Path) -> Result<()> {
        let shard = dest.parent().expect("object paths have a shard folder");
        let new_shard = !shard.exists();
        fs::create_dir_all(shard).map_err(|e| StoreError::Io {
            context: format!("creating {}", shard.display()),
            source: e,
        })?;
        let mut perms = tmp
            .as_file()
            .metadata()
            .map_err(StoreError::io("reading a temporary file's metadata"))?
            .permissions();
        perms.set_readonly(true);
        tmp.as_file()
            .set_permissions(perms)
            .map_err(StoreError::io("making an object read-only"))?;
        tmp.persist(dest).map_err(|e| StoreError::Io {
            context: format!("moving an object into place at {}", dest.display()),
            source: e.error,
        })?;
        sync_dir(shard)?;
        if new_shard {
            sync_dir(shard.parent().expect("shards live in objects/"))?;
        }
        Ok(())
    }

    fn get_to_file_blocking(&self, hash: ContentHash, dest: &Path) -> Result<()> {
        let src = self.existing_object(hash)?;
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(|e| StoreError::Io {
            context: format!("creating {}", parent.display()),
            source: e,
        })?;
        let mut tmp = tempfile::NamedTempFile::new_in(&parent).map_err(StoreError::io(format!(
            "creating a temporary file in {}",
            parent.display()
        )))?;
        let found = copy_hashing(&src, tmp.as_file_mut())?;
        if found != hash {
            return Err(StoreError::Corrupt {
                hash,
                found,
                path: src,
            });
        }
        tmp.as_file()
            .sync_all()
            .map_err(StoreError::io(format!("syncing {}", dest.display())))?;
        tmp.persist(dest).map_err(|e| StoreError::Io {
            context: format!("writing {}", dest.display()),
            source: e.error,
        })?;
        sync_dir(&parent)
    }

    fn existing_object(&self, hash: ContentHash) -> Result<PathBuf> {
        let path = self.object_path(hash);
        if path.is_file() {
            Ok(path)
        } else {
            Err(StoreError::MissingObject { hash, path })
        }
    }
}

/// Copies `src` into `out` while hashing it, in one pass over the bytes.
fn copy_hashing(src: &Path, out: &mut impl Write) -> Result<ContentHash> {
    let mut input = fs::File::open(src).map_err(|e| StoreError::Io {
        context: format!("opening {}", src.display()),
        source: e,
    })?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input
            .read(&mut buf)
            .map_err(StoreError::io(format!("reading {}", src.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(StoreError::io(
            "writing a restored file (is the disk full?)",
        ))?;
    }
    Ok(hasher.finalize().into())
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io(format!("syncing folder {}", dir.display())))
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put_file(&self, src: &Path, expected: ContentHash) -> Result<PutOutcome> {
        match self.stage_file(src, expected).await? {
            Some(staged) => self.commit(staged).await,
            None => Ok(PutOutcome::AlreadyPresent),
        }
    }

    async fn stage_file(&self, src: &Path, expected: ContentHash) -> Result<Option<StagedBlob>> {
        let (this, src) = (self.clone(), src.to_path_buf());
        blocking(move || this.stage_blocking(&src, expected)).await
    }

    async fn commit(&self, staged: StagedBlob) -> Result<PutOutcome> {
        let this = self.clone();
        blocking(move || this.commit_blocking(staged)).await
    }

    async fn put_bytes(&self, bytes: Vec<u8>) -> Result<ContentHash> {
        let this = self.clone();
        blocking(move || {
            let hash = ContentHash::of(&bytes);
            let dest = this.object_path(hash);
            if dest.exists() {
                return Ok(hash);
            }
            let mut tmp = tempfile::NamedTempFile::new_in(this.tmp_dir()).map_err(
                StoreError::io("creating a temporary file in the blob store"),
            )?;
            tmp.write_all(&bytes)
                .and_then(|_| tmp.as_file().sync_all())
                .map_err(StoreError::io("writing an object (is the disk full?)"))?;
            this.publish(tmp, &dest)?;
            Ok(hash)
        })
        .await
    }

    async fn contains(&self, hash: ContentHash) -> Result<bool> {
        Ok(self.object_path(hash).is_file())
    }

    async fn get_to_file(&self, hash: ContentHash, dest: &Path) -> Result<()> {
        let (this, dest) = (self.clone(), dest.to_path_buf());
        blocking(move || this.get_to_file_blocking(hash, &dest)).await
    }

    async fn get_bytes(&self, hash: ContentHash) -> Result<Vec<u8>> {
        let this = self.clone();
        blocking(move || {
            let path = this.existing_object(hash)?;
            let bytes = fs::read(&path).map_err(|e| StoreError::Io {
                context: format!("reading {}", path.display()),
                source: e,
            })?;
            let found = ContentHash::of(&bytes);
            if found != hash {
                return Err(StoreError::Corrupt { hash, found, path });
            }
            Ok(bytes)
        })
        .await
    }

    fn local_path(&self, hash: ContentHash) -> Option<PathBuf> {
        Some(self.object_path(hash))
    }

    async fn verify(&self, hash: ContentHash) -> Result<()> {
        let this = self.clone();
        blocking(move || {
            let path = this.existing_object(hash)?;
            let found = hash_file(&path)?;
            if found != hash {
                return Err(StoreError::Corrupt { hash, found, path });
            }
            Ok(())
        })
        .await
    }

    async fn list(&self) -> Result<Vec<StoredObject>> {
        let root = self.root.join("objects");
        blocking(move || {
            let mut out = Vec::new();
            let io = |e: std::io::Error| StoreError::Io {
                context: format!("listing {}", root.display()),
                source: e,
            };
            for dir in std::fs::read_dir(&root).map_err(io)? {
                let dir = dir.map_err(io)?;
                let prefix = dir.file_name().to_string_lossy().into_owned();
                if prefix.len() != 2 || !dir.file_type().map_err(io)?.is_dir() {
                    continue;
                }
                for file in std::fs::read_dir(dir.path()).map_err(io)? {
                    let file = file.map_err(io)?;
                    let name = format!("{prefix}{}", file.file_name().to_string_lossy());
                    // Anything not named by a hash is not an object of this store.
                    let Ok(hash) = name.parse::<ContentHash>() else {
                        continue;
                    };
                    let meta = file.metadata().map_err(io)?;
                    out.push(StoredObject {
                        hash,
                        bytes: meta.len(),
                        modified_ms: modified_ms(&meta),
                    });
                }
            }
            out.sort_by_key(|o| o.hash.to_hex());
            Ok(out)
        })
        .await
    }

    async fn remove(&self, hash: ContentHash) -> Result<bool> {
        let path = self.object_path(hash);
        blocking(move || match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::Io {
                context: format!("removing {}", path.display()),
                source: e,
            }),
        })
        .await
    }

    async fn sweep_tmp(&self, before_ms: i64, dry_run: bool) -> Result<(usize, u64)> {
        let tmp = self.tmp_dir();
        blocking(move || {
            let io = |e: std::io::Error| StoreError::Io {
                context: format!("sweeping {}", tmp.display()),
                source: e,
            };
            let (mut n, mut bytes) = (0, 0);
            for file in std::fs::read_dir(&tmp).map_err(io)? {
                let file = file.map_err(io)?;
                let meta = file.metadata().map_err(io)?;
                if !meta.is_file() || modified_ms(&meta) >= before_ms {
                    continue;
                }
                if !dry_run {
                    match std::fs::remove_file(file.path()) {
                        Ok(()) => {}
                        // Its writer finished (renamed it into place) meanwhile.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(io(e)),
                    }
                }
                n += 1;
                bytes += meta.len();
            }
            Ok((n, bytes))
        })
        .await
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Io {
            context: "a blob store task stopped".into(),
            source: std::io::Error::other(e.to_string()),
        })?
}
