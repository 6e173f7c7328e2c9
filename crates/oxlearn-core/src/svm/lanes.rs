//! `f64` lanes for the solver's selection loops: eight variables at a time,
//! in an AVX-512 register, two AVX2 registers, or an array.
//!
//! Every operation is one IEEE operation per lane (add, multiply, divide,
//! negate, ordered compare, select, `f32` to `f64`): no fused multiply-add,
//! no reassociation, so each lane's result is the scalar computation's, bit
//! for bit, at every SIMD level.
//!
//! The compiler does not vectorise the loops by itself: their running
//! extremes are selects on comparisons (libsvm's `if (v >= max)`), which it
//! keeps scalar (measured: the selection loops ran one variable per
//! instruction group at `avx512`); these types say it explicitly.

/// Lanes per group.
pub(crate) const W: usize = 8;

/// One bit per lane (bit `k` for lane `k`).
pub(crate) type Mask = u8;

/// The lanes of `bytes` equal to `v`.
#[inline(always)]
pub(crate) fn eq_mask(bytes: &[u8; W], v: u8) -> Mask {
    // Eight byte compares at once in a `u64` (no instruction beyond the
    // baseline): a byte of `x` is zero exactly where `bytes` holds `v`.
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let x = u64::from_le_bytes(*bytes) ^ (u64::from(v) * 0x0101_0101_0101_0101);
    let nonzero = ((x & LOW7) + LOW7) | x;
    let zero = !nonzero & HIGH;
    // Byte k's high bit to bit k of the top byte (no carries: every product
    // term lands on its own bit).
    ((zero >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as Mask
}

/// `s` (at most `W` long) in an array, the rest `T::default()`: the
/// remainder of a loop as one padded group.
#[inline(always)]
pub(crate) fn pad<T: Copy + Default>(s: &[T]) -> [T; W] {
    let mut out = [T::default(); W];
    out[..s.len()].copy_from_slice(s);
    out
}

/// `W` `f64` lanes.
///
/// # Safety
/// An implementation may use instructions of a SIMD level: its values must
/// only be made and used where the CPU has that level ([`dispatch`] calls
/// each one only after `simd::level()` chose it).
pub(crate) unsafe trait Lanes: Copy {
    fn splat(v: f64) -> Self;
    fn load(v: &[f64; W]) -> Self;
    /// The `f32` values, widened (exact).
    fn load_f32(v: &[f32; W]) -> Self;
    fn store(self, out: &mut [f64; W]);
    fn add(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    /// `-self` (the sign bit flipped, as Rust's `-x`).
    fn neg(self) -> Self;
    /// Lanes where `self > o` (false for NaN).
    fn gt(self, o: Self) -> Mask;
    /// Lanes where `self < o` (false for NaN).
    fn lt(self, o: Self) -> Mask;
    /// Lanes where `self == o` (false for NaN; `-0 == +0`).
    fn eq(self, o: Self) -> Mask;
    /// `yes` in the lanes of `mask`, `self` elsewhere.
    fn select(self, mask: Mask, yes: Self) -> Self;
}

crate::simd::lane_dispatch!();

/// The array form: any CPU.
#[derive(Clone, Copy)]
pub(crate) struct Portable([f64; W]);

macro_rules! lanewise {
    ($a:expr, $b:expr, $op:tt) => {
        Portable(std::array::from_fn(|k| $a.0[k] $op $b.0[k]))
    };
}

// SAFETY: plain Rust, no instruction beyond the baseline.
unsafe impl Lanes for Portable {
    #[inline(always)]
    fn splat(v: f64) -> Self {
        Portable([v; W])
    }
    #[inline(always)]
    fn load(v: &[f64; W]) -> Self {
        Portable(*v)
    }
    #[inline(always)]
    fn load_f32(v: &[f32; W]) -> Self {
        Portable(v.map(f64::from))
    }
    #[inline(always)]
    fn store(self, out: &mut [f64; W]) {
        *out = self.0;
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        lanewise!(self, o, +)
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        lanewise!(self, o, *)
    }
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        lanewise!(self, o, /)
    }
    #[inline(always)]
    fn neg(self) -> Self {
        Portable(self.0.map(|v| -v))
    }
    #[inline(always)]
    fn gt(self, o: Self) -> Mask {
        (0..W).fold(0, |m, k| m | (Mask::from(self.0[k] > o.0[k]) << k))
    }
    #[inline(always)]
    fn lt(self, o: Self) -> Mask {
        (0..W).fold(0, |m, k| m | (Mask::from(self.0[k] < o.0[k]) << k))
    }
    #[inline(always)]
    fn eq(self, o: Self) -> Mask {
        (0..W).fold(0, |m, k| m | (Mask::from(self.0[k] == o.0[k]) << k))
    }
    #[inline(always)]
    fn select(self, mask: Mask, yes: Self) -> Self {
        Portable(std::array::from_fn(|k| {
            if (mask >> k) & 1 != 0 {
                yes.0[k]
            } else {
                self.0[k]
            }
        }))
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Lanes, Mask, W};
    use crate::simd::two;
    use std::arch::x86_64::*;

    /// Two AVX2 registers, four lanes each.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2([__m256d; 2]);

    /// One AVX-512 register.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx512(__m512d);

    // SAFETY (for every `unsafe` block below): the trait's contract: these
    // values exist only inside code run after `simd::level()` chose AVX2
    // (for `Avx2`) or AVX-512 (for `Avx512`), which it does only on a CPU
    // that has it. Loads and stores stay within whole `W` arrays.
    macro_rules! binary2 {
        ($name:ident, $op:ident) => {
            #[inline(always)]
            fn $name(self, o: Self) -> Self {
                // SAFETY: the level is the CPU's (the trait's contract, above).
                Avx2(two!(|r| unsafe { $op(self.0[r], o.0[r]) }))
            }
        };
    }

    macro_rules! binary512 {
        ($name:ident, $op:ident) => {
            #[inline(always)]
            fn $name(self, o: Self) -> Self {
                // SAFETY: the level is the CPU's (the trait's contract, above).
                Avx512(unsafe { $op(self.0, o.0) })
            }
        };
    }

    impl Avx2 {
        /// The lanes where `cmp` holds, as bits.
        #[inline(always)]
        fn cmp_mask<const P: i32>(self, o: Self) -> Mask {
            let [lo, hi] = two!(|r| {
                // SAFETY: the level is the CPU's (the trait's contract, above).
                unsafe { _mm256_movemask_pd(_mm256_cmp_pd::<P>(self.0[r], o.0[r])) }
            });
            (lo | (hi << 4)) as Mask
        }
    }

    // SAFETY: see above.
    unsafe impl Lanes for Avx2 {
        #[inline(always)]
        fn splat(v: f64) -> Self {
            // SAFETY: the level is the CPU's (the trait's contract, above).
            Avx2(two!(|_r| unsafe { _mm256_set1_pd(v) }))
        }
        #[inline(always)]
        fn load(v: &[f64; W]) -> Self {
            // SAFETY: as above; lanes 4r..4r+4 are within the array.
            Avx2(two!(|r| unsafe { _mm256_loadu_pd(v[4 * r..].as_ptr()) }))
        }
        #[inline(always)]
        fn load_f32(v: &[f32; W]) -> Self {
            // SAFETY: as above; lanes 4r..4r+4 are within the array.
            Avx2(two!(|r| unsafe {
                _mm256_cvtps_pd(_mm_loadu_ps(v[4 * r..].as_ptr()))
            }))
        }
        #[inline(always)]
        fn store(self, out: &mut [f64; W]) {
            for (r, v) in self.0.iter().enumerate() {
                // SAFETY: as above; lanes 4r..4r+4 are within the array.
                unsafe { _mm256_storeu_pd(out[4 * r..].as_mut_ptr(), *v) }
            }
        }
        binary2!(add, _mm256_add_pd);
        binary2!(mul, _mm256_mul_pd);
        binary2!(div, _mm256_div_pd);
        #[inline(always)]
        fn neg(self) -> Self {
            // SAFETY: the level is the CPU's (the trait's contract, above).
            Avx2(two!(|r| unsafe {
                _mm256_xor_pd(self.0[r], _mm256_set1_pd(-0.0))
            }))
        }
        #[inline(always)]
        fn gt(self, o: Self) -> Mask {
            self.cmp_mask::<_CMP_GT_OQ>(o)
        }
        #[inline(always)]
        fn lt(self, o: Self) -> Mask {
            self.cmp_mask::<_CMP_LT_OQ>(o)
        }
        #[inline(always)]
        fn eq(self, o: Self) -> Mask {
            self.cmp_mask::<_CMP_EQ_OQ>(o)
        }
        #[inline(always)]
        fn select(self, mask: Mask, yes: Self) -> Self {
            Avx2(two!(|r| {
                // SAFETY: the level is the CPU's (the trait's contract, above).
                unsafe {
                    let lane_bits = _mm256_set_epi64x(8, 4, 2, 1);
                    let m = _mm256_set1_epi64x(i64::from((mask >> (4 * r)) & 0xf));
                    let m = _mm256_cmpeq_epi64(_mm256_and_si256(m, lane_bits), lane_bits);
                    _mm256_blendv_pd(self.0[r], yes.0[r], _mm256_castsi256_pd(m))
                }
            }))
        }
    }

    // SAFETY: see above.
    unsafe impl Lanes for Avx512 {
        #[inline(always)]
        fn splat(v: f64) -> Self {
            // SAFETY: the level is the CPU's (the trait's contract, above).
            Avx512(unsafe { _mm512_set1_pd(v) })
        }
        #[inline(always)]
        fn load(v: &[f64; W]) -> Self {
            // SAFETY: as above; the eight lanes are the array.
            Avx512(unsafe { _mm512_loadu_pd(v.as_ptr()) })
        }
        #[inline(always)]
        fn load_f32(v: &[f32; W]) -> Self {
            // SAFETY: as above; the eight lanes are the array.
            Avx512(unsafe { _mm512_cvtps_pd(_mm256_loadu_ps(v.as_ptr())) })
        }
        #[inline(always)]
        fn store(self, out: &mut [f64; W]) {
            // SAFETY: as above; the eight lanes are the array.
            unsafe { _mm512_storeu_pd(out.as_mut_ptr(), self.0) }
        }
        binary512!(add, _mm512_add_pd);
        binary512!(mul, _mm512_mul_pd);
        binary512!(div, _mm512_div_pd);
        #[inline(always)]
        fn neg(self) -> Self {
            // SAFETY: the level is the CPU's (the trait's contract, above).
            Avx512(unsafe {
                _mm512_castsi512_pd(_mm512_xor_si512(
                    _mm512_castpd_si512(self.0),
                    _mm512_set1_epi64(i64::MIN),
                ))
            })
        }
        #[inline(always)]
        fn gt(self, o: Self) -> Mask {
            // SAFETY: the level is the CPU's (the trait's contract, above).
            unsafe { _mm512_cmp_pd_mask::<_CMP_GT_OQ>(self.0, o.0) }
        }
        #[inline(always)]
        fn lt(self, o: Self) -> Mask {
            // SAFETY: the level is the CPU's (the trait's contract, above).
            unsafe { _mm512_cmp_pd_mask::<_CMP_LT_OQ>(self.0, o.0) }
        }
        #[inline(always)]
        fn eq(self, o: Self) -> Mask {
            // SAFETY: the level is the CPU's (the trait's contract, above).
            unsafe { _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(self.0, o.0) }
        }
        #[inline(always)]
        fn select(self, mask: Mask, yes: Self) -> Self {
            // SAFETY: the level is the CPU's (the trait's contract, above).
            Avx512(unsafe { _mm512_mask_blend_pd(mask, self.0, yes.0) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each level's operations are the scalar ones, lane by lane, on
    /// values that exercise rounding, signed zeros, infinities and NaN.
    fn same_as_portable<V: Lanes>() {
        let a = [1.0, -0.0, 0.1, f64::INFINITY, f64::NAN, 3e-300, -7.5, 1e308];
        let b = [3.0, 0.0, 0.7, 2.0, 1.0, 1e-10, -7.5, -1e-308];
        let a32 = [
            1.5f32,
            -0.0,
            0.1,
            f32::INFINITY,
            f32::NAN,
            1e-45,
            -7.5,
            3e38,
        ];
        let (pa, pb) = (Portable::load(&a), Portable::load(&b));
        let (va, vb) = (V::load(&a), V::load(&b));
        // A NaN's sign and payload are not IEEE results: NaNs compare as one.
        let canonical = |v: f64| {
            if v.is_nan() {
                f64::NAN.to_bits()
            } else {
                v.to_bits()
            }
        };
        let bits = |p: Portable| p.0.map(canonical);
        let vbits = |v: V| {
            let mut out = [0.0; W];
            v.store(&mut out);
            out.map(canonical)
        };
        assert_eq!(vbits(va.add(vb)), bits(pa.add(pb)));
        assert_eq!(vbits(va.mul(vb)), bits(pa.mul(pb)));
        assert_eq!(vbits(va.div(vb)), bits(pa.div(pb)));
        assert_eq!(vbits(va.neg()), bits(pa.neg()));
        assert_eq!(vbits(V::load_f32(&a32)), bits(Portable::load_f32(&a32)));
        assert_eq!(va.gt(vb), pa.gt(pb));
        assert_eq!(va.lt(vb), pa.lt(pb));
        assert_eq!(va.eq(vb), pa.eq(pb));
        assert_eq!(vbits(V::splat(-0.0)), bits(Portable::splat(-0.0)));
        for mask in [0, 1, 0x80, 0x5a, 0xa5, 0x0f, 0xf0, Mask::MAX] {
            assert_eq!(vbits(va.select(mask, vb)), bits(pa.select(mask, pb)));
        }
        // Spot checks of the portable form itself.
        assert_eq!(pa.lt(pb), 0b0010_0101);
        assert_eq!(pa.gt(pb), 0b1000_1000);
        assert_eq!(pa.eq(pb), 0b0100_0010);
        assert_eq!(pa.select(0b10, pb).0[1].to_bits(), 0.0f64.to_bits());
        assert_eq!(pa.neg().0[1].to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn every_level_is_the_portable_arithmetic() {
        same_as_portable::<Portable>();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                same_as_portable::<Avx2>();
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                same_as_portable::<Avx512>();
            }
        }
    }

    #[test]
    fn eq_mask_finds_every_equal_byte() {
        // Every byte value against every pattern of one equal byte, and the
        // values next to it (a borrow between bytes would show as a wrong bit).
        for v in [0u8, 1, 2, 0x7f, 0x80, 0xff] {
            for pattern in 0..=Mask::MAX {
                let bytes: [u8; W] = std::array::from_fn(|k| {
                    if (pattern >> k) & 1 == 1 {
                        v
                    } else {
                        v.wrapping_add(1 + (k as u8 % 3) * 0x7f)
                    }
                });
                let want = (0..W).fold(0, |m, k| m | (Mask::from(bytes[k] == v) << k));
                assert_eq!(eq_mask(&bytes, v), want, "v {v:#x} bytes {bytes:?}");
            }
        }
    }
}
