//! The input rule on non-finite values, shared by the Python extension (through
//! [`crate::Error::NonFinite`]) and the `oxlearn` binary (through [`check_finite`]).
//!
//! Messages are scikit-learn's (`sklearn.utils.validation._assert_all_finite`),
//! word for word, so code that matches on them keeps working; oxlearn adds
//! where the first offending value is.

use crate::error::NonFiniteKind;
use crate::Real;

/// scikit-learn's advice after "Input X contains NaN." when the estimator
/// is named; `{}` is its name.
const NAN_ADVICE: &str = " does not accept missing values encoded as NaN natively. For \
supervised learning, you might want to consider sklearn.ensemble.HistGradientBoostingClassifier \
and Regressor which accept missing values encoded as NaNs natively. Alternatively, it is \
possible to preprocess the data, for instance by using an imputer transformer in a pipeline or \
drop samples with missing values. See https://scikit-learn.org/stable/modules/impute.html You \
can find a list of all estimators that handle NaN values at the following page: \
https://scikit-learn.org/stable/modules/impute.html#estimators-that-handle-nan-values";

/// scikit-learn's message for a non-finite value in input `input_name`
/// (`""` for an unnamed input, as `check_array` without `input_name`) of
/// dtype `dtype`: the first sentence, then, for NaN in `X` of a named
/// `estimator`, scikit-learn's advice (imputers, HistGradientBoosting).
pub fn non_finite_message(
    input_name: &str,
    kind: NonFiniteKind,
    dtype: &str,
    estimator: Option<&str>,
) -> String {
    let what = match kind {
        NonFiniteKind::NaN => "NaN".to_owned(),
        NonFiniteKind::Infinity => format!("infinity or a value too large for dtype('{dtype}')"),
    };
    let pad = if input_name.is_empty() { "" } else { " " };
    let mut msg = format!("Input {input_name}{pad}contains {what}.");
    if let (Some(est), NonFiniteKind::NaN, "X") = (estimator, kind, input_name) {
        msg.push('\n');
        msg.push_str(est);
        msg.push_str(NAN_ADVICE);
    }
    msg
}

/// The first non-finite value of row-major `data` (`cols` per row), as
/// (kind, row, column); NaN is skipped when `allow_nan`.
pub fn first_non_finite<T: Real>(
    data: &[T],
    cols: usize,
    allow_nan: bool,
) -> Option<(NonFiniteKind, usize, usize)> {
    let at = data.iter().position(|v| {
        let v = v.to_f64();
        !(v.is_finite() || (allow_nan && v.is_nan()))
    })?;
    let v = data[at].to_f64();
    Some((NonFiniteKind::of(v), at / cols.max(1), at % cols.max(1)))
}

/// How one kind of model validates its input at predict time (what its
/// Python `predict` does, so that the binary answers the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputRule<'a> {
    /// NaN is data (forests route it with `missing_go_to_left`), not an error.
    pub allow_nan: bool,
    /// The input's name in messages (`"X"`, or `""` where scikit-learn
    /// leaves it unnamed).
    pub input_name: &'a str,
    /// The estimator named in the NaN advice (`None`: no advice, as
    /// scikit-learn without an estimator name).
    pub estimator: Option<&'a str>,
    /// The dtype named for infinity, when the model casts its input
    /// (forests compare float32); `None`: the input's own.
    pub dtype: Option<&'a str>,
    /// Add oxlearn's "The first one is at row r, column c." (what the Rust
    /// kernels report; scikit-learn's own validation does not).
    pub locate: bool,
}

/// Fails with `rule`'s message on the first non-finite value of row-major
/// `data` that `rule` does not accept.
pub fn check_finite<T: Real>(data: &[T], cols: usize, rule: &InputRule<'_>) -> Result<(), String> {
    match first_non_finite(data, cols, rule.allow_nan) {
        None => Ok(()),
        Some((kind, row, col)) => {
            let dtype = rule.dtype.unwrap_or(T::DTYPE);
            if rule.locate {
                return Err(located_message(
                    rule.input_name,
                    kind,
                    dtype,
                    rule.estimator,
                    row,
                    col,
                ));
            }
            Err(non_finite_message(
                rule.input_name,
                kind,
                dtype,
                rule.estimator,
            ))
        }
    }
}

/// [`non_finite_message`] with the position of the first offending value
/// after the first sentence (the text of [`Error::NonFinite`]).
pub fn located_message(
    input_name: &str,
    kind: NonFiniteKind,
    dtype: &str,
    estimator: Option<&str>,
    row: usize,
    col: usize,
) -> String {
    let full = non_finite_message(input_name, kind, dtype, estimator);
    let (head, rest) = full.split_once('\n').unwrap_or((&full, ""));
    let mut msg = format!("{head} The first one is at row {row}, column {col}.");
    if !rest.is_empty() {
        msg.push('\n');
        msg.push_str(rest);
    }
    msg
}

/// `message` with the row that [`located_message`] names (if it names one)
/// increased by `by`: for input checked in pieces, the first piece's row 0
/// being row `by` of the whole.
pub fn shift_located_row(message: &str, by: usize) -> String {
    const AT: &str = " The first one is at row ";
    let Some(start) = message.find(AT).map(|i| i + AT.len()) else {
        return message.to_owned();
    };
    let digits = message[start..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    let rest = &message[start + digits..];
    match message[start..start + digits].parse::<usize>() {
        Ok(row) if rest.starts_with(", column ") => {
            format!("{}{}{rest}", &message[..start], row.saturating_add(by))
        }
        _ => message.to_owned(),
    }
}

/// The rule of the Rust kernels (linear models, PCA, KMeans, ...): the
/// first offending value located, and for NaN in `X` scikit-learn's advice
/// about imputers, with "This estimator" for the estimator's name (the
/// kernels do not know it).
pub fn kernel_message(
    what: &str,
    kind: NonFiniteKind,
    dtype: &str,
    row: usize,
    col: usize,
) -> String {
    located_message(what, kind, dtype, Some("This estimator"), row, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_scikit_learns() {
        assert_eq!(
            non_finite_message("X", NonFiniteKind::Infinity, "float32", Some("RF")),
            "Input X contains infinity or a value too large for dtype('float32')."
        );
        assert_eq!(
            non_finite_message("", NonFiniteKind::NaN, "float64", None),
            "Input contains NaN."
        );
        let m = non_finite_message(
            "X",
            NonFiniteKind::NaN,
            "float64",
            Some("KNeighborsRegressor"),
        );
        assert!(m.starts_with(
            "Input X contains NaN.\nKNeighborsRegressor does not accept missing values encoded \
             as NaN natively."
        ));
        assert!(m.contains("HistGradientBoostingClassifier") && m.contains("imputer"));
        let k = kernel_message("X", NonFiniteKind::NaN, "float64", 3, 2);
        assert!(k.starts_with("Input X contains NaN. The first one is at row 3, column 2.\n"));
        let shifted = shift_located_row(&k, 1000);
        assert!(
            shifted.starts_with("Input X contains NaN. The first one is at row 1003, column 2.\n")
        );
        assert_eq!(shifted.len(), k.len() + 3);
        assert_eq!(shift_located_row("no row here", 5), "no row here");
        assert!(k.contains("\nThis estimator does not accept") && !k.contains("before fitting"));
    }

    #[test]
    fn the_first_offending_value_is_found_per_rule() {
        let x = [1.0, f64::NAN, 3.0, f64::INFINITY];
        assert_eq!(
            first_non_finite(&x, 2, false),
            Some((NonFiniteKind::NaN, 0, 1))
        );
        assert_eq!(
            first_non_finite(&x, 2, true),
            Some((NonFiniteKind::Infinity, 1, 1))
        );
        assert_eq!(first_non_finite(&[1.0f32, 2.0], 1, false), None);
        let rule = InputRule {
            allow_nan: true,
            input_name: "X",
            estimator: None,
            dtype: Some("float32"),
            locate: false,
        };
        assert_eq!(
            check_finite(&x, 2, &rule).unwrap_err(),
            "Input X contains infinity or a value too large for dtype('float32')."
        );
    }
}
