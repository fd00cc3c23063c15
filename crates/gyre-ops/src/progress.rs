//! How long operations report progress. The CLI draws bars; the API and tests pass
//! [`NoProgress`].

/// A sink for progress of long work, measured in bytes.
pub trait Progress: Sync {
    /// A new phase (`hashing`, `profiling`, ...) over `total` bytes.
    fn start(&self, phase: &str, total: u64);
    fn advance(&self, bytes: u64);
    fn finish(&self);
}

pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}
