//! Tables with named columns of numbers or strings, read from CSV as pandas
//! reads them: what a pipeline with a `ColumnTransformer`, an encoder or
//! an imputer is given. Input is hostile: every line and field is checked,
//! nothing panics.

use crate::npy::{
    fields_into, npy_fortran, number, read_npy, read_npy_strings, ArrayFileError, Matrix,
};
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
    /// A table of `columns` without names, row-major in Python.
    fn unnamed(rows: usize, columns: Vec<Column>) -> Frame {
        Frame {
            rows,
            columns,
            names: None,
            column_major: false,
            labels: None,
        }
    }

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
        Frame::unnamed(rows, columns)
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
        let frame = Frame::from_texts(rows, cols, &values);
        Ok((
            Frame {
                column_major: fortran,
                ..frame
            },
            None,
        ))
    }

    /// The text columns of `rows × cols` numpy strings given row after row
    /// (numpy strings are never missing). No names, row-major.
    pub fn from_texts(rows: usize, cols: usize, values: &[String]) -> Frame {
        let columns = (0..cols)
            .map(|j| {
                Column::Cells(Cells::from_texts(
                    (0..rows).map(|i| values.get(i * cols + j).map(String::as_str)),
                ))
            })
            .collect();
        Frame::unnamed(rows, columns)
    }
}

/// Fields pandas reads as missing by default (`read_csv`'s `na_values`),
/// compared with the field's text without surrounding spaces.
const MISSING: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

fn is_missing(field: &str) -> bool {
    let t = field.trim();
    // Most fields are neither empty nor short words starting like a
    // marker: decide on the first byte before comparing strings.
    match t.as_bytes().first() {
        None => true,
        Some(b'#' | b'-' | b'1' | b'<' | b'N' | b'n') if t.len() <= 9 => MISSING.contains(&t),
        _ => false,
    }
}

/// Up to this many distinct values, a text field is looked up by comparing
/// it with each (categorical data); beyond, by hashing.
const SCAN_DISTINCT: usize = 16;

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
        // Categorical columns repeat a few values: comparing with each is
        // cheaper than hashing, until there are many.
        if values.len() <= SCAN_DISTINCT {
            let found = values
                .iter()
                .position(|v| matches!(v, Cell::Text(t) if t == field));
            if let Some(k) = found {
                return k as u32;
            }
        } else if let Some(&k) = index.get(field) {
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

/// Bytes of CSV one parallel task parses (a whole number of lines).
/// Fixed, so the result does not depend on the number of threads.
const CHUNK_BYTES: usize = 1 << 20;

/// What is wrong with a line, found by a task that does not know its
/// line number (the caller counts it from the line's byte offset).
enum LineError {
    Semicolon,
    Unclosed,
    Width(usize),
}

/// The columns of one chunk of lines, and where each of its rows starts
/// (byte offset in the text, length), for rows read again as text.
struct Chunk {
    columns: Vec<Building>,
    starts: Vec<(usize, usize)>,
}

/// Parses the lines of `text[from..to]` (whole lines), `width` fields each.
fn parse_chunk(
    text: &str,
    from: usize,
    to: usize,
    width: usize,
) -> Result<Chunk, (usize, LineError)> {
    let body = &text[from..to];
    let lines = body.bytes().filter(|&b| b == b'\n').count() + 1;
    let mut columns: Vec<Building> = (0..width)
        .map(|_| Building::Numbers(Vec::with_capacity(lines)))
        .collect();
    let mut starts = Vec::with_capacity(lines);
    let mut f: Vec<Cow<'_, str>> = Vec::with_capacity(width);
    let mut at = from;
    for raw in body.split('\n') {
        let line_at = at;
        at += raw.len() + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        if !fields_into(line, &mut f) {
            return Err((line_at, LineError::Unclosed));
        }
        if f.len() == 1 && line.contains(';') {
            return Err((line_at, LineError::Semicolon));
        }
        if f.len() != width {
            return Err((line_at, LineError::Width(f.len())));
        }
        for (c, x) in columns.iter_mut().zip(&f) {
            c.push(x);
        }
        starts.push((line_at, line.len()));
    }
    Ok(Chunk { columns, starts })
}

/// One column of one chunk, and where the chunk's rows start.
type ChunkColumn<'a> = (Building, &'a [(usize, usize)]);

/// The `j`-th field of the line at `text[at..at + len]`, as written.
fn field_of<'a>(
    text: &'a str,
    (at, len): (usize, usize),
    j: usize,
    scratch: &mut Vec<Cow<'a, str>>,
) -> Cow<'a, str> {
    let line = text.get(at..at + len).unwrap_or("");
    if !fields_into(line, scratch) {
        return Cow::Borrowed("");
    }
    if j < scratch.len() {
        scratch.swap_remove(j)
    } else {
        Cow::Borrowed("")
    }
}

/// One column from its chunks: numbers, or (`is_text`, the column's kind
/// over the whole file) text, every field as written (rows a chunk read as
/// numbers read again), with one dictionary of distinct values.
fn merge_column(
    text: &str,
    j: usize,
    parts: Vec<(Building, &[(usize, usize)])>,
    is_text: bool,
) -> Result<Column, ArrayFileError> {
    let numbers = parts.iter().all(|(b, _)| matches!(b, Building::Numbers(_)));
    if !is_text && !numbers {
        // The first pass found no text in this column: the file changed.
        return Err(ArrayFileError(
            "the input changed while it was read (a column of numbers now holds text)".into(),
        ));
    }
    if !is_text {
        let total = parts.iter().map(|(_, s)| s.len()).sum();
        let mut v = Vec::with_capacity(total);
        for (b, _) in parts {
            if let Building::Numbers(n) = b {
                v.extend_from_slice(&n);
            }
        }
        return Ok(Column::Numbers(v));
    }
    let mut codes: Vec<u32> = Vec::with_capacity(parts.iter().map(|(_, s)| s.len()).sum());
    let mut values = Vec::new();
    let mut index = HashMap::new();
    let mut missing = None;
    let mut scratch = Vec::new();
    for (b, starts) in parts {
        let (local_codes, local_values, backfill) = match b {
            Building::Numbers(_) => (Vec::new(), Vec::new(), starts.len()),
            Building::Text {
                codes,
                values,
                backfill,
                ..
            } => (codes, values, backfill),
        };
        for &line in &starts[..backfill.min(starts.len())] {
            let field = field_of(text, line, j, &mut scratch);
            codes.push(Building::text_code(
                &mut values,
                &mut index,
                &mut missing,
                &field,
            ));
        }
        // The chunk's own dictionary, mapped into the column's.
        let map: Vec<u32> = local_values
            .iter()
            .map(|v| match v {
                Cell::Text(t) => Building::text_code(&mut values, &mut index, &mut missing, t),
                Cell::Number(_) => Building::text_code(&mut values, &mut index, &mut missing, ""),
            })
            .collect();
        codes.extend(
            local_codes
                .iter()
                .skip(backfill)
                .map(|&k| map.get(k as usize).copied().unwrap_or(0)),
        );
    }
    Cells::new(codes, values)
        .map(Column::Cells)
        .map_err(|e| ArrayFileError(e.to_string()))
}

/// The first non-blank line of a CSV table: its width, and its fields
/// when they are a header (names only: none empty, none a number).
#[derive(Debug, Clone, PartialEq)]
pub struct CsvHead {
    /// Fields per line.
    pub width: usize,
    /// Column names, when the line is a header.
    pub names: Option<Vec<String>>,
}

fn semicolon_message(n: usize) -> String {
    format!(
        "line {n} is separated by ';': oxlearn reads comma-separated values, with '.' as the \
         decimal point (pandas: df.to_csv(path, index=False))"
    )
}

/// Reads the first non-blank `line` (line number `n`): the header, or the
/// first row (which is read again with the rows).
pub fn csv_head(line: &str, n: usize) -> Result<CsvHead, ArrayFileError> {
    let mut f = Vec::new();
    if !fields_into(line, &mut f) {
        return Err(ArrayFileError(format!(
            "line {n}: a quoted field is not closed"
        )));
    }
    let width = f.len();
    if width == 1 && line.contains(';') {
        return Err(ArrayFileError(semicolon_message(n)));
    }
    let header = f
        .iter()
        .all(|x| !x.trim().is_empty() && number(x).is_none());
    let names = header.then(|| f.iter().map(|x| x.to_string()).collect::<Vec<String>>());
    Ok(CsvHead { width, names })
}

/// Whole lines of `text` in pieces of about [`CHUNK_BYTES`], for the
/// parallel parse.
fn pieces(text: &str) -> Vec<(usize, usize)> {
    let mut bounds = Vec::new();
    let mut from = 0;
    while from < text.len() {
        let mut to = (from + CHUNK_BYTES).min(text.len());
        while to < text.len() && text.as_bytes()[to - 1] != b'\n' {
            to += 1;
        }
        bounds.push((from, to));
        from = to;
    }
    bounds
}

/// Parses the rows of `text` (whole lines) in parallel; an error names its
/// line, `first_line` being the number of the text's first line, and says
/// "the header has" when the row at fault is the file's first (`first_rows`:
/// no row came before `text`).
fn parse_rows(
    text: &str,
    head: &CsvHead,
    first_line: usize,
    first_rows: bool,
) -> Result<Vec<Chunk>, ArrayFileError> {
    use rayon::prelude::*;
    let width = head.width;
    let chunks: Vec<Result<Chunk, (usize, LineError)>> = pieces(text)
        .par_iter()
        .map(|&(from, to)| parse_chunk(text, from, to, width))
        .collect();
    let mut parsed = Vec::with_capacity(chunks.len());
    for c in chunks {
        match c {
            Ok(c) => parsed.push(c),
            Err((at, e)) => {
                let n = first_line
                    + text.as_bytes()[..at.min(text.len())]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count();
                return Err(ArrayFileError(match e {
                    LineError::Unclosed => format!("line {n}: a quoted field is not closed"),
                    LineError::Semicolon => semicolon_message(n),
                    LineError::Width(got) => {
                        let first_row = first_rows && at == data_from_row(text, 0);
                        let earlier = if head.names.is_some() && first_row {
                            "the header has"
                        } else {
                            "earlier lines have"
                        };
                        format!("line {n} has {got} values, {earlier} {width}")
                    }
                }));
            }
        }
    }
    Ok(parsed)
}

/// The first pass over a CSV table's rows (whole lines of `text`, as
/// [`parse_rows`] numbers them): checks every line, marks in `is_text` the
/// columns holding a field that is neither a number nor missing, and
/// returns the number of rows.
pub fn scan_rows(
    text: &str,
    head: &CsvHead,
    first_line: usize,
    first_rows: bool,
    is_text: &mut [bool],
) -> Result<usize, ArrayFileError> {
    let parsed = parse_rows(text, head, first_line, first_rows)?;
    for c in &parsed {
        for (t, b) in is_text.iter_mut().zip(&c.columns) {
            *t |= matches!(b, Building::Text { .. });
        }
    }
    Ok(parsed.iter().map(|c| c.starts.len()).sum())
}

/// The table of the rows in `text` (whole lines), each column of the kind
/// `is_text` says (from [`scan_rows`] over the whole file): so that a
/// table read in pieces has the columns the whole file would have, as
/// pandas reads it.
pub fn parse_rows_as(
    text: &str,
    head: &CsvHead,
    first_line: usize,
    first_rows: bool,
    is_text: &[bool],
) -> Result<Frame, ArrayFileError> {
    use rayon::prelude::*;
    let mut parsed = parse_rows(text, head, first_line, first_rows)?;
    let rows = parsed.iter().map(|c| c.starts.len()).sum();
    let starts: Vec<Vec<(usize, usize)>> = parsed
        .iter_mut()
        .map(|c| std::mem::take(&mut c.starts))
        .collect();
    // Column j of every chunk, in chunk order.
    let mut per_column: Vec<Vec<ChunkColumn<'_>>> = (0..head.width).map(|_| Vec::new()).collect();
    for (c, s) in parsed.into_iter().zip(&starts) {
        for (j, b) in c.columns.into_iter().enumerate() {
            per_column[j].push((b, s.as_slice()));
        }
    }
    let columns = per_column
        .into_par_iter()
        .enumerate()
        .map(|(j, parts)| merge_column(text, j, parts, is_text.get(j) == Some(&true)))
        .collect::<Result<Vec<Column>, ArrayFileError>>()?;
    Ok(Frame {
        rows,
        columns,
        names: head.names.clone(),
        column_major: true,
        labels: None,
    })
}

/// Whether a CSV line is blank (skipped, but counted in line numbers).
pub fn blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// Parses CSV into a table: one row per line (blank lines skipped), fields
/// separated by commas (`"` quoting; no line breaks inside a field). A
/// first line of names only (none empty, none a number) is the header. A
/// field is missing when it is one of pandas' missing markers (empty,
/// `nan`, `NaN`, `NA`, `NULL`, `None`, `N/A`, ...); a column is numeric
/// when all its other fields are numbers (`.` the decimal point), else it
/// is a text column whose fields are kept as written, as pandas'
/// `read_csv` reads it. Lines are parsed in parallel, in fixed chunks.
/// `oxlearn predict` reads a file in pieces with the same functions:
/// [`csv_head`], then [`scan_rows`] over every piece, then
/// [`parse_rows_as`]; this whole-text form is what the tests read.
#[cfg(test)]
pub fn read_frame(text: &str) -> Result<Frame, ArrayFileError> {
    // The first line that is not blank: the header, or the first row.
    let mut at = 0;
    let mut lineno = 1;
    let mut first: Option<(usize, &str, usize)> = None;
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if !blank(line) {
            first = Some((at, line, raw.len()));
            break;
        }
        at += raw.len() + 1;
        lineno += 1;
    }
    let Some((first_at, first_line, raw_len)) = first else {
        return Ok(Frame {
            rows: 0,
            columns: Vec::new(),
            names: None,
            column_major: true,
            labels: None,
        });
    };
    let head = csv_head(first_line, lineno)?;
    let (data_from, data_line) = if head.names.is_some() {
        ((first_at + raw_len + 1).min(text.len()), lineno + 1)
    } else {
        (first_at, lineno)
    };
    let rows = &text[data_from..];
    let mut is_text = vec![false; head.width];
    scan_rows(rows, &head, data_line, true, &mut is_text)?;
    parse_rows_as(rows, &head, data_line, true, &is_text)
}

/// The offset of the first non-blank line at or after `from`.
fn data_from_row(text: &str, from: usize) -> usize {
    let mut at = from;
    for raw in text[from.min(text.len())..].split('\n') {
        if !raw.trim().is_empty() {
            return at;
        }
        at += raw.len() + 1;
    }
    at
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
    fn chunks_read_as_one_table() {
        // Over a megabyte: several chunks. Column b turns to text in the
        // last chunk only; column c is text from the first row.
        let n = 120_000;
        let mut csv = String::from("a,b,c\n");
        for i in 0..n {
            let b = if i == n - 1 {
                "x".to_owned()
            } else {
                format!("{i}.50")
            };
            let c = if i % 3 == 0 { "" } else { "cat" };
            csv.push_str(&format!("{i},{b},{c}\n"));
        }
        assert!(csv.len() > 2 * CHUNK_BYTES);
        let f = read_frame(&csv).unwrap();
        assert_eq!(f.rows, n);
        let Column::Numbers(a) = &f.columns[0] else {
            panic!()
        };
        assert_eq!((a[0], a[n - 1]), (0.0, (n - 1) as f64));
        let b = cell_texts(&f.columns[1]);
        assert_eq!(b[0].as_deref(), Some("0.50"));
        assert_eq!(b[77_777].as_deref(), Some("77777.50"));
        assert_eq!(b[n - 1].as_deref(), Some("x"));
        let c = cell_texts(&f.columns[2]);
        assert_eq!((c[0].as_deref(), c[1].as_deref()), (None, Some("cat")));
        assert_eq!(c[n - 2].as_deref(), Some("cat"));
        // An error in a later chunk names its line.
        let bad = csv.replacen("100000,100000.50,cat\n", "100000,100000.50\n", 1);
        let e = read_frame(&bad).unwrap_err().to_string();
        assert_eq!(e, "line 100002 has 2 values, earlier lines have 3");
    }

    #[test]
    fn npy_strings_are_text_columns() {
        // np.save(f, np.array([["ab", "c"], ["é", ""]])): '<U2', C order.
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        let mut h = "{'descr': '<U2', 'fortran_order': False, 'shape': (2, 2), }".to_owned();
        while !(10 + h.len() + 1).is_multiple_of(64) {
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
