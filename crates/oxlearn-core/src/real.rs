//! The element types oxlearn computes on.

/// A floating-point element type accepted from users: `f32` or `f64`.
///
/// Accumulations are done in `f64` whatever the input type (the inputs are
/// converted while they are copied into cache-sized chunks anyway), and
/// fitted values are stored back in the input's type.
pub trait Real: Copy + Send + Sync + PartialOrd + std::fmt::Debug + 'static {
    /// The dtype's name as numpy spells it.
    const DTYPE: &'static str;
    /// Machine epsilon of this type, as `f64`.
    const EPSILON: f64;
    /// Widens to `f64`.
    fn to_f64(self) -> f64;
    /// Rounds an `f64` to this type.
    fn from_f64(v: f64) -> Self;
}

impl Real for f64 {
    const DTYPE: &'static str = "float64";
    const EPSILON: f64 = f64::EPSILON;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
}

impl Real for f32 {
    const DTYPE: &'static str = "float32";
    const EPSILON: f64 = f32::EPSILON as f64;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}
