//! scikit-learn's preprocessing, imputation and feature-selection
//! transforms, applied to the fitted attributes of a model file: the
//! `transform` of `StandardScaler`, `MinMaxScaler`, `RobustScaler`,
//! `MaxAbsScaler`, `Normalizer`, `OneHotEncoder`, `OrdinalEncoder`,
//! `SimpleImputer`, `PolynomialFeatures`, `VarianceThreshold` and
//! `SelectKBest`. They are what the `oxlearn` binary runs for the steps of a
//! pipeline, so that a pipeline serves without Python.
//!
//! Each function performs scikit-learn's (numpy's) floating-point operations
//! in scikit-learn's order, so results on float64 input are bit-identical
//! to scikit-learn's: elementwise `x - mean` then `/ scale`, never a fused
//! or reassociated form; row sums in the order numpy sums them, which
//! depends on the matrix's memory order ([`NumpyOrder`]) and, for the
//! squared norms of a C-ordered matrix, on numpy's build (see
//! [`normalize_rows`]).
//!
//! Numeric data is row-major float64 (`x[row * cols + col]`). Data that may
//! hold text (what the encoders and the imputer read) is a list of
//! [`Column`]s, as pandas holds a table: numbers, or cells that are numbers
//! or strings. Non-finite checks are the caller's: each scikit-learn
//! transformer has its own rule (NaN passes a scaler, not a `Normalizer`),
//! which the caller applies with [`crate::validation::check_finite`].
//! Nothing here panics on any input or fitted state: shapes that disagree
//! are [`Error::ShapeMismatch`](crate::Error::ShapeMismatch), fitted state
//! that cannot be applied is [`Error::InvalidParameter`](crate::Error::InvalidParameter).

// Pure arithmetic on slices: nothing here needs unsafe code.
#![forbid(unsafe_code)]

mod encode;
mod impute;
mod polynomial;
mod scale;
mod select;
mod table;

pub use encode::{
    py_float_repr, py_str_repr, Categories, HandleUnknown, Infrequent, MissingCategory,
    OneHotEncoder, OrdinalEncoder, UnknownWarning,
};
pub use impute::{CellImputer, MissingValues, NumericImputer};
pub use polynomial::PolynomialFeatures;
pub use scale::{
    max_abs_scale, min_max_scale, normalize_batch_rows, normalize_rows, numpy_clip, numpy_sum,
    robust_scale, standard_scale, Norm, NumpyOrder,
};
pub use select::{k_best_mask, select_columns, variance_mask};
pub use table::{Cell, Cells, Column};

use crate::error::{Error, Result};

/// The number of rows of row-major `x` with `cols` columns; an error when
/// `x` is not a whole number of rows.
pub(crate) fn rows_of(x: &[f64], cols: usize, what: &str) -> Result<usize> {
    if cols == 0 {
        return if x.is_empty() {
            Ok(0)
        } else {
            Err(Error::ShapeMismatch {
                what: format!("{what}: values for 0 columns"),
                expected: 0,
                got: x.len(),
            })
        };
    }
    if !x.len().is_multiple_of(cols) {
        return Err(Error::ShapeMismatch {
            what: format!("{what}: row-major values, a whole number of rows of {cols}"),
            expected: x.len() - x.len() % cols,
            got: x.len(),
        });
    }
    Ok(x.len() / cols)
}

/// Checks that a fitted per-column vector has one value per column.
pub(crate) fn per_column(v: &[f64], cols: usize, what: &str) -> Result<()> {
    if v.len() != cols {
        return Err(Error::ShapeMismatch {
            what: format!("{what}: one value per input column"),
            expected: cols,
            got: v.len(),
        });
    }
    Ok(())
}

/// Rows per parallel task of the elementwise transforms: rows are
/// independent, so results do not depend on how they are split.
pub(crate) const ROWS_PER_TASK: usize = 4096;
