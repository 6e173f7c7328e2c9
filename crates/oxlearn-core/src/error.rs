//! The one error type of `oxlearn-core`.

use std::fmt;

/// Which kind of non-finite value was found in an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonFiniteKind {
    /// Not a number.
    NaN,
    /// Positive or negative infinity.
    Infinity,
}

/// Every failure `oxlearn-core` can report. Messages name the offending value
/// and, where there is one, what to do instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// An input array contains NaN or infinity. The wording of the first
    /// sentence matches scikit-learn's, so code matching on it keeps working.
    #[error("{}", non_finite_message(.what, *.kind, .dtype, *.row, *.col))]
    NonFinite {
        /// Name of the input ("X", "y").
        what: &'static str,
        /// NaN or infinity.
        kind: NonFiniteKind,
        /// The input's dtype name, as numpy spells it.
        dtype: &'static str,
        /// Row of the first offending value.
        row: usize,
        /// Column of the first offending value.
        col: usize,
    },
    /// Two inputs (or an input and a fitted model) disagree on a dimension.
    #[error("{what}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// What was being compared, in words.
        what: String,
        /// The size that was required.
        expected: usize,
        /// The size that was given.
        got: usize,
    },
    /// A sample weight is negative or not finite.
    #[error(
        "sample_weight[{index}] = {value} is invalid: sample weights must be finite and non-negative"
    )]
    InvalidSampleWeight {
        /// Position of the offending weight.
        index: usize,
        /// The offending weight.
        value: f64,
    },
    /// An input has no rows or no columns.
    #[error("{what} is empty: at least one sample and one feature are required")]
    EmptyInput {
        /// Name of the input.
        what: &'static str,
    },
    /// A parameter value is outside its valid range.
    #[error("invalid value for parameter {name}: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// Why the value is invalid, with the value.
        reason: String,
    },
    /// A categorical encoder fitted with `handle_unknown='error'` was given
    /// values it was not fitted on. The wording is scikit-learn's.
    #[error("Found unknown categories {values} in column {column} during transform")]
    UnknownCategories {
        /// The column, among the encoder's input columns.
        column: usize,
        /// The unknown values, as Python lists them (`['x', 'y']`).
        values: String,
    },
    /// A dense decomposition did not converge.
    #[error("numerical failure: {0}")]
    NumericalFailure(String),
    /// Finite inputs whose products overflow `f64` (values near the end of
    /// its range) made a fit's parameters non-finite. The first sentence is
    /// scikit-learn's, so code matching on it keeps working.
    #[error(
        "{what} resulted in non-finite parameter values. The input data may contain large \
         values and need to be preprocessed."
    )]
    Overflow {
        /// What computed the parameters ("Coordinate descent iterations").
        what: &'static str,
    },
    /// No usable GPU: the CUDA driver or a CUDA library could not be loaded,
    /// there is no such device, or it could not be initialised.
    #[error("no usable GPU: {reason}")]
    GpuUnavailable {
        /// What failed, with the library or device named.
        reason: String,
    },
    /// A CUDA call failed during a GPU computation (out of memory, a kernel
    /// launch or a cuBLAS call).
    #[error("GPU computation failed: {0}")]
    Gpu(String),
}

fn non_finite_message(
    what: &str,
    kind: NonFiniteKind,
    dtype: &str,
    row: usize,
    col: usize,
) -> String {
    crate::validation::kernel_message(what, kind, dtype, row, col)
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl NonFiniteKind {
    /// Classifies a non-finite value.
    pub fn of(v: f64) -> Self {
        if v.is_nan() {
            NonFiniteKind::NaN
        } else {
            NonFiniteKind::Infinity
        }
    }
}

impl fmt::Display for NonFiniteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NonFiniteKind::NaN => f.write_str("NaN"),
            NonFiniteKind::Infinity => f.write_str("infinity"),
        }
    }
}
