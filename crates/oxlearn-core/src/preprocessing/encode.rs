//! `OneHotEncoder` and `OrdinalEncoder`: each value's index among the
//! fitted `categories_` of its column, then scikit-learn's handling of
//! unknown values, infrequent categories, dropped and missing categories.

use super::table::{Cell, Column};
use crate::error::{Error, Result};
use std::collections::HashMap;

/// The fitted categories of one column (`categories_[i]`).
#[derive(Debug, Clone, PartialEq)]
pub enum Categories {
    /// Numbers, sorted, NaN last when the encoder was fitted on missing
    /// values; `integer` when their dtype is an integer one (unknown
    /// values are then named as numpy integers in messages).
    Numbers {
        /// The categories.
        values: Vec<f64>,
        /// An integer dtype.
        integer: bool,
    },
    /// Strings (an object or unicode array), then, when the encoder was
    /// fitted on missing values, one missing category (`None` or NaN).
    Strings {
        /// The string categories, sorted.
        values: Vec<String>,
        /// The last category, when it is a missing value.
        missing: Option<MissingCategory>,
    },
}

/// The missing category of an object column: Python's `None`, or NaN (a
/// data frame's missing value). A table read from CSV holds NaN only, so
/// there its missing cells match a NaN category, never a `None` one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingCategory {
    /// `None`.
    None,
    /// `float("nan")`.
    NaN,
}

impl Categories {
    /// Number of categories.
    pub fn len(&self) -> usize {
        match self {
            Categories::Numbers { values, .. } => values.len(),
            Categories::Strings { values, missing } => {
                values.len() + usize::from(missing.is_some())
            }
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index of number `v` (numpy's `searchsorted` on sorted categories,
    /// with equality: `-0.0` is `0.0`, NaN is the NaN category).
    fn index_of_number(values: &[f64], v: f64) -> Option<usize> {
        if v.is_nan() {
            return values.iter().position(|c| c.is_nan());
        }
        let i = values.partition_point(|&c| c < v);
        (values.get(i) == Some(&v)).then_some(i)
    }
}

/// Each row's category index in one column (`None`: unknown).
fn encode_column(col: &Column, cats: &Categories) -> Vec<Option<usize>> {
    match (col, cats) {
        (Column::Numbers(v), Categories::Numbers { values, .. }) => v
            .iter()
            .map(|&x| Categories::index_of_number(values, x))
            .collect(),
        (Column::Numbers(v), Categories::Strings { values, missing }) => {
            let nan = (*missing == Some(MissingCategory::NaN)).then_some(values.len());
            v.iter()
                .map(|x| if x.is_nan() { nan } else { None })
                .collect()
        }
        (Column::Cells(c), cats) => {
            let names: HashMap<&str, usize> = match cats {
                Categories::Strings { values, .. } => values
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.as_str(), i))
                    .collect(),
                Categories::Numbers { .. } => HashMap::new(),
            };
            let per_value: Vec<Option<usize>> = c
                .values()
                .iter()
                .map(|cell| match (cell, cats) {
                    (Cell::Number(x), Categories::Numbers { values, .. }) => {
                        Categories::index_of_number(values, *x)
                    }
                    (Cell::Number(x), Categories::Strings { values, missing })
                        if x.is_nan() && *missing == Some(MissingCategory::NaN) =>
                    {
                        Some(values.len())
                    }
                    (Cell::Text(s), Categories::Strings { .. }) => names.get(s.as_str()).copied(),
                    _ => None,
                })
                .collect();
            c.codes().iter().map(|&k| per_value[k as usize]).collect()
        }
    }
}

/// The distinct values of `col` whose `codes` are unknown, as scikit-learn
/// names them in its message (only computed for that message).
fn unknown_values(col: &Column, codes: &[Option<usize>], cats: &Categories) -> Vec<Unknown> {
    let integer = matches!(cats, Categories::Numbers { integer: true, .. });
    match col {
        Column::Numbers(v) => v
            .iter()
            .zip(codes)
            .filter(|(_, c)| c.is_none())
            .map(|(&x, _)| Unknown::NumpyNumber(x, integer))
            .collect(),
        Column::Cells(c) => {
            let mut seen = vec![false; c.values().len()];
            let mut out = Vec::new();
            for (&k, code) in c.codes().iter().zip(codes) {
                if code.is_none() && !seen[k as usize] {
                    seen[k as usize] = true;
                    out.push(match &c.values()[k as usize] {
                        Cell::Number(x) => Unknown::PyNumber(*x),
                        Cell::Text(s) => Unknown::Text(s.clone()),
                    });
                }
            }
            out
        }
    }
}

/// An unknown value, as Python prints it in scikit-learn's message.
#[derive(Debug, Clone)]
enum Unknown {
    /// An element of a numpy numeric column: `np.float64(2.5)`, `np.int64(3)`.
    NumpyNumber(f64, bool),
    /// A Python float of an object column (`nan` for a missing cell).
    PyNumber(f64),
    /// A Python string.
    Text(String),
}

/// scikit-learn's list of unknown values (`Found unknown categories [...]`):
/// distinct, strings by code point, then numbers ascending, NaN last
/// (Python lists an object column's set in hash order, which varies
/// between runs; this order is fixed).
fn unknown_list(mut values: Vec<Unknown>) -> String {
    let rank = |u: &Unknown| match u {
        Unknown::Text(_) => 0,
        Unknown::NumpyNumber(x, _) | Unknown::PyNumber(x) if x.is_nan() => 2,
        _ => 1,
    };
    let num = |u: &Unknown| match u {
        Unknown::NumpyNumber(x, _) | Unknown::PyNumber(x) => *x,
        Unknown::Text(_) => 0.0,
    };
    values.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
            (Unknown::Text(x), Unknown::Text(y)) => x.cmp(y),
            _ => num(a)
                .partial_cmp(&num(b))
                .unwrap_or(std::cmp::Ordering::Equal),
        })
    });
    let mut shown: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for u in &values {
        let s = match u {
            Unknown::Text(t) => py_str_repr(t),
            Unknown::PyNumber(x) => py_float_repr(*x),
            Unknown::NumpyNumber(x, true) if x.fract() == 0.0 && x.abs() < 9.2e18 => {
                format!("np.int64({})", *x as i64)
            }
            Unknown::NumpyNumber(x, _) => format!("np.float64({})", py_float_repr(*x)),
        };
        if seen.insert(s.clone()) {
            shown.push(s);
        }
    }
    format!("[{}]", shown.join(", "))
}

/// Python's `repr` of a float: the shortest text that reads back to it,
/// `1.0` for integral values, exponent form (`1e+16`, `1e-05`) outside
/// `1e-4 <= |x| < 1e16`.
pub fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // Shortest round-trip digits and exponent: "d.ddde<exp>".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if x < 0.0 { "-" } else { "" };
    let decpt = exp + 1; // digits d1 d2 ... times 10^(decpt - 1) after d1
    if !(-4 < decpt && decpt <= 16) {
        let mut m = digits[..1].to_owned();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let es = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{es}{:02}", exp.abs());
    }
    let n = digits.len() as i32;
    let body = if decpt <= 0 {
        format!("0.{}{}", "0".repeat((-decpt) as usize), digits)
    } else if decpt >= n {
        format!("{}{}.0", digits, "0".repeat((decpt - n) as usize))
    } else {
        format!(
            "{}.{}",
            &digits[..decpt as usize],
            &digits[decpt as usize..]
        )
    };
    format!("{sign}{body}")
}

/// Python's `repr` of a string: single quotes unless the string has a
/// single quote and no double quote; backslashes, the quote and control
/// characters escaped.
pub fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// What `OneHotEncoder` does with a value that is not among its column's
/// categories (`handle_unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleUnknown {
    /// Refuse the input.
    Error,
    /// Encode as all zeros.
    Ignore,
    /// Encode as the infrequent category if there is one, else all zeros.
    InfrequentIfExist,
    /// As `InfrequentIfExist`, with a warning.
    Warn,
}

/// The grouping of infrequent categories (`_infrequent_enabled`): per
/// column, the infrequent categories' indices (`_infrequent_indices`) and
/// the map from category index to output index
/// (`_default_to_infrequent_mappings`), `None` where no category is
/// infrequent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Infrequent {
    /// `_infrequent_indices`.
    pub indices: Vec<Option<Vec<usize>>>,
    /// `_default_to_infrequent_mappings`.
    pub mappings: Vec<Option<Vec<usize>>>,
}

/// A fitted `OneHotEncoder`.
#[derive(Debug, Clone, PartialEq)]
pub struct OneHotEncoder {
    /// `categories_`.
    pub categories: Vec<Categories>,
    /// `handle_unknown`.
    pub handle_unknown: HandleUnknown,
    /// Whether `drop` is set (unknown values then warn, as scikit-learn).
    pub drop_set: bool,
    /// `_drop_idx_after_grouping`: per column, the output index dropped.
    pub drop_idx_after_grouping: Option<Vec<Option<usize>>>,
    /// Infrequent categories, when enabled.
    pub infrequent: Option<Infrequent>,
    /// `_n_features_outs`: output columns of each input column.
    pub n_features_outs: Vec<usize>,
}

fn corrupt(name: &'static str, reason: String) -> Error {
    Error::InvalidParameter { name, reason }
}

fn check_columns(columns: &[&Column], n: usize, rows: usize, who: &str) -> Result<()> {
    if columns.len() != n {
        return Err(Error::ShapeMismatch {
            what: format!("{who} input columns"),
            expected: n,
            got: columns.len(),
        });
    }
    if let Some(c) = columns.iter().find(|c| c.len() != rows) {
        return Err(Error::ShapeMismatch {
            what: format!("{who} input: rows of a column"),
            expected: rows,
            got: c.len(),
        });
    }
    Ok(())
}

/// The warning scikit-learn's `OneHotEncoder.transform` gives when it
/// meets unknown values it encodes rather than refuses. Kept as data, so
/// that the warnings of a table transformed in pieces merge into the one
/// the whole table would give ([`UnknownWarning::merge`]).
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownWarning {
    /// The input columns holding unknown values, in increasing order.
    pub columns: Vec<usize>,
    /// What the unknown values are encoded as.
    pub encoded_as: &'static str,
}

impl UnknownWarning {
    /// Adds the columns of `other` (the same encoder, other rows).
    pub fn merge(&mut self, other: &UnknownWarning) {
        self.columns.extend_from_slice(&other.columns);
        self.columns.sort_unstable();
        self.columns.dedup();
    }
}

impl std::fmt::Display for UnknownWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let columns: Vec<String> = self.columns.iter().map(usize::to_string).collect();
        write!(
            f,
            "Found unknown categories in columns [{}] during transform. These unknown \
             categories will be encoded as {}.",
            columns.join(", "),
            self.encoded_as
        )
    }
}

impl OneHotEncoder {
    /// `transform` with `sparse_output=False`: `rows × sum(n_features_outs)`,
    /// row-major, and the warning scikit-learn gives about unknown values,
    /// if any.
    pub fn transform(
        &self,
        columns: &[&Column],
        rows: usize,
    ) -> Result<(Vec<f64>, Option<UnknownWarning>)> {
        let n = self.categories.len();
        check_columns(columns, n, rows, "OneHotEncoder")?;
        let lists_ok = self.n_features_outs.len() == n
            && self
                .drop_idx_after_grouping
                .as_ref()
                .is_none_or(|d| d.len() == n)
            && self
                .infrequent
                .as_ref()
                .is_none_or(|f| f.indices.len() == n && f.mappings.len() == n);
        if !lists_ok {
            return Err(corrupt(
                "OneHotEncoder",
                format!("its per-column lists do not all have {n} entries"),
            ));
        }
        let width: usize = self.n_features_outs.iter().sum();
        let mut out = vec![
            0.0;
            rows.checked_mul(width).ok_or_else(|| {
                corrupt("OneHotEncoder", "output size overflows".into())
            })?
        ];
        let warn_on_unknown = self.handle_unknown == HandleUnknown::Warn
            || (self.drop_set
                && matches!(
                    self.handle_unknown,
                    HandleUnknown::Ignore | HandleUnknown::InfrequentIfExist
                ));
        let mut with_unknown = Vec::new();
        let mut offset = 0;
        for (i, (col, cats)) in columns.iter().zip(&self.categories).enumerate() {
            let codes = encode_column(col, cats);
            if codes.iter().any(Option::is_none) {
                if self.handle_unknown == HandleUnknown::Error {
                    return Err(Error::UnknownCategories {
                        column: i,
                        values: unknown_list(unknown_values(col, &codes, cats)),
                    });
                }
                if warn_on_unknown {
                    with_unknown.push(i);
                }
            }
            let n_out = self.n_features_outs[i];
            // Per row, scikit-learn's steps: X_int (unknown: the first
            // category) and X_mask; unknown values to the first infrequent
            // category (then valid, for infrequent_if_exist and warn); the
            // infrequent grouping; the dropped category.
            let (infrequent_first, mapping) = match &self.infrequent {
                Some(f) => (
                    f.indices[i].as_ref().and_then(|v| v.first()).copied(),
                    f.mappings[i].as_deref(),
                ),
                None => (None, None),
            };
            let valid_after = matches!(
                self.handle_unknown,
                HandleUnknown::InfrequentIfExist | HandleUnknown::Warn
            );
            let to_drop = self.drop_idx_after_grouping.as_ref().map(|d| d[i]);
            let bound = to_drop.flatten().unwrap_or(cats.len());
            for (r, code) in codes.iter().enumerate() {
                let (mut x, mut valid) = (code.unwrap_or(0), code.is_some());
                if let (Some(first), false) = (infrequent_first, valid) {
                    x = first;
                    valid = valid_after;
                }
                if let Some(map) = mapping {
                    x = *map.get(x).ok_or_else(|| {
                        corrupt(
                            "_default_to_infrequent_mappings",
                            format!("column {i}: no entry for category {x}"),
                        )
                    })?;
                }
                if let Some(dropped) = to_drop {
                    if Some(x) == dropped {
                        valid = false;
                    }
                    if x > bound {
                        x -= 1;
                    }
                }
                if valid {
                    if x >= n_out {
                        return Err(corrupt(
                            "_n_features_outs",
                            format!("column {i}: output index {x} of {n_out}"),
                        ));
                    }
                    out[r * width + offset + x] = 1.0;
                }
            }
            offset += n_out;
        }
        let encoded_as = if matches!(
            self.handle_unknown,
            HandleUnknown::InfrequentIfExist | HandleUnknown::Warn
        ) {
            "the infrequent category"
        } else {
            "all zeros"
        };
        let warning = (!with_unknown.is_empty()).then_some(UnknownWarning {
            columns: with_unknown,
            encoded_as,
        });
        Ok((out, warning))
    }
}

/// A fitted `OrdinalEncoder` (without infrequent categories, which the
/// model format does not hold for it).
#[derive(Debug, Clone, PartialEq)]
pub struct OrdinalEncoder {
    /// `categories_`.
    pub categories: Vec<Categories>,
    /// `unknown_value` when `handle_unknown='use_encoded_value'`; `None`:
    /// unknown values are an error.
    pub unknown_value: Option<f64>,
    /// `_missing_indices`: (column, index of its NaN category).
    pub missing_indices: Vec<(usize, usize)>,
    /// `encoded_missing_value`.
    pub encoded_missing_value: f64,
}

impl OrdinalEncoder {
    /// `transform`: each value's category index, as float64, row-major.
    pub fn transform(&self, columns: &[&Column], rows: usize) -> Result<Vec<f64>> {
        let n = self.categories.len();
        check_columns(columns, n, rows, "OrdinalEncoder")?;
        let mut out = vec![
            0.0;
            rows.checked_mul(n).ok_or_else(|| {
                corrupt("OrdinalEncoder", "output size overflows".into())
            })?
        ];
        for (i, (col, cats)) in columns.iter().zip(&self.categories).enumerate() {
            let codes = encode_column(col, cats);
            if self.unknown_value.is_none() && codes.iter().any(Option::is_none) {
                return Err(Error::UnknownCategories {
                    column: i,
                    values: unknown_list(unknown_values(col, &codes, cats)),
                });
            }
            let missing = self
                .missing_indices
                .iter()
                .find(|(c, _)| *c == i)
                .map(|&(_, m)| m);
            for (r, code) in codes.iter().enumerate() {
                let x_int = code.unwrap_or(0);
                let mut v = x_int as f64;
                if Some(x_int) == missing {
                    v = self.encoded_missing_value;
                }
                if code.is_none() {
                    v = self.unknown_value.unwrap_or(f64::NAN);
                }
                out[r * n + i] = v;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocessing::Cells;

    fn strings(v: &[&str]) -> Categories {
        Categories::Strings {
            values: v.iter().map(|s| s.to_string()).collect(),
            missing: None,
        }
    }

    fn text(v: &[Option<&str>]) -> Column {
        Column::Cells(Cells::from_texts(v.iter().copied()))
    }

    fn encoder(cats: Vec<Categories>, handle: HandleUnknown) -> OneHotEncoder {
        let outs = cats.iter().map(Categories::len).collect();
        OneHotEncoder {
            categories: cats,
            handle_unknown: handle,
            drop_set: false,
            drop_idx_after_grouping: None,
            infrequent: None,
            n_features_outs: outs,
        }
    }

    #[test]
    fn one_hot_strings_numbers_and_missing() {
        // python: OneHotEncoder(sparse_output=False).fit(df).transform(df2)
        let e = encoder(
            vec![
                strings(&["a", "b"]),
                Categories::Numbers {
                    values: vec![1.0, 2.5, f64::NAN],
                    integer: false,
                },
            ],
            HandleUnknown::Error,
        );
        let c0 = text(&[Some("b"), Some("a")]);
        let c1 = Column::Numbers(vec![f64::NAN, -0.0 + 2.5]);
        let (out, warn) = e.transform(&[&c0, &c1], 2).unwrap();
        assert_eq!(out, [0., 1., 0., 0., 1., 1., 0., 0., 1., 0.]);
        assert!(warn.is_none());
        // Unknown values: scikit-learn's message.
        let bad = text(&[Some("c"), None, Some("it's"), Some("c")]);
        let c1 = Column::Numbers(vec![1.0; 4]);
        let err = e.transform(&[&bad, &c1], 4).unwrap_err().to_string();
        assert_eq!(
            err,
            "Found unknown categories ['c', \"it's\", nan] in column 0 during transform"
        );
        let c0 = text(&[Some("a")]);
        let err = e
            .transform(&[&c0, &Column::Numbers(vec![7.0])], 1)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "Found unknown categories [np.float64(7.0)] in column 1 during transform"
        );
        // ignore: all zeros for that column.
        let e = OneHotEncoder {
            handle_unknown: HandleUnknown::Ignore,
            ..e
        };
        let (out, _) = e.transform(&[&c0, &Column::Numbers(vec![7.0])], 1).unwrap();
        assert_eq!(out, [1., 0., 0., 0., 0.]);
        assert!(e.transform(&[&c0], 1).is_err());
    }

    #[test]
    fn string_categories_with_a_missing_one() {
        // python: OneHotEncoder(sparse_output=False).fit(pd.DataFrame({"c": ["a", None]}))
        // categories_ [array(['a', None], dtype=object)]: a CSV's NaN is unknown
        let cats = |missing| Categories::Strings {
            values: vec!["a".into()],
            missing: Some(missing),
        };
        let col = text(&[Some("a"), None]);
        let e = encoder(vec![cats(MissingCategory::NaN)], HandleUnknown::Error);
        assert_eq!(e.transform(&[&col], 2).unwrap().0, [1., 0., 0., 1.]);
        let e = encoder(vec![cats(MissingCategory::None)], HandleUnknown::Error);
        assert_eq!(
            e.transform(&[&col], 2).unwrap_err().to_string(),
            "Found unknown categories [nan] in column 0 during transform"
        );
    }

    #[test]
    fn one_hot_drop_and_infrequent() {
        // python: OneHotEncoder(drop="first", sparse_output=False,
        //   handle_unknown="ignore").fit([["a"], ["b"], ["c"]])
        //   .transform([["a"], ["c"], ["z"]]) -> [[0, 0], [0, 1], [0, 0]]
        let mut e = encoder(vec![strings(&["a", "b", "c"])], HandleUnknown::Ignore);
        e.drop_set = true;
        e.drop_idx_after_grouping = Some(vec![Some(0)]);
        e.n_features_outs = vec![2];
        let col = text(&[Some("a"), Some("c"), Some("z")]);
        let (out, warn) = e.transform(&[&col], 3).unwrap();
        assert_eq!(out, [0., 0., 0., 1., 0., 0.]);
        assert_eq!(
            warn.unwrap().to_string(),
            "Found unknown categories in columns [0] during transform. These unknown \
             categories will be encoded as all zeros."
        );
        // python: OneHotEncoder(max_categories=2, sparse_output=False,
        //   handle_unknown="infrequent_if_exist").fit([["a"]] * 3 + [["b"], ["c"]])
        //   _infrequent_indices [array([1, 2])], mappings [array([0, 1, 1])]
        //   .transform([["a"], ["b"], ["c"], ["z"]]) -> [[1, 0], [0, 1], [0, 1], [0, 1]]
        let e = OneHotEncoder {
            categories: vec![strings(&["a", "b", "c"])],
            handle_unknown: HandleUnknown::InfrequentIfExist,
            drop_set: false,
            drop_idx_after_grouping: None,
            infrequent: Some(Infrequent {
                indices: vec![Some(vec![1, 2])],
                mappings: vec![Some(vec![0, 1, 1])],
            }),
            n_features_outs: vec![2],
        };
        let col = text(&[Some("a"), Some("b"), Some("c"), Some("z")]);
        let (out, warn) = e.transform(&[&col], 4).unwrap();
        assert_eq!(out, [1., 0., 0., 1., 0., 1., 0., 1.]);
        assert!(warn.is_none());
        // A forged mapping is an error, not a panic.
        let bad = OneHotEncoder {
            infrequent: Some(Infrequent {
                indices: vec![Some(vec![1, 2])],
                mappings: vec![Some(vec![0])],
            }),
            ..e
        };
        assert!(bad.transform(&[&col], 4).is_err());
    }

    #[test]
    fn ordinal_unknown_and_missing() {
        // python: OrdinalEncoder(handle_unknown="use_encoded_value",
        //   unknown_value=-1).fit([["a"], ["b"], [nan]])
        //   .transform([["b"], [nan], ["z"]]) -> [[1.], [nan], [-1.]]
        let e = OrdinalEncoder {
            categories: vec![Categories::Numbers {
                values: vec![0.5, f64::NAN],
                integer: false,
            }],
            unknown_value: Some(-1.0),
            missing_indices: vec![(0, 1)],
            encoded_missing_value: f64::NAN,
        };
        let out = e
            .transform(&[&Column::Numbers(vec![0.5, f64::NAN, 3.0])], 3)
            .unwrap();
        assert_eq!(out[0], 0.0);
        assert!(out[1].is_nan());
        assert_eq!(out[2], -1.0);
        let strict = OrdinalEncoder {
            categories: vec![Categories::Numbers {
                values: vec![1.0, 2.0],
                integer: true,
            }],
            unknown_value: None,
            missing_indices: vec![],
            encoded_missing_value: f64::NAN,
        };
        let err = strict
            .transform(&[&Column::Numbers(vec![3.0, 2.0, 0.5, 3.0])], 4)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "Found unknown categories [np.float64(0.5), np.int64(3)] in column 0 during \
             transform"
        );
    }

    #[test]
    fn python_reprs() {
        for (x, s) in [
            (1.0, "1.0"),
            (2.5, "2.5"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (-1.5e-7, "-1.5e-07"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123456789.125, "123456789.125"),
            (f64::NAN, "nan"),
            (-0.0, "-0.0"),
        ] {
            assert_eq!(py_float_repr(x), s);
        }
        assert_eq!(py_str_repr("a'b"), "\"a'b\"");
        assert_eq!(py_str_repr("a'\"b"), "'a\\'\"b'");
        assert_eq!(py_str_repr("x\n\u{1b}"), "'x\\n\\x1b'");
    }
}
