//! Run-time selection of the SIMD level.
//!
//! The wheel is compiled for baseline x86-64, so hot loops are compiled a
//! second and third time with AVX2 and AVX-512 enabled and chosen when the
//! CPU has them. Every copy is the same portable Rust (no fused
//! multiply-add, no reassociation), so the choice changes speed, never a bit
//! of the result.

/// Defines `fn $name` that calls `$portable` (an `#[inline(always)]` function
/// with the same signature) compiled for the best SIMD level available.
/// The function may be generic over one element type, or not generic.
macro_rules! multiversion {
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
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512 $(<$($lt,)* $T: $bound>)? ($($arg: $ty),*) -> $ret {
                    $portable($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2 $(<$($lt,)* $T: $bound>)? ($($arg: $ty),*) -> $ret {
                    $portable($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports AVX-512F (checked just above).
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2 (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $portable($($arg),*)
        }
    };
}

pub(crate) use multiversion;
