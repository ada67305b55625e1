//! Deterministic pseudo-randomness.
//!
//! Every "random" choice the site makes (page sizes, links, latency, injected faults) is a pure
//! function of the seed and a key, so two sites started with the same seed serve the same bytes
//! and inject the same faults on the same attempts.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Finalises a 64-bit value (the SplitMix64 output function): a cheap, good bit mixer.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Combines a seed with up to three numeric keys into one well-mixed value.
pub(crate) fn key(seed: u64, a: u64, b: u64, c: u64) -> u64 {
    let mut h = mix(seed ^ 0x9e37_79b9_7f4a_7c15);
    for part in [a, b, c] {
        h = mix(h ^ part.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    }
    h
}

/// Hashes a string under a seed.
pub(crate) fn hash_str(seed: u64, s: &str) -> u64 {
    xxh3_64_with_seed(s.as_bytes(), seed)
}

/// Maps a 64-bit value to a float in `[0, 1)`.
pub(crate) fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// A small, fast, deterministic generator (SplitMix64).
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator whose whole stream is determined by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Rng(mix(seed))
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// A value in `0..n` (`n` must be non-zero; returns 0 when it is zero).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// An index into a slice of length `n`.
    pub(crate) fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// A value in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// A float in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        unit(self.next_u64())
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A standard normal deviate (Box-Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A log-normal size with the given median and spread, clamped to `[lo, hi]`.
    pub(crate) fn lognormal_size(
        &mut self,
        median: f64,
        sigma: f64,
        lo: usize,
        hi: usize,
    ) -> usize {
        let v = median * (sigma * self.normal()).exp();
        (v.round() as usize).clamp(lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::new(7).next_u64(), Rng::new(8).next_u64());
    }

    #[test]
    fn below_and_unit_stay_in_range() {
        let mut r = Rng::new(1);
        for _ in 0..10_000 {
            assert!(r.below(10) < 10);
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            let s = r.lognormal_size(400.0, 0.5, 150, 1200);
            assert!((150..=1200).contains(&s));
        }
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn keys_differ() {
        assert_ne!(key(1, 2, 3, 4), key(1, 2, 4, 3));
        assert_ne!(key(1, 0, 0, 0), key(2, 0, 0, 0));
    }
}
