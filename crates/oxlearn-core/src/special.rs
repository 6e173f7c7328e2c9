//! `exp` and `log1p` on the ranges the log-loss needs, branch-free so that
//! loops over arrays of them vectorise (libm's are scalar calls, which cost
//! as much as the rest of a logistic-regression pass). Each is within a few
//! ulps of the correctly rounded value; only `+`, `-`, `*`, `/` and bit
//! operations are used, never fused multiply-add, so every SIMD level gives
//! the same bits.

// Range reduction x = n ln2 + r (Cody–Waite: ln2 split so n·LN2_HI is
// exact); adding SHIFT = 1.5·2^52 rounds to an integer held in the low
// mantissa bits.
const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
const INV_LN2: f64 = std::f64::consts::LOG2_E;
const SHIFT: f64 = 6_755_399_441_055_744.0;
/// `1 / k!` for `k = 0..=13`: exp's Taylor polynomial (truncation < 1e-17
/// on the reduced range).
const TAYLOR: [f64; 14] = [
    1.0,
    1.0,
    0.5,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5_040.0,
    1.0 / 40_320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
    1.0 / 479_001_600.0,
    1.0 / 6_227_020_800.0,
];

/// `exp(x)` for `x <= 0` (and NaN → NaN). Below `-708` the result is
/// `exp(-708) ≈ 3.3e-308` instead of a subnormal or zero: the callers add it
/// to numbers of order one, where either is invisible.
#[inline(always)]
pub(crate) fn exp_nonpos(x: f64) -> f64 {
    // x = n ln2 + r with |r| <= ln2 / 2 (Cody–Waite: ln2 split so n·LN2_HI is
    // exact), exp(r) by its Taylor polynomial to degree 13 (truncation < 1e-17),
    // 2^n from its exponent bits.
    let x = if x < -708.0 { -708.0 } else { x };
    let t = x * INV_LN2 + SHIFT;
    let n_f = t - SHIFT;
    let n = t.to_bits().wrapping_sub(SHIFT.to_bits()); // n in two's complement
    let r = (x - n_f * LN2_HI) - n_f * LN2_LO;
    let mut p = TAYLOR[13];
    for &c in TAYLOR[..13].iter().rev() {
        p = p * r + c;
    }
    // n in [-1022, 0]: 2^n is a normal number.
    let scale = f64::from_bits(n.wrapping_add(1023) << 52);
    p * scale
}

/// `exp(x)` for `x <= 0` as [`exp_nonpos`] computes it, with fused
/// multiply-adds (`mul_add`: one instruction in the AVX2 and AVX-512 copies
/// of a kernel, exact software in the baseline one, so every level gives
/// the same bits) and the polynomial by Estrin's scheme: about half the
/// instructions and a third of the dependency chain, for loops over many
/// values (the SVM kernels). Its last bits differ from [`exp_nonpos`]'s.
#[inline(always)]
pub(crate) fn exp_nonpos_fma(x: f64) -> f64 {
    let x = if x < -708.0 { -708.0 } else { x };
    let t = x.mul_add(INV_LN2, SHIFT);
    let n_f = t - SHIFT;
    let n = t.to_bits().wrapping_sub(SHIFT.to_bits());
    let r = (-n_f).mul_add(LN2_LO, (-n_f).mul_add(LN2_HI, x));
    let q = |k: usize| TAYLOR[2 * k + 1].mul_add(r, TAYLOR[2 * k]);
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let t0 = q(3).mul_add(r2, q(2)).mul_add(r4, q(1).mul_add(r2, q(0)));
    let t1 = q(6).mul_add(r4, q(5).mul_add(r2, q(4)));
    let p = t1.mul_add(r8, t0);
    let scale = f64::from_bits(n.wrapping_add(1023) << 52);
    p * scale
}

/// `log(1 + e)` for `e` in `[0, 1]` (and NaN → NaN).
#[inline(always)]
pub(crate) fn ln_1p_unit(e: f64) -> f64 {
    // log(1 + e) = 2 atanh(s) with s = e / (2 + e); from 1/2 up,
    // log(1 + e) = ln2 + 2 atanh((e - 1) / (e + 3)) (e - 1 is exact there).
    // Either way |s| <= 1/5 and the odd series to s^25 is exact to < 1e-19.
    let big = e >= 0.5;
    let num = if big { e - 1.0 } else { e };
    let den = if big { e + 3.0 } else { 2.0 + e };
    let add = if big { std::f64::consts::LN_2 } else { 0.0 };
    let s = num / den;
    let s2 = s * s;
    let mut p = 1.0 / 25.0;
    for c in [
        1.0 / 23.0,
        1.0 / 21.0,
        1.0 / 19.0,
        1.0 / 17.0,
        1.0 / 15.0,
        1.0 / 13.0,
        1.0 / 11.0,
        1.0 / 9.0,
        1.0 / 7.0,
        1.0 / 5.0,
        1.0 / 3.0,
        1.0,
    ] {
        p = p * s2 + c;
    }
    add + 2.0 * s * p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> f64 {
        ((a - b) / (b.abs() * f64::EPSILON).max(f64::MIN_POSITIVE)).abs()
    }

    #[test]
    fn exp_within_a_few_ulps() {
        let mut worst: f64 = 0.0;
        for i in 0..=200_000 {
            let x = -708.0 * (i as f64 / 200_000.0).powi(3);
            worst = worst.max(ulps(exp_nonpos(x), x.exp()));
        }
        assert!(worst <= 2.0, "{worst} ulps");
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert_eq!(exp_nonpos(-0.0), 1.0);
        assert!(exp_nonpos(f64::NAN).is_nan());
        assert_eq!(exp_nonpos(f64::NEG_INFINITY), exp_nonpos(-708.0));
        assert!(exp_nonpos(-1000.0) > 0.0 && exp_nonpos(-1000.0) < 1e-307);
    }

    #[test]
    fn fma_exp_within_a_few_ulps() {
        let mut worst: f64 = 0.0;
        for i in 0..=200_000 {
            let x = -708.0 * (i as f64 / 200_000.0).powi(3);
            worst = worst.max(ulps(exp_nonpos_fma(x), x.exp()));
        }
        assert!(worst <= 2.0, "{worst} ulps");
        assert_eq!(exp_nonpos_fma(0.0), 1.0);
        assert!(exp_nonpos_fma(f64::NAN).is_nan());
        assert!(exp_nonpos_fma(-1000.0) > 0.0 && exp_nonpos_fma(-1000.0) < 1e-307);
    }

    #[test]
    fn ln_1p_within_a_few_ulps() {
        let mut worst: f64 = 0.0;
        let mut at = 0.0;
        for i in 0..=200_000 {
            for e in [
                i as f64 / 200_000.0,
                1e-300 * (i + 1) as f64,
                (i as f64 * 1e-5).exp() * 1e-12,
            ] {
                if e <= 1.0 && ulps(ln_1p_unit(e), e.ln_1p()) > worst {
                    worst = ulps(ln_1p_unit(e), e.ln_1p());
                    at = e;
                }
            }
        }
        assert!(worst <= 2.0, "{worst} ulps at {at}");
        assert_eq!(ln_1p_unit(0.0), 0.0);
        assert!(ln_1p_unit(f64::NAN).is_nan());
    }
}
