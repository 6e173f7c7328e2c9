//! Run-time selection of the SIMD level.
//!
//! The wheel is compiled for baseline x86-64, so hot loops are compiled a
//! second and third time with AVX2 and AVX-512 enabled (each with FMA) and
//! chosen when the CPU has them. Every copy is the same portable Rust (no
//! reassociation; a fused multiply-add only where the code writes
//! `mul_add`, which the baseline copy computes exactly in software, never by
//! contraction), so the choice changes speed, never a bit of the result.
//!
//! `OXLEARN_SIMD=portable|avx2|avx512` (read once, at the first use) forces a
//! level, so that every copy can be run and compared on one machine; `auto`
//! or unset picks the best the CPU has. A level the CPU lacks is refused:
//! the Python extension fails to import and the binary exits, both saying
//! why ([`configured`]). faer's own kernels (the GEMMs some fits use) choose
//! their level themselves and are not affected.

use std::sync::OnceLock;

/// A SIMD level of oxlearn's own kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Baseline instructions only (SSE2 on x86-64).
    Portable,
    /// AVX2.
    Avx2,
    /// AVX-512F.
    Avx512,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 3] = [Level::Portable, Level::Avx2, Level::Avx512];

    /// The level's name, as `OXLEARN_SIMD` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Portable => "portable",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }
}

/// The best level this CPU supports.
pub fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        // Every CPU with AVX2 or AVX-512F has FMA; the levels require it so
        // that `mul_add` is one instruction in their copies.
        let fma = std::arch::is_x86_feature_detected!("fma");
        if fma && std::arch::is_x86_feature_detected!("avx512f") {
            return Level::Avx512;
        }
        if fma && std::arch::is_x86_feature_detected!("avx2") {
            return Level::Avx2;
        }
    }
    Level::Portable
}

/// The level to run: `requested` (the value of `OXLEARN_SIMD`) on a CPU
/// whose best level is `cpu`.
pub fn resolve(requested: Option<&str>, cpu: Level) -> Result<Level, String> {
    let name = requested.map(str::trim).unwrap_or("");
    if name.is_empty() || name.eq_ignore_ascii_case("auto") {
        return Ok(cpu);
    }
    let want = Level::ALL
        .into_iter()
        .find(|l| l.name().eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            format!(
                "OXLEARN_SIMD={name:?} is not a SIMD level; use auto, portable, avx2 or avx512 \
                 (or leave it unset)"
            )
        })?;
    if want > cpu {
        return Err(format!(
            "OXLEARN_SIMD={} asks for instructions this CPU does not have (its best level is \
             {}); use {} or lower, or leave OXLEARN_SIMD unset",
            want.name(),
            cpu.name(),
            cpu.name()
        ));
    }
    Ok(want)
}

static CONFIGURED: OnceLock<Result<Level, String>> = OnceLock::new();

/// The level chosen for this process from `OXLEARN_SIMD` (read once), or
/// why the request cannot be honoured. Entry points (the Python extension's
/// import, the binary's start) call this and refuse to run on an error.
pub fn configured() -> Result<Level, String> {
    CONFIGURED
        .get_or_init(|| resolve(std::env::var("OXLEARN_SIMD").ok().as_deref(), detected()))
        .clone()
}

/// The level kernels run at: [`configured`], or the CPU's best level when
/// the request was refused (entry points have reported that already).
/// Never a level the CPU lacks.
#[inline]
pub fn level() -> Level {
    match CONFIGURED.get() {
        Some(Ok(l)) => *l,
        Some(Err(_)) => detected(),
        None => configured().unwrap_or_else(|_| detected()),
    }
}

/// Defines `fn $name` that calls `$portable` (an `#[inline(always)]` function
/// with the same signature) compiled for the SIMD level [`level`] chose.
/// The function may be generic over one element type, over one `usize`
/// constant (a dimension), or not generic.
///
/// Besides speed, the AVX copies are immune to a slowdown of scalar SSE
/// code: after a kernel that leaves the upper halves of the vector
/// registers dirty on its thread (seen after the matrix products of the
/// brute-force neighbour search and of the cosine distances, with every
/// `OXLEARN_SIMD` level: faer's own kernels), the legacy SSE instructions
/// of the baseline build run about 3x slower on that thread (t-SNE's tree
/// walk, measured), while the VEX-encoded ones of the AVX copies do not.
macro_rules! multiversion {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident <const $D:ident: usize>
            ($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty
        => $portable:ident
    ) => {
        $(#[$meta])*
        $vis fn $name <const $D: usize> ($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,fma")]
                unsafe fn avx512 <const $D: usize> ($($arg: $ty),*) -> $ret {
                    $portable::<$D>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2 <const $D: usize> ($($arg: $ty),*) -> $ret {
                    $portable::<$D>($($arg),*)
                }
                match $crate::simd::level() {
                    // SAFETY: `level()` never returns a level the CPU lacks
                    // (`resolve` refuses one, and detection found this one).
                    $crate::simd::Level::Avx512 => return unsafe { avx512::<$D>($($arg),*) },
                    // SAFETY: as above, for AVX2.
                    $crate::simd::Level::Avx2 => return unsafe { avx2::<$D>($($arg),*) },
                    $crate::simd::Level::Portable => {}
                }
            }
            $portable::<$D>($($arg),*)
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident $(<$($lt:lifetime,)* $T:ident: $bound:path>)?
            ($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty
        => $portable:ident
    ) => {
        $(#[$meta])*
        $vis fn $name $(<$($lt,)* $T: $bound>)? ($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,fma")]
                unsafe fn avx512 $(<$($lt,)* $T: $bound>)? ($($arg: $ty),*) -> $ret {
                    $portable($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2 $(<$($lt,)* $T: $bound>)? ($($arg: $ty),*) -> $ret {
                    $portable($($arg),*)
                }
                match $crate::simd::level() {
                    // SAFETY: `level()` never returns a level the CPU lacks
                    // (`resolve` refuses one, and detection found this one).
                    $crate::simd::Level::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above, for AVX2.
                    $crate::simd::Level::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::simd::Level::Portable => {}
                }
            }
            $portable($($arg),*)
        }
    };
}

pub(crate) use multiversion;

/// A computation with a body per SIMD level, run by [`per_level`]: the lane
/// types of `manifold::lanes` and `svm::lanes` pick their registers by level
/// and name their computations this way.
pub(crate) trait PerLevel {
    type Output;
    /// Baseline instructions only.
    fn portable(self) -> Self::Output;
    /// Inlined into a copy compiled with AVX2 and FMA, run only on a CPU
    /// that has them.
    #[cfg(target_arch = "x86_64")]
    fn avx2(self) -> Self::Output;
    /// Inlined into a copy compiled with AVX-512F and FMA, run only on a
    /// CPU that has them.
    #[cfg(target_arch = "x86_64")]
    fn avx512(self) -> Self::Output;
}

/// Defines, in a module of lane types (its `Lanes` trait, `Portable`, and on
/// x86-64 `Avx2` and `Avx512` in scope), `WithLanes` (a computation over any
/// of them) and `dispatch` (running it with the lanes of the level
/// [`level`] chose, through [`per_level`]): `manifold::lanes` and
/// `svm::lanes` each invoke it once.
macro_rules! lane_dispatch {
    () => {
        /// A computation over lanes of any kind, run by [`dispatch`].
        pub(crate) trait WithLanes {
            type Output;
            /// The computation, with lanes `V` (inlined into `dispatch`'s copies).
            fn run<V: Lanes>(self) -> Self::Output;
        }

        /// Runs `f` with the lanes of the SIMD level `simd::level()` chose,
        /// in a copy compiled for that level.
        pub(crate) fn dispatch<F: WithLanes>(f: F) -> F::Output {
            $crate::simd::per_level(ByLevel(f))
        }

        /// A [`WithLanes`] computation as a `simd::PerLevel` one: each
        /// level's body is the computation with that level's lanes.
        struct ByLevel<F>(F);

        impl<F: WithLanes> $crate::simd::PerLevel for ByLevel<F> {
            type Output = F::Output;
            #[inline(always)]
            fn portable(self) -> F::Output {
                self.0.run::<Portable>()
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            fn avx2(self) -> F::Output {
                self.0.run::<Avx2>()
            }
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            fn avx512(self) -> F::Output {
                self.0.run::<Avx512>()
            }
        }
    };
}

pub(crate) use lane_dispatch;

/// `[e(0), e(1)]` written out, for the two registers of an AVX2 lane type:
/// a closure (`std::array::from_fn`) is compiled without the caller's
/// target features, so the intrinsics in it may not be inlined (seen:
/// `svm::lanes`' `_mm256_set1_pd` called out of line).
macro_rules! two {
    (|$r:ident| $e:expr) => {
        [
            {
                let $r = 0;
                $e
            },
            {
                let $r = 1;
                $e
            },
        ]
    };
}

pub(crate) use two;

/// Runs the body of `f` for the SIMD level [`level`] chose, in a copy
/// compiled for that level (with FMA, as [`multiversion!`]'s copies: a
/// `mul_add` is then one instruction, with the bits of the baseline's
/// software one).
pub(crate) fn per_level<F: PerLevel>(f: F) -> F::Output {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,fma")]
        unsafe fn avx512<F: PerLevel>(f: F) -> F::Output {
            f.avx512()
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2<F: PerLevel>(f: F) -> F::Output {
            f.avx2()
        }
        match level() {
            // SAFETY: `level()` never returns a level the CPU lacks.
            Level::Avx512 => return unsafe { avx512(f) },
            // SAFETY: as above, for AVX2.
            Level::Avx2 => return unsafe { avx2(f) },
            Level::Portable => {}
        }
    }
    f.portable()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_resolve_or_are_refused_with_the_reason() {
        assert_eq!(resolve(None, Level::Avx2), Ok(Level::Avx2));
        assert_eq!(resolve(Some(""), Level::Avx512), Ok(Level::Avx512));
        assert_eq!(resolve(Some("AUTO"), Level::Portable), Ok(Level::Portable));
        assert_eq!(
            resolve(Some("portable"), Level::Avx512),
            Ok(Level::Portable)
        );
        assert_eq!(resolve(Some(" avx2 "), Level::Avx512), Ok(Level::Avx2));
        assert_eq!(resolve(Some("avx512"), Level::Avx512), Ok(Level::Avx512));
        let higher = resolve(Some("avx512"), Level::Avx2).unwrap_err();
        assert!(
            higher.contains("does not have") && higher.contains("avx2"),
            "{higher}"
        );
        assert!(resolve(Some("avx2"), Level::Portable).is_err());
        let bad = resolve(Some("sse9"), Level::Avx512).unwrap_err();
        assert!(bad.contains("not a SIMD level"), "{bad}");
    }

    #[test]
    fn the_level_is_never_above_the_cpu() {
        assert!(level() <= detected());
    }
}
