//! A size + mtime index of hashed files, like git's index: `gyre data status` re-hashes only
//! files whose size or modification time changed since they were last hashed.
//!
//! It is a cache, local to this machine: losing it (or losing a write to a concurrent process)
//! only costs a re-hash. It is written atomically, so it is never half-written.

use gyre_core::ContentHash;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub size: u64,
    pub mtime_ns: i128,
}

impl Stamp {
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(-1);
        Stamp {
            size: meta.len(),
            mtime_ns,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    stamp: Stamp,
    hash: ContentHash,
    /// When the hash was taken. A file modified in the same instant it was hashed could
    /// have changed after hashing without a new mtime ("racily clean"), so it is re-hashed.
    hashed_ns: i128,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StatCache {
    entries: HashMap<PathBuf, Entry>,
    #[serde(skip)]
    dirty: bool,
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

impl StatCache {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("cache").join("stat.json")
    }

    /// Loads the cache; a missing or unreadable one is an empty cache.
    pub fn load(state_dir: &Path) -> StatCache {
        std::fs::read(Self::path(state_dir))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// The cached hash of `path`, when its stamp is unchanged and was not racily clean.
    pub fn get(&self, path: &Path, stamp: Stamp) -> Option<ContentHash> {
        let e = self.entries.get(path)?;
        (e.stamp == stamp && stamp.mtime_ns >= 0 && stamp.mtime_ns < e.hashed_ns).then_some(e.hash)
    }

    pub fn put(&mut self, path: PathBuf, stamp: Stamp, hash: ContentHash, hashed_ns: Option<i128>) {
        self.entries.insert(
            path,
            Entry {
                stamp,
                hash,
                hashed_ns: hashed_ns.unwrap_or_else(now_ns),
            },
        );
        self.dirty = true;
    }

    /// Writes the cache if it changed. Failure to write is not an error: it is a cache.
    pub fn save(&self, state_dir: &Path) {
        if !self.dirty {
            return;
        }
        let path = Self::path(state_dir);
        let Some(dir) = path.parent() else { return };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let tmp = tempfile::NamedTempFile::new_in(dir)?;
            let mut out = std::io::BufWriter::with_capacity(1 << 20, tmp);
            serde_json::to_writer(&mut out, self)?;
            let tmp = out.into_inner().map_err(|e| e.into_error())?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        };
        let _ = write();
    }
}

pub fn now() -> i128 {
    now_ns()
}
