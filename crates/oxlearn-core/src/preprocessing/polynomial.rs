//! `PolynomialFeatures.transform` on dense input: scikit-learn's column
//! loop, where each column of degree `d` is one product of a column of
//! degree `d - 1` and an input column, so every value is one rounded
//! multiplication of the same operands as scikit-learn's.

use super::rows_of;
use crate::error::{Error, Result};

/// A fitted `PolynomialFeatures` (its `n_features_in_`, `_min_degree`,
/// `_max_degree`, `interaction_only`, `include_bias` and
/// `n_output_features_`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolynomialFeatures {
    /// Input columns.
    pub n_features_in: usize,
    /// Lowest degree kept (`_min_degree`).
    pub min_degree: usize,
    /// Highest degree (`_max_degree`).
    pub max_degree: usize,
    /// Only products of distinct columns.
    pub interaction_only: bool,
    /// A first column of ones.
    pub include_bias: bool,
    /// Output columns (`n_output_features_`).
    pub n_output_features: usize,
}

/// One step of scikit-learn's loop: columns `dst..dst + len` of the full
/// expansion are columns `src..src + len` times input column `feature`.
#[derive(Debug, Clone, Copy)]
struct Product {
    dst: usize,
    src: usize,
    len: usize,
    feature: usize,
}

/// The expansion as scikit-learn builds it (as if `_min_degree` were 0):
/// its width and its products, in order.
struct Plan {
    full: usize,
    products: Vec<Product>,
    /// The first column of each degree (`degree_start[d]`; from 1: the
    /// bias, when included, is degree 0). Degrees past the last are absent.
    degree_start: Vec<usize>,
}

impl PolynomialFeatures {
    fn invalid(reason: String) -> Error {
        Error::InvalidParameter {
            name: "PolynomialFeatures",
            reason,
        }
    }

    /// scikit-learn's loop over degrees and features, without data.
    fn plan(&self) -> Result<Plan> {
        let p = self.n_features_in;
        if self.min_degree > self.max_degree {
            return Err(Self::invalid(format!(
                "_min_degree {} is above _max_degree {}",
                self.min_degree, self.max_degree
            )));
        }
        let mut current = usize::from(self.include_bias);
        let mut products = Vec::new();
        let mut degree_start = vec![0, current];
        if self.max_degree == 0 {
            return Ok(Plan {
                full: current,
                products,
                degree_start,
            });
        }
        let mut index: Vec<usize> = (current..current + p).collect();
        current += p;
        index.push(current);
        let too_wide = || Self::invalid("more output columns than the file allows".into());
        for _ in 2..=self.max_degree {
            degree_start.push(current);
            let mut next_index = Vec::with_capacity(p + 1);
            let end = *index.last().ok_or_else(too_wide)?;
            let before = products.len();
            for feature in 0..p {
                let (Some(&at), Some(&after)) = (index.get(feature), index.get(feature + 1)) else {
                    break;
                };
                let mut start = at;
                next_index.push(current);
                if self.interaction_only {
                    start += after - at;
                }
                let len = end.saturating_sub(start);
                if len == 0 {
                    break;
                }
                products.push(Product {
                    dst: current,
                    src: start,
                    len,
                    feature,
                });
                current = current
                    .checked_add(len)
                    .filter(|&c| c <= 1 << 24)
                    .ok_or_else(too_wide)?;
            }
            next_index.push(current);
            index = next_index;
            if products.len() == before {
                // No column of this degree (interactions of more columns
                // than there are): none of any higher degree either.
                break;
            }
        }
        Ok(Plan {
            full: current,
            products,
            degree_start,
        })
    }

    /// The polynomial features of row-major `x` (`n_features_in` columns),
    /// row-major, `n_output_features` columns.
    pub fn transform(&self, x: &[f64]) -> Result<Vec<f64>> {
        let p = self.n_features_in;
        let rows = rows_of(x, p, "PolynomialFeatures input")?;
        let plan = self.plan()?;
        let out_w = self.n_output_features;
        // What scikit-learn keeps of the full expansion: everything, or
        // (min degree above 1) the bias and the columns of degree >= min.
        let bias = usize::from(self.include_bias);
        let keep_from = if self.min_degree > 1 {
            plan.degree_start
                .get(self.min_degree)
                .copied()
                .unwrap_or(plan.full)
        } else {
            0
        };
        let expect = if self.min_degree > 1 {
            bias + (plan.full - keep_from)
        } else {
            plan.full
        };
        if expect != out_w {
            return Err(Self::invalid(format!(
                "n_output_features_ is {out_w}, but {p} features of degrees {} to {} give \
                 {expect} columns",
                self.min_degree, self.max_degree
            )));
        }
        let size = rows.checked_mul(out_w).ok_or_else(|| {
            Self::invalid(format!("{rows} rows of {out_w} columns overflow memory"))
        })?;
        let mut out = vec![0.0; size];
        let mut full = vec![0.0; plan.full];
        let split_bias = self.min_degree > 1 && self.include_bias;
        for (xr, or) in x
            .chunks_exact(p.max(1))
            .zip(out.chunks_exact_mut(out_w.max(1)))
        {
            if self.include_bias {
                full[0] = 1.0;
            }
            if self.max_degree > 0 {
                let first = usize::from(self.include_bias);
                full[first..first + p].copy_from_slice(xr);
            }
            for pr in &plan.products {
                let v = xr[pr.feature];
                for k in 0..pr.len {
                    full[pr.dst + k] = full[pr.src + k] * v;
                }
            }
            if split_bias {
                or[0] = 1.0;
                or[1..].copy_from_slice(&full[keep_from..]);
            } else {
                or.copy_from_slice(&full[keep_from..]);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poly(
        p: usize,
        lo: usize,
        hi: usize,
        inter: bool,
        bias: bool,
        n: usize,
    ) -> PolynomialFeatures {
        PolynomialFeatures {
            n_features_in: p,
            min_degree: lo,
            max_degree: hi,
            interaction_only: inter,
            include_bias: bias,
            n_output_features: n,
        }
    }

    #[test]
    fn columns_in_scikit_learns_order() {
        // python: PolynomialFeatures(3).fit_transform([[2., 3., 5.]])
        // [[1, 2, 3, 5, 4, 6, 10, 9, 15, 25, 8, 12, 20, 18, 30, 50, 27, 45, 75, 125]]
        let got = poly(3, 0, 3, false, true, 20)
            .transform(&[2.0, 3.0, 5.0])
            .unwrap();
        let want = [
            1., 2., 3., 5., 4., 6., 10., 9., 15., 25., 8., 12., 20., 18., 30., 50., 27., 45., 75.,
            125.,
        ];
        assert_eq!(got, want);
        // python: PolynomialFeatures(3, interaction_only=True).fit_transform([[2., 3., 5.]])
        // [[1, 2, 3, 5, 6, 10, 15, 30]]
        let got = poly(3, 0, 3, true, true, 8)
            .transform(&[2.0, 3.0, 5.0])
            .unwrap();
        assert_eq!(got, [1., 2., 3., 5., 6., 10., 15., 30.]);
        // python: PolynomialFeatures((2, 3)).fit_transform([[2., 3.]])
        // [[1, 4, 6, 9, 8, 12, 18, 27]]
        let got = poly(2, 2, 3, false, true, 8)
            .transform(&[2.0, 3.0])
            .unwrap();
        assert_eq!(got, [1., 4., 6., 9., 8., 12., 18., 27.]);
        // python: PolynomialFeatures((2, 2), include_bias=False).fit_transform([[2., 3.]])
        let got = poly(2, 2, 2, false, false, 3)
            .transform(&[2.0, 3.0, 1.0, -1.0])
            .unwrap();
        assert_eq!(got, [4., 6., 9., 1., -1., 1.]);
        // Degree 0: the bias alone.
        let got = poly(2, 0, 0, false, true, 1)
            .transform(&[2.0, 3.0])
            .unwrap();
        assert_eq!(got, [1.0]);
    }

    #[test]
    fn a_width_that_disagrees_is_an_error() {
        assert!(poly(3, 0, 2, false, true, 11).transform(&[1.0; 3]).is_err());
        assert!(poly(3, 0, 2, false, true, 10).transform(&[1.0; 4]).is_err());
        assert!(poly(3, 5, 2, false, true, 10).transform(&[1.0; 3]).is_err());
        // A forged degree cannot make the plan grow without bound.
        assert!(poly(50, 0, 1000, false, true, 10)
            .transform(&[1.0; 50])
            .is_err());
    }
}
