//! Columns of a table as pandas holds them: float64 numbers, or "object"
//! cells (strings, numbers, missing), which is what scikit-learn's encoders
//! and imputer see when they are given a data frame.

use crate::error::{Error, Result};
use std::borrow::Cow;
use std::collections::HashMap;

/// One cell of a column that is not all numbers. A missing cell is
/// `Number(NaN)`, as pandas reads an empty field of a text column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A number (NaN: missing).
    Number(f64),
    /// A string.
    Text(String),
}

impl Cell {
    /// Whether the cell is missing (NaN), as scikit-learn's `is_scalar_nan`.
    pub fn is_nan(&self) -> bool {
        matches!(self, Cell::Number(v) if v.is_nan())
    }
}

/// A column of [`Cell`]s, dictionary-encoded: row `i` holds
/// `values[codes[i]]`. Categorical data repeats a few values over many
/// rows, so encoders look each distinct value up once, not once per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Cells {
    codes: Vec<u32>,
    values: Vec<Cell>,
}

impl Cells {
    /// Cells from codes into `values`; every code must index `values`.
    pub fn new(codes: Vec<u32>, values: Vec<Cell>) -> Result<Cells> {
        if let Some(&bad) = codes.iter().find(|&&c| c as usize >= values.len()) {
            return Err(Error::ShapeMismatch {
                what: "cell code: an index into the column's distinct values".into(),
                expected: values.len(),
                got: bad as usize,
            });
        }
        Ok(Cells { codes, values })
    }

    /// Cells from text, `None` for a missing cell; equal strings share one
    /// value.
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = Option<&'a str>>) -> Cells {
        let mut index: HashMap<&'a str, u32> = HashMap::new();
        let mut values = Vec::new();
        let mut missing = None;
        let codes = texts
            .into_iter()
            .map(|t| match t {
                Some(s) => *index.entry(s).or_insert_with(|| {
                    values.push(Cell::Text(s.to_owned()));
                    (values.len() - 1) as u32
                }),
                None => *missing.get_or_insert_with(|| {
                    values.push(Cell::Number(f64::NAN));
                    (values.len() - 1) as u32
                }),
            })
            .collect();
        Cells { codes, values }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Each row's index into [`Cells::values`].
    pub fn codes(&self) -> &[u32] {
        &self.codes
    }

    /// The distinct values.
    pub fn values(&self) -> &[Cell] {
        &self.values
    }

    /// The cell of row `i`.
    pub fn get(&self, i: usize) -> Option<&Cell> {
        self.values.get(*self.codes.get(i)? as usize)
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// float64 values, NaN for missing ones.
    Numbers(Vec<f64>),
    /// Strings and numbers (an object column).
    Cells(Cells),
}

impl Column {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Column::Numbers(v) => v.len(),
            Column::Cells(c) => c.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The column as numbers, as numpy converts an object column to
    /// float64 (`float(s)` of each string: `"1.50"` is 1.5);
    /// `Err((row, text))` names the first string that is not a number.
    pub fn numbers(&self) -> std::result::Result<Cow<'_, [f64]>, (usize, &str)> {
        match self {
            Column::Numbers(v) => Ok(Cow::Borrowed(v)),
            Column::Cells(c) => {
                let values: Vec<std::result::Result<f64, &str>> = c
                    .values()
                    .iter()
                    .map(|v| match v {
                        Cell::Number(x) => Ok(*x),
                        Cell::Text(s) => s.trim().parse::<f64>().map_err(|_| s.as_str()),
                    })
                    .collect();
                c.codes()
                    .iter()
                    .enumerate()
                    .map(|(row, &k)| values[k as usize].map_err(|s| (row, s)))
                    .collect::<std::result::Result<Vec<f64>, _>>()
                    .map(Cow::Owned)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_share_equal_values_and_check_codes() {
        let c = Cells::from_texts([Some("a"), None, Some("b"), Some("a"), None]);
        assert_eq!(c.codes(), &[0, 1, 2, 0, 1]);
        assert_eq!(c.values().len(), 3);
        assert!(c.get(1).unwrap().is_nan());
        assert_eq!(c.get(9), None);
        assert!(Cells::new(vec![0, 2], vec![Cell::Number(1.0)]).is_err());
        let col = Column::Cells(c);
        assert_eq!(col.numbers().unwrap_err(), (0, "a"));
        let text_numbers = Column::Cells(Cells::from_texts([Some(" 1.50"), None, Some("x")]));
        assert_eq!(text_numbers.numbers().unwrap_err(), (2, "x"));
        let nums = Column::Cells(
            Cells::new(vec![1, 0], vec![Cell::Number(2.0), Cell::Number(f64::NAN)]).unwrap(),
        );
        let v = nums.numbers().unwrap();
        assert!(v[0].is_nan() && v[1] == 2.0);
    }
}
