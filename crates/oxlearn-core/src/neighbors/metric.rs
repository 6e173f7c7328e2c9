//! Distance metrics of exact neighbour search, in scikit-learn's "reduced"
//! form (the squared distance for euclidean), computed exactly as
//! scikit-learn's `DistanceMetric.rdist` does: coordinate differences taken
//! in order of dimension and accumulated sequentially in `f64`, without fused
//! multiply-add. A point exactly at the radius is then in or out exactly as
//! in scikit-learn's trees.

use crate::{Error, Result};

/// A distance between points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// `sqrt(Σ (a_j - b_j)²)`; reduced: the sum of squares.
    Euclidean,
    /// `Σ |a_j - b_j|`.
    Manhattan,
    /// `max_j |a_j - b_j|`.
    Chebyshev,
    /// `(Σ |a_j - b_j|^p)^(1/p)`, `1 <= p < ∞`; reduced: the sum of powers.
    Minkowski(f64),
}

impl Metric {
    /// Minkowski distance of order `p`, normalised as scikit-learn does:
    /// `p = 1` is manhattan, `p = 2` euclidean and `p = ∞` chebyshev (their
    /// own formulas, not the generic power sum).
    pub fn minkowski(p: f64) -> Result<Metric> {
        if p.is_nan() || p < 1.0 {
            return Err(Error::InvalidParameter {
                name: "p",
                reason: format!(
                    "{p}; exact neighbour search needs a Minkowski order p >= 1 (p < 1 is not a metric)"
                ),
            });
        }
        Ok(if p == 1.0 {
            Metric::Manhattan
        } else if p == 2.0 {
            Metric::Euclidean
        } else if p == f64::INFINITY {
            Metric::Chebyshev
        } else {
            Metric::Minkowski(p)
        })
    }

    /// The metric called `name` (scikit-learn's names and aliases); `p` is
    /// the Minkowski order, used (and required) only by `"minkowski"`.
    pub fn from_name(name: &str, p: Option<f64>) -> Result<Metric> {
        match name {
            "euclidean" | "l2" => Ok(Metric::Euclidean),
            "manhattan" | "cityblock" | "l1" => Ok(Metric::Manhattan),
            "chebyshev" | "infinity" => Ok(Metric::Chebyshev),
            "minkowski" => match p {
                Some(p) => Metric::minkowski(p),
                None => Err(Error::InvalidParameter {
                    name: "p",
                    reason: "None; metric=\"minkowski\" needs an order p >= 1".into(),
                }),
            },
            other => Err(Error::InvalidParameter {
                name: "metric",
                reason: format!(
                    "{other:?} is not supported by exact neighbour search; use euclidean, \
                     manhattan, chebyshev or minkowski"
                ),
            }),
        }
    }

    /// The reduced form of distance `r`, to compare reduced distances with
    /// (scikit-learn's `_dist_to_rdist`).
    pub fn reduced(self, r: f64) -> f64 {
        match self {
            Metric::Euclidean => r * r,
            Metric::Manhattan | Metric::Chebyshev => r,
            Metric::Minkowski(p) => r.powf(p),
        }
    }

    /// The distance of a reduced distance (scikit-learn's `_rdist_to_dist`).
    pub fn from_reduced(self, rd: f64) -> f64 {
        match self {
            Metric::Euclidean => rd.sqrt(),
            Metric::Manhattan | Metric::Chebyshev => rd,
            Metric::Minkowski(p) => rd.powf(1.0 / p),
        }
    }

    /// The reduced distance between `a` and `b` (same length).
    pub fn rdist(self, a: &[f64], b: &[f64]) -> f64 {
        match self {
            Metric::Euclidean => rdist_with(Euclid, a, b),
            Metric::Manhattan => rdist_with(Manhattan, a, b),
            Metric::Chebyshev => rdist_with(Chebyshev, a, b),
            Metric::Minkowski(p) => rdist_with(Power(p), a, b),
        }
    }
}

/// How one metric turns coordinate differences into a reduced distance:
/// `acc = combine(acc, term(a_j - b_j))` over `j` in order, from 0.
///
/// Every implementation is monotone: a larger `|diff|` never gives a smaller
/// term, and `combine` never decreases `acc` when a term grows (floating
/// point rounding is monotone too). So the reduced distance from a point to
/// the nearest (farthest) corner of a box bounds the reduced distance to any
/// point inside it, in floating point as in exact arithmetic.
pub(crate) trait Reduce: Copy + Send + Sync {
    /// The term of one coordinate difference.
    fn term(self, diff: f64) -> f64;
    /// Adds a term to the accumulated reduced distance.
    fn combine(acc: f64, term: f64) -> f64;
}

/// Squared euclidean: `Σ d²`.
#[derive(Clone, Copy)]
pub(crate) struct Euclid;
/// `Σ |d|`.
#[derive(Clone, Copy)]
pub(crate) struct Manhattan;
/// `max |d|`.
#[derive(Clone, Copy)]
pub(crate) struct Chebyshev;
/// `Σ |d|^p`.
#[derive(Clone, Copy)]
pub(crate) struct Power(pub f64);

impl Reduce for Euclid {
    #[inline(always)]
    fn term(self, d: f64) -> f64 {
        d * d
    }
    #[inline(always)]
    fn combine(acc: f64, t: f64) -> f64 {
        acc + t
    }
}

impl Reduce for Manhattan {
    #[inline(always)]
    fn term(self, d: f64) -> f64 {
        d.abs()
    }
    #[inline(always)]
    fn combine(acc: f64, t: f64) -> f64 {
        acc + t
    }
}

impl Reduce for Chebyshev {
    #[inline(always)]
    fn term(self, d: f64) -> f64 {
        d.abs()
    }
    #[inline(always)]
    fn combine(acc: f64, t: f64) -> f64 {
        // Inputs are finite: no NaN to propagate.
        if t > acc {
            t
        } else {
            acc
        }
    }
}

impl Reduce for Power {
    #[inline(always)]
    fn term(self, d: f64) -> f64 {
        d.abs().powf(self.0)
    }
    #[inline(always)]
    fn combine(acc: f64, t: f64) -> f64 {
        acc + t
    }
}

/// Reduced distance of two points with one metric's formula.
#[inline(always)]
pub(crate) fn rdist_with<M: Reduce>(m: M, a: &[f64], b: &[f64]) -> f64 {
    let mut acc = 0.0;
    for (&x, &y) in a.iter().zip(b) {
        acc = M::combine(acc, m.term(x - y));
    }
    acc
}

/// Calls `$body` with `$m` bound to the [`Reduce`] of `$metric`, so generic
/// kernels are compiled once per metric.
macro_rules! with_reduce {
    ($metric:expr, |$m:ident| $body:expr) => {
        match $metric {
            $crate::neighbors::Metric::Euclidean => {
                let $m = $crate::neighbors::metric::Euclid;
                $body
            }
            $crate::neighbors::Metric::Manhattan => {
                let $m = $crate::neighbors::metric::Manhattan;
                $body
            }
            $crate::neighbors::Metric::Chebyshev => {
                let $m = $crate::neighbors::metric::Chebyshev;
                $body
            }
            $crate::neighbors::Metric::Minkowski(p) => {
                let $m = $crate::neighbors::metric::Power(p);
                $body
            }
        }
    };
}
pub(crate) use with_reduce;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_normalisation() {
        assert_eq!(Metric::from_name("l2", None).unwrap(), Metric::Euclidean);
        assert_eq!(
            Metric::from_name("cityblock", None).unwrap(),
            Metric::Manhattan
        );
        assert_eq!(Metric::minkowski(2.0).unwrap(), Metric::Euclidean);
        assert_eq!(Metric::minkowski(1.0).unwrap(), Metric::Manhattan);
        assert_eq!(Metric::minkowski(f64::INFINITY).unwrap(), Metric::Chebyshev);
        assert_eq!(Metric::minkowski(3.0).unwrap(), Metric::Minkowski(3.0));
        let e = Metric::minkowski(0.5).unwrap_err();
        assert!(e.to_string().contains("0.5"), "{e}");
        assert!(Metric::from_name("minkowski", None).is_err());
        assert!(Metric::from_name("cosine", None)
            .unwrap_err()
            .to_string()
            .contains("\"cosine\""));
    }

    #[test]
    fn distances() {
        let (a, b) = ([0.0, 0.0], [3.0, -4.0]);
        assert_eq!(Metric::Euclidean.rdist(&a, &b), 25.0);
        assert_eq!(Metric::Euclidean.from_reduced(25.0), 5.0);
        assert_eq!(Metric::Manhattan.rdist(&a, &b), 7.0);
        assert_eq!(Metric::Chebyshev.rdist(&a, &b), 4.0);
        assert_eq!(Metric::Minkowski(3.0).rdist(&a, &b), 91.0);
        assert_eq!(Metric::Minkowski(3.0).reduced(2.0), 8.0);
    }
}
