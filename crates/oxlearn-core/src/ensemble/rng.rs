//! A small seeded generator (xoshiro256**, seeded through splitmix64): each
//! tree owns one, so its draws do not depend on which thread grows it.

/// xoshiro256** generator.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator from a 64-bit seed.
    pub fn new(seed: u64) -> Self {
        let mut st = seed;
        Rng {
            s: [
                splitmix(&mut st),
                splitmix(&mut st),
                splitmix(&mut st),
                splitmix(&mut st),
            ],
        }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let r = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        r
    }

    /// Uniform integer in `[0, n)` (`n > 0`), by multiply-shift.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// numpy's legacy `RandomState` generator (MT19937), seeded as
/// `RandomState(seed)` seeds it: the bootstrap draws scikit-learn makes.
#[derive(Debug, Clone)]
pub struct Mt19937 {
    key: [u32; 624],
    pos: usize,
}

impl Mt19937 {
    /// `numpy.random.RandomState(seed)` (numpy's `mt19937_seed`).
    pub fn new(seed: u32) -> Self {
        let mut key = [0u32; 624];
        let mut s = seed;
        for (pos, k) in key.iter_mut().enumerate() {
            *k = s;
            s = 1_812_433_253u32
                .wrapping_mul(s ^ (s >> 30))
                .wrapping_add(pos as u32 + 1);
        }
        Mt19937 { key, pos: 624 }
    }

    fn refill(&mut self) {
        const N: usize = 624;
        const M: usize = 397;
        for i in 0..N {
            let y = (self.key[i] & 0x8000_0000) | (self.key[(i + 1) % N] & 0x7fff_ffff);
            let mut v = self.key[(i + M) % N] ^ (y >> 1);
            if y & 1 != 0 {
                v ^= 0x9908_b0df;
            }
            self.key[i] = v;
        }
        self.pos = 0;
    }

    /// Next 32 random bits (tempered), numpy's `next_uint32`.
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= 624 {
            self.refill();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `randint(0, n)` as numpy's legacy generator draws it (masked
    /// rejection sampling; no draw at all for `n == 1`), `n >= 1`.
    pub fn randint(&mut self, n: usize) -> usize {
        let rng = (n as u64).saturating_sub(1);
        if rng == 0 {
            return 0;
        }
        let mut mask = rng;
        for shift in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> shift;
        }
        loop {
            let v = if rng <= 0xffff_ffff {
                u64::from(self.next_u32()) & mask
            } else {
                ((u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())) & mask
            };
            if v <= rng {
                return v as usize;
            }
        }
    }
}

/// How often each of `n` rows is drawn by the bootstrap of the tree with
/// seed `seed`: scikit-learn's `RandomState(seed).randint(0, n, n_bootstrap)`
/// (its `_generate_sample_indices` without sample weights), so that
/// `estimators_samples_` and out-of-bag rows mean what they mean there.
/// Seeds are below 2^31 (drawn as scikit-learn draws them); rows with a count
/// of 0 are the tree's out-of-bag rows.
pub(crate) fn bootstrap_counts(seed: u64, n: usize, n_bootstrap: usize) -> Vec<u32> {
    let mut counts = vec![0u32; n];
    if n == 0 {
        return counts;
    }
    let mut mt = Mt19937::new(seed as u32);
    for _ in 0..n_bootstrap {
        counts[mt.randint(n)] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_in_range_and_seeded() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut seen = [0usize; 5];
        for _ in 0..10_000 {
            let v = a.below(5);
            assert_eq!(v, b.below(5));
            seen[v] += 1;
        }
        assert!(seen.iter().all(|&c| c > 1800 && c < 2200), "{seen:?}");
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }

    #[test]
    fn mt19937_is_numpys_random_state() {
        // numpy.random.RandomState(5489): the reference MT19937 output.
        let mut mt = Mt19937::new(5489);
        assert_eq!(mt.next_u32(), 3_499_211_612);
        assert_eq!(mt.next_u32(), 581_869_302);
        // numpy.random.RandomState(42).randint(0, 100, 8) and (0, 7, 6).
        let mut mt = Mt19937::new(42);
        let draws: Vec<usize> = (0..8).map(|_| mt.randint(100)).collect();
        assert_eq!(draws, [51, 92, 14, 71, 60, 20, 82, 86]);
        let mut mt = Mt19937::new(42);
        let draws: Vec<usize> = (0..6).map(|_| mt.randint(7)).collect();
        assert_eq!(draws, [6, 3, 4, 6, 2, 4]);
    }

    #[test]
    fn bootstrap_counts_are_randint_draws() {
        let counts = bootstrap_counts(11, 50, 80);
        assert_eq!(counts.iter().sum::<u32>(), 80);
        let mut mt = Mt19937::new(11);
        let mut again = vec![0u32; 50];
        for _ in 0..80 {
            again[mt.randint(50)] += 1;
        }
        assert_eq!(counts, again);
        assert!(bootstrap_counts(1, 0, 5).is_empty());
        assert_eq!(bootstrap_counts(3, 1, 4), [4]);
    }
}
