//! Tables with named columns of numbers or strings, read from CSV as pandas
//! reads them: what a pipeline with a `ColumnTransformer`, an encoder or
//! an imputer is given. Input is hostile: every line and field is checked,
//! nothing panics.

use crate::npy::{npy_fortran, read_npy, read_npy_strings, ArrayFileError, Matrix};
use oxlearn_core::preprocessing::{Cell, Cells, Column};
use std::borrow::Cow;
use std::collections::HashMap;

/// A table: columns of equal length, and their names when the CSV had a
/// header.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Number of rows.
    pub rows: usize,
    /// The columns, in file order.
    pub columns: Vec<Column>,
    /// Column names from a CSV header.
    pub names: Option<Vec<String>>,
    /// Whether Python holds these values column-major (a pandas data
    /// frame's values, a column selection), which decides the order of
    /// row sums (`oxlearn_core::preprocessing::NumpyOrder`).
    pub column_major: bool,
    /// How messages name each column when `names` is absent (a column
    /// transformer's output: `'age'` passed through, `0 of "cat"'s output`).
    pub labels: Option<Vec<String>>,
}

impl Frame {
    /// The numeric columns of a matrix (`.npy` input: no names). float32
    /// values are widened to float64.
    pub fn from_matrix(m: &Matrix) -> Frame {
        let (rows, cols) = (m.rows(), m.cols());
        let columns = (0..cols)
            .map(|j| {
                Column::Numbers(match m {
                    Matrix::F64 { data, .. } => (0..rows).map(|i| data[i * cols + j]).collect(),
                    Matrix::F32 { data, .. } => {
                        (0..rows).map(|i| f64::from(data[i * cols + j])).collect()
                    }
                })
            })
            .collect();
        Frame {
            rows,
            columns,
            names: None,
            column_major: false,
            labels: None,
        }
    }
}

impl Frame {
    /// A `.npy` file's table: numbers (as [`read_npy`] reads them), or
    /// numpy unicode strings, each column a text column (numpy strings are
    /// never missing). No names. float32 values are widened to float64,
    /// which Python does not do: the second value is then a warning.
    pub fn from_npy(bytes: &[u8]) -> Result<(Frame, Option<String>), ArrayFileError> {
        let fortran = npy_fortran(bytes);
        let Some((rows, cols, values)) = read_npy_strings(bytes)? else {
            let m = read_npy(bytes)?;
            let warning = matches!(m, Matrix::F32 { .. }).then(|| {
                "float32 input: a pipeline's transformers compute in float64 in the binary \
                 and in float32 in Python (scikit-learn keeps float32), so results may \
                 differ in the last bits; give float64 input for identical results"
                    .to_owned()
            });
            let mut frame = Frame::from_matrix(&m);
            frame.column_major = fortran;
            return Ok((frame, warning));
        };
        let columns = (0..cols)
            .map(|j| {
                Column::Cells(Cells::from_texts(
                    (0..rows).map(|i| values.get(i * cols + j).map(String::as_str)),
                ))
            })
            .collect();
        Ok((
            Frame {
                rows,
                columns,
                names: None,
                column_major: fortran,
                labels: None,
            },
            None,
        ))
    }
}

/// Fields pandas reads as missing by default (`read_csv`'s `na_values`),
/// compared with the field's text without surrounding spaces.
const MISSING: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

fn is_missing(field: &str) -> bool {
    MISSING.contains(&field.trim())
}

fn number(field: &str) -> Option<f64> {
    field.trim().parse::<f64>().ok()
}

/// The fields of one line: split on commas, with RFC 4180 quoting (`"a,b"`,
/// `""` for a quote inside quotes); `None` when a quote is left open.
fn fields(line: &str) -> Option<Vec<Cow<'_, str>>> {
    if !line.contains('"') {
        return Some(line.split(',').map(Cow::Borrowed).collect());
    }
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (false, ',') => out.push(Cow::Owned(std::mem::take(&mut field))),
            _ => field.push(c),
        }
    }
    if quoted {
        return None;
    }
    out.push(Cow::Owned(field));
    Some(out)
}

/// One column being read: numbers while every field is a number or
/// missing; from the first other field on, text (pandas' object column,
/// whose every field is kept as written).
enum Building {
    Numbers(Vec<f64>),
    Text {
        codes: Vec<u32>,
        values: Vec<Cell>,
        index: HashMap<String, u32>,
        missing: Option<u32>,
        /// Rows before the switch whose text must be read again (they were
        /// read as numbers).
        backfill: usize,
    },
}

impl Building {
    fn text_code(
        values: &mut Vec<Cell>,
        index: &mut HashMap<String, u32>,
        missing: &mut Option<u32>,
        field: &str,
    ) -> u32 {
        if is_missing(field) {
            return *missing.get_or_insert_with(|| {
                values.push(Cell::Number(f64::NAN));
                (values.len() - 1) as u32
            });
        }
        if let Some(&k) = index.get(field) {
            return k;
        }
        values.push(Cell::Text(field.to_owned()));
        let k = (values.len() - 1) as u32;
        index.insert(field.to_owned(), k);
        k
    }

    fn push(&mut self, field: &str) {
        match self {
            Building::Numbers(v) => {
                if is_missing(field) {
                    v.push(f64::NAN);
                } else if let Some(x) = number(field) {
                    v.push(x);
                } else {
                    // Text: the column is an object column from its first
                    // row; rows read so far are read again as text.
                    let backfill = v.len();
                    let mut b = Building::Text {
                        codes: vec![0; backfill],
                        values: Vec::new(),
                        index: HashMap::new(),
                        missing: None,
                        backfill,
                    };
                    b.push(field);
                    *self = b;
                }
            }
            Building::Text {
                codes,
                values,
                index,
                missing,
                ..
            } => codes.push(Self::text_code(values, index, missing, field)),
        }
    }
}

/// Parses CSV into a table: one row per line (blank lines skipped), fields
/// separated by commas (`"` quoting; no line breaks inside a field). A
/// first line of names only (none empty, none a number) is the header. A
/// field is missing when it is one of pandas' missing markers (empty,
/// `nan`, `NaN`, `NA`, `NULL`, `None`, `N/A`, ...); a column is numeric
/// when all its other fields are numbers (`.` the decimal point), else it
/// is a text column whose fields are kept as written, as pandas'
/// `read_csv` reads it.
pub fn read_frame(text: &str) -> Result<Frame, ArrayFileError> {
    let err = |m: String| Err(ArrayFileError(m));
    let mut names: Option<Vec<String>> = None;
    let mut columns: Vec<Building> = Vec::new();
    let mut width: Option<usize> = None;
    let mut first = true;
    // Where each data row starts, for rows read again.
    let mut starts: Vec<(usize, usize)> = Vec::new();
    let mut offset = 0usize;
    for (lineno, raw) in text.split('\n').enumerate() {
        let at = offset;
        offset += raw.len() + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let n = lineno + 1;
        if line.trim().is_empty() {
            continue;
        }
        if line.contains(';') && !line.contains(',') {
            return err(format!(
                "line {n} is separated by ';': oxlearn reads comma-separated values, with \
                 '.' as the decimal point (pandas: df.to_csv(path, index=False))"
            ));
        }
        let f = fields(line)
            .ok_or_else(|| ArrayFileError(format!("line {n}: a quoted field is not closed")))?;
        if first {
            first = false;
            let header = f
                .iter()
                .all(|x| !x.trim().is_empty() && number(x).is_none());
            if header {
                width = Some(f.len());
                names = Some(f.iter().map(|x| x.to_string()).collect());
                continue;
            }
        }
        match width {
            None => width = Some(f.len()),
            Some(w) if w != f.len() => {
                let earlier = if names.is_some() && starts.is_empty() {
                    "the header has"
                } else {
                    "earlier lines have"
                };
                return err(format!("line {n} has {} values, {earlier} {w}", f.len()));
            }
            _ => {}
        }
        if columns.is_empty() {
            columns = (0..f.len())
                .map(|_| Building::Numbers(Vec::new()))
                .collect();
        }
        for (c, x) in columns.iter_mut().zip(&f) {
            c.push(x);
        }
        starts.push((at, line.len()));
    }
    let rows = starts.len();
    let cols = width.unwrap_or(0);
    let mut out = Vec::with_capacity(cols);
    for (j, c) in columns.into_iter().enumerate() {
        out.push(match c {
            Building::Numbers(v) => Column::Numbers(v),
            Building::Text {
                mut codes,
                mut values,
                mut index,
                mut missing,
                backfill,
            } => {
                // The rows read as numbers, read again as text.
                for (row, &(at, len)) in starts[..backfill].iter().enumerate() {
                    let line = text.get(at..at + len).unwrap_or("");
                    let f = fields(line).unwrap_or_default();
                    let field = f.get(j).map_or("", |x| x.as_ref());
                    codes[row] = Building::text_code(&mut values, &mut index, &mut missing, field);
                }
                Column::Cells(Cells::new(codes, values).map_err(|e| ArrayFileError(e.to_string()))?)
            }
        });
    }
    if out.is_empty() && cols > 0 {
        out = (0..cols).map(|_| Column::Numbers(Vec::new())).collect();
    }
    Ok(Frame {
        rows,
        columns: out,
        names,
        column_major: true,
        labels: None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cell_texts(c: &Column) -> Vec<Option<String>> {
        let Column::Cells(cells) = c else {
            panic!("a text column expected: {c:?}")
        };
        (0..cells.len())
            .map(|i| match cells.get(i).unwrap() {
                Cell::Text(s) => Some(s.clone()),
                Cell::Number(_) => None,
            })
            .collect()
    }

    #[test]
    fn numbers_text_and_missing_as_pandas_reads_them() {
        let f = read_frame("age,city,score\n31,Paris,1.5\n,NA,\n40,\"Lyon, FR\",nan\n").unwrap();
        assert_eq!(
            f.names.as_deref().unwrap(),
            ["age".to_owned(), "city".into(), "score".into()]
        );
        assert_eq!(f.rows, 3);
        let Column::Numbers(age) = &f.columns[0] else {
            panic!()
        };
        assert_eq!(age[0], 31.0);
        assert!(age[1].is_nan());
        assert_eq!(
            cell_texts(&f.columns[1]),
            [Some("Paris".into()), None, Some("Lyon, FR".into())]
        );
        let Column::Numbers(score) = &f.columns[2] else {
            panic!()
        };
        assert!(score[1].is_nan() && score[2].is_nan());
    }

    #[test]
    fn a_column_that_turns_to_text_keeps_earlier_fields_as_written() {
        let f = read_frame("code\n1.50\n\n007\nx7\n").unwrap();
        assert_eq!(
            cell_texts(&f.columns[0]),
            [Some("1.50".into()), Some("007".into()), Some("x7".into())]
        );
        let f = read_frame("a,b\n1,\n2,z\n").unwrap();
        assert_eq!(cell_texts(&f.columns[1]), [None, Some("z".into())]);
    }

    #[test]
    fn hostile_csv_is_refused_with_its_line() {
        let e = |t: &str| read_frame(t).unwrap_err().to_string();
        assert!(e("a,b\n1,2,3\n").contains("line 2 has 3 values, the header has 2"));
        assert!(e("a,b\n1,2\n1\n").contains("line 3 has 1 values, earlier lines have 2"));
        assert!(e("a,\"b\n1,2\n").contains("line 1: a quoted field is not closed"));
        assert!(e("a;b\n1;2\n").contains("separated by ';'"));
        // No header: a first line with a number is data.
        let f = read_frame("1,x\n2,y\n").unwrap();
        assert!(f.names.is_none() && f.rows == 2);
        let f = read_frame("").unwrap();
        assert_eq!((f.rows, f.columns.len()), (0, 0));
        let f = read_frame("a,b\n").unwrap();
        assert_eq!((f.rows, f.columns.len()), (0, 2));
        // Control characters and odd bytes are text, never a panic.
        let f = read_frame("a\n\u{1b}[2J\n\u{0}\n").unwrap();
        assert_eq!(f.rows, 2);
    }

    #[test]
    fn npy_strings_are_text_columns() {
        // np.save(f, np.array([["ab", "c"], ["é", ""]])): '<U2', C order.
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        let mut h = "{'descr': '<U2', 'fortran_order': False, 'shape': (2, 2), }".to_owned();
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        for s in ["ab", "c\0", "\u{e9}\0", "\0\0"] {
            for c in s.chars() {
                b.extend_from_slice(&u32::from(c).to_le_bytes());
            }
        }
        let (f, _) = Frame::from_npy(&b).unwrap();
        assert_eq!(
            cell_texts(&f.columns[0]),
            [Some("ab".into()), Some("\u{e9}".into())]
        );
        assert_eq!(
            cell_texts(&f.columns[1]),
            [Some("c".into()), Some("".into())]
        );
        for len in 0..b.len() {
            let _ = Frame::from_npy(&b[..len]); // never a panic
        }
        let mut bad = b.clone();
        let n = bad.len();
        bad[n - 1] = 0xff; // not a code point
        assert!(Frame::from_npy(&bad).is_err());
    }
}
