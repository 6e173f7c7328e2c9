//! `SimpleImputer.transform`: missing values replaced by the fitted
//! `statistics_`, columns without a statistic dropped (unless
//! `keep_empty_features`), as scikit-learn does.

use super::table::{Cell, Cells, Column};
use super::{per_column, rows_of};
use crate::error::{Error, Result};

/// Which values are missing (`missing_values`).
#[derive(Debug, Clone, PartialEq)]
pub enum MissingValues {
    /// `np.nan` (the default): NaN numbers, missing cells.
    NaN,
    /// A number: values equal to it.
    Number(f64),
    /// A string: cells equal to it.
    Text(String),
    /// `None`: Python's `None`, which a table read from CSV never holds
    /// (pandas reads a missing field as NaN), so nothing is missing.
    None,
}

impl MissingValues {
    fn number(&self, x: f64) -> bool {
        match self {
            MissingValues::NaN => x.is_nan(),
            MissingValues::Number(v) => x == *v,
            MissingValues::Text(_) | MissingValues::None => false,
        }
    }

    fn cell(&self, c: &Cell) -> bool {
        match (self, c) {
            (_, Cell::Number(x)) => self.number(*x),
            (MissingValues::Text(t), Cell::Text(s)) => s == t,
            _ => false,
        }
    }
}

/// A `SimpleImputer` fitted on numbers: `statistics_` is float64, NaN for
/// a column that had no value.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericImputer {
    /// `statistics_`.
    pub statistics: Vec<f64>,
    /// `missing_values`.
    pub missing_values: MissingValues,
    /// `keep_empty_features`.
    pub keep_empty_features: bool,
}

impl NumericImputer {
    /// The input columns the output keeps.
    pub fn kept(&self) -> Vec<bool> {
        self.statistics
            .iter()
            .map(|s| self.keep_empty_features || !s.is_nan())
            .collect()
    }

    /// Imputes row-major `x` (`statistics.len()` columns); returns the kept
    /// columns, row-major.
    pub fn transform(&self, x: &[f64]) -> Result<Vec<f64>> {
        let cols = self.statistics.len();
        let rows = rows_of(x, cols, "SimpleImputer input")?;
        per_column(&self.statistics, cols, "SimpleImputer statistics_")?;
        let keep = self.kept();
        let kept: Vec<usize> = (0..cols).filter(|&j| keep[j]).collect();
        let mut out = Vec::with_capacity(rows * kept.len());
        for row in x.chunks_exact(cols.max(1)) {
            out.extend(kept.iter().map(|&j| {
                if self.missing_values.number(row[j]) {
                    self.statistics[j]
                } else {
                    row[j]
                }
            }));
        }
        Ok(out)
    }
}

/// A `SimpleImputer` fitted on an object (text) table: one fill cell per
/// column, `None` for a column that had no value.
#[derive(Debug, Clone, PartialEq)]
pub struct CellImputer {
    /// `statistics_`.
    pub statistics: Vec<Option<Cell>>,
    /// `missing_values`.
    pub missing_values: MissingValues,
    /// `keep_empty_features`.
    pub keep_empty_features: bool,
}

impl CellImputer {
    /// The input columns the output keeps.
    pub fn kept(&self) -> Vec<bool> {
        self.statistics
            .iter()
            .map(|s| self.keep_empty_features || s.as_ref().is_some_and(|c| !c.is_nan()))
            .collect()
    }

    /// Imputes `columns` (one per statistic); returns the kept columns.
    /// A number column filled with a number stays numbers; anything else
    /// becomes cells, as scikit-learn's object array holds them.
    pub fn transform(&self, columns: &[&Column]) -> Result<Vec<Column>> {
        if columns.len() != self.statistics.len() {
            return Err(Error::ShapeMismatch {
                what: "SimpleImputer input columns".into(),
                expected: self.statistics.len(),
                got: columns.len(),
            });
        }
        let rows = columns.first().map_or(0, |c| c.len());
        if let Some(c) = columns.iter().find(|c| c.len() != rows) {
            return Err(Error::ShapeMismatch {
                what: "SimpleImputer input: rows of a column".into(),
                expected: rows,
                got: c.len(),
            });
        }
        let kept = self.kept();
        let mut out = Vec::new();
        for ((col, stat), keep) in columns.iter().zip(&self.statistics).zip(kept) {
            if !keep {
                continue;
            }
            let fill = stat.clone().unwrap_or(Cell::Number(f64::NAN));
            out.push(match (col, &fill) {
                (Column::Numbers(v), Cell::Number(f)) => Column::Numbers(
                    v.iter()
                        .map(|&x| if self.missing_values.number(x) { *f } else { x })
                        .collect(),
                ),
                (Column::Numbers(v), Cell::Text(_)) => {
                    // Each distinct missing or present value becomes a cell.
                    let mut values = vec![fill.clone()];
                    let mut index = std::collections::HashMap::new();
                    let codes = v
                        .iter()
                        .map(|&x| {
                            if self.missing_values.number(x) {
                                return 0;
                            }
                            *index.entry(x.to_bits()).or_insert_with(|| {
                                values.push(Cell::Number(x));
                                (values.len() - 1) as u32
                            })
                        })
                        .collect();
                    Column::Cells(Cells::new(codes, values)?)
                }
                (Column::Cells(c), _) => {
                    let mut values = c.values().to_vec();
                    values.push(fill.clone());
                    let fill_code = (values.len() - 1) as u32;
                    let missing: Vec<bool> = c
                        .values()
                        .iter()
                        .map(|v| self.missing_values.cell(v))
                        .collect();
                    let codes = c
                        .codes()
                        .iter()
                        .map(|&k| if missing[k as usize] { fill_code } else { k })
                        .collect();
                    Column::Cells(Cells::new(codes, values)?)
                }
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_filled_and_empty_columns_dropped() {
        // python: SimpleImputer().fit([[1., nan], [3., nan]]) -> statistics_ [2., nan];
        // .transform([[nan, 5.], [4., nan]]) -> [[2.], [4.]] (column 1 dropped)
        let imp = NumericImputer {
            statistics: vec![2.0, f64::NAN],
            missing_values: MissingValues::NaN,
            keep_empty_features: false,
        };
        assert_eq!(
            imp.transform(&[f64::NAN, 5.0, 4.0, f64::NAN]).unwrap(),
            [2.0, 4.0]
        );
        let keep = NumericImputer {
            keep_empty_features: true,
            statistics: vec![2.0, 0.0],
            ..imp.clone()
        };
        assert_eq!(
            keep.transform(&[f64::NAN, 5.0, 4.0, f64::NAN]).unwrap(),
            [2.0, 5.0, 4.0, 0.0]
        );
        let minus_one = NumericImputer {
            statistics: vec![7.0],
            missing_values: MissingValues::Number(-1.0),
            keep_empty_features: false,
        };
        let out = minus_one.transform(&[-1.0, f64::NAN, 3.0]).unwrap();
        assert_eq!(out[0], 7.0);
        assert!(out[1].is_nan());
        assert!(imp.transform(&[1.0, 2.0, 3.0]).is_err());
    }

    #[test]
    fn cells_filled_with_the_most_frequent() {
        let imp = CellImputer {
            statistics: vec![Some(Cell::Text("b".into())), None],
            missing_values: MissingValues::NaN,
            keep_empty_features: false,
        };
        let c = Column::Cells(Cells::from_texts([Some("a"), None, Some("c")]));
        let empty = Column::Cells(Cells::from_texts([None, None, None]));
        let out = imp.transform(&[&c, &empty]).unwrap();
        assert_eq!(out.len(), 1);
        let Column::Cells(cells) = &out[0] else {
            panic!("cells expected")
        };
        let got: Vec<&Cell> = (0..3).map(|i| cells.get(i).unwrap()).collect();
        assert_eq!(
            got,
            [
                &Cell::Text("a".into()),
                &Cell::Text("b".into()),
                &Cell::Text("c".into())
            ]
        );
        // A number column filled with a string: cells.
        let n = Column::Numbers(vec![1.0, f64::NAN]);
        let err = imp.transform(&[&n, &empty]).unwrap_err();
        assert!(err.to_string().contains("rows of a column"), "{err}");
        let imp1 = CellImputer {
            statistics: vec![Some(Cell::Text("b".into()))],
            ..imp
        };
        let out = imp1.transform(&[&n]).unwrap();
        let Column::Cells(cells) = &out[0] else {
            panic!("cells expected")
        };
        assert_eq!(cells.get(0), Some(&Cell::Number(1.0)));
        assert_eq!(cells.get(1), Some(&Cell::Text("b".into())));
    }
}
