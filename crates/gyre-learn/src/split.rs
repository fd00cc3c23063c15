//! Train/test splits, deterministic for a given spec and row count.

use gyre_core::Split;

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny generator whose sequence for a seed never
/// changes. A split must stay the same across gyre versions for runs to be reproducible, so
/// it is not tied to a crate's generator, which may change between releases.
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n, without modulo bias (Lemire's multiply-shift with rejection).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = (self.next() as u128) * (n as u128);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }
}

/// Row indices of the training and the test set, each in increasing order.
pub fn split(rows: usize, how: &Split, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let test_count = |share: f64| ((rows as f64) * share).ceil().min(rows as f64) as usize;
    let mut is_test = vec![false; rows];
    match how {
        Split::Rule { every, index } => {
            for (i, t) in is_test.iter_mut().enumerate() {
                *t = (i as u64) % every == *index;
            }
        }
        Split::Order { test } => {
            let k = test_count(*test);
            is_test[rows - k..].iter_mut().for_each(|t| *t = true);
        }
        Split::Random { test, seed: own } => {
            let mut rng = SplitMix64(own.unwrap_or(seed));
            let mut order: Vec<usize> = (0..rows).collect();
            // Fisher–Yates.
            for i in (1..rows).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                order.swap(i, j);
            }
            for &i in &order[..test_count(*test)] {
                is_test[i] = true;
            }
        }
    }
    let train = (0..rows).filter(|&i| !is_test[i]).collect();
    let test = (0..rows).filter(|&i| is_test[i]).collect();
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_its_reference() {
        // The first outputs for seed 0 of the reference implementation (Vigna's splitmix64.c).
        let mut r = SplitMix64(0);
        assert_eq!(r.next(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn rules_order_and_seeded_shuffles() {
        let (train, test) = split(10, &Split::Rule { every: 5, index: 4 }, 0);
        assert_eq!(test, [4, 9]);
        assert_eq!(train.len(), 8);
        // elec2's rule: the last 20 % of 22,656 rows.
        let (train, test) = split(22_656, &Split::Order { test: 0.2 }, 0);
        assert_eq!((train.len(), test[0]), (18_124, 18_124));
        let random = Split::Random {
            test: 0.25,
            seed: None,
        };
        let (a_train, a_test) = split(1000, &random, 7);
        let (_, b_test) = split(1000, &random, 7);
        let (_, c_test) = split(1000, &random, 8);
        assert_eq!(a_test, b_test, "same seed, same split");
        assert_ne!(a_test, c_test, "another seed, another split");
        assert_eq!((a_train.len(), a_test.len()), (750, 250));
        // Pinned: the split of a seed never changes across versions.
        assert_eq!(&a_test[..5], &[0, 2, 4, 8, 9]);
        let own_seed = Split::Random {
            test: 0.25,
            seed: Some(7),
        };
        assert_eq!(
            split(1000, &own_seed, 99).1,
            a_test,
            "the split's own seed wins"
        );
    }
}
