//! SplitMix64: the bootstrap's resampling stream.
//!
//! Written here rather than taken from `rand` because a verdict must be reproducible from
//! the same rows forever: a dependency's generator may change its stream between versions,
//! and these eight lines never will.

pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// An index below `n` (n > 0), by Lemire's multiply-shift (bias below 2^-32 for the
    /// sizes a canary sees).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}
