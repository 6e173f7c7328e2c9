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

/// How often each of `n` rows is drawn by a tree's bootstrap: `n_bootstrap`
/// draws `rng.below(n)` from `rng`, the tree's generator fresh from its seed
/// (the first draws a tree makes, so its growth and its out-of-bag rows
/// agree). Rows with a count of 0 are the tree's out-of-bag rows.
pub(crate) fn bootstrap_counts(rng: &mut Rng, n: usize, n_bootstrap: usize) -> Vec<u32> {
    let mut counts = vec![0u32; n];
    if n == 0 {
        return counts;
    }
    for _ in 0..n_bootstrap {
        counts[rng.below(n)] += 1;
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
    fn bootstrap_counts_are_the_first_draws() {
        let counts = bootstrap_counts(&mut Rng::new(11), 50, 80);
        assert_eq!(counts.iter().sum::<u32>(), 80);
        let mut rng = Rng::new(11);
        let mut again = vec![0u32; 50];
        for _ in 0..80 {
            again[rng.below(50)] += 1;
        }
        assert_eq!(counts, again);
        assert!(bootstrap_counts(&mut Rng::new(1), 0, 5).is_empty());
    }
}
