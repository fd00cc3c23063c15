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

/// Runs `work` over `files` on this blocking-capable thread as phase `phase`, sized by the
/// files' bytes; `work` reports bytes read through the callback it is given.
pub(crate) fn over_files<T>(
    files: &[gyre_data::InputFile],
    phase: &str,
    progress: &dyn Progress,
    work: impl FnOnce(&(dyn Fn(u64) + Sync)) -> T,
) -> T {
    let total = files
        .iter()
        .map(|f| std::fs::metadata(&f.path).map(|m| m.len()).unwrap_or(0))
        .sum();
    progress.start(phase, total);
    let advance = |n: u64| progress.advance(n);
    let out = crate::datasets::blocking_here(|| work(&advance));
    progress.finish();
    out
}
