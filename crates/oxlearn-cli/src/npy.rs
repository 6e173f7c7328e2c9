//! Reading and writing `.npy` files (float32/float64 read and written;
//! integers and booleans read as float64; 1-D or 2-D) and CSV, treating input
//! as hostile: every length is checked, nothing panics.

use oxlearn_format::Labels;
use std::borrow::Cow;
use std::fmt;

/// A dense matrix read from or written to a file, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum Matrix {
    /// float64 values.
    F64 {
        rows: usize,
        cols: usize,
        data: Vec<f64>,
        one_dim: bool,
    },
    /// float32 values.
    F32 {
        rows: usize,
        cols: usize,
        data: Vec<f32>,
        one_dim: bool,
    },
}

impl Matrix {
    /// Rows (samples).
    pub fn rows(&self) -> usize {
        match self {
            Matrix::F64 { rows, .. } | Matrix::F32 { rows, .. } => *rows,
        }
    }

    /// Columns (features).
    pub fn cols(&self) -> usize {
        match self {
            Matrix::F64 { cols, .. } | Matrix::F32 { cols, .. } => *cols,
        }
    }

    /// Whether any value is NaN.
    pub fn has_nan(&self) -> bool {
        match self {
            Matrix::F64 { data, .. } => data.iter().any(|v| v.is_nan()),
            Matrix::F32 { data, .. } => data.iter().any(|v| v.is_nan()),
        }
    }

    /// The values as float64: borrowed, or float32 converted exactly (as
    /// Python's validation converts them).
    pub fn as_f64(&self) -> std::borrow::Cow<'_, [f64]> {
        match self {
            Matrix::F64 { data, .. } => data.as_slice().into(),
            Matrix::F32 { data, .. } => data.iter().map(|&v| f64::from(v)).collect(),
        }
    }
}

/// `$body` with `$view` the matrix `$m` as a `faer::MatRef` of its own
/// element type: one body for float64 and float32 input (compiled for each)
/// instead of an arm per dtype.
macro_rules! with_view {
    ($m:expr, |$view:ident| $body:expr) => {{
        let m: &$crate::npy::Matrix = $m;
        let (rows, cols) = (m.rows(), m.cols());
        match m {
            $crate::npy::Matrix::F64 { data, .. } => {
                let $view = faer::MatRef::from_row_major_slice(&data[..], rows, cols);
                $body
            }
            $crate::npy::Matrix::F32 { data, .. } => {
                let $view = faer::MatRef::from_row_major_slice(&data[..], rows, cols);
                $body
            }
        }
    }};
}
pub(crate) use with_view;

/// Why an array file could not be read.
#[derive(Debug)]
pub struct ArrayFileError(pub String);

impl fmt::Display for ArrayFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(m: impl Into<String>) -> Result<T, ArrayFileError> {
    Err(ArrayFileError(m.into()))
}

/// Input samples and, when the file has them (a CSV header), their column
/// names.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The samples.
    pub x: Matrix,
    /// Column names from a CSV header.
    pub names: Option<Vec<String>>,
}

#[cfg(test)]
impl Table {
    /// Samples without column names (`.npy`).
    pub fn unnamed(x: Matrix) -> Table {
        Table { x, names: None }
    }
}

/// A `.npy` header, checked: its dtype, order, shape, and where the data
/// starts.
#[derive(Debug, Clone)]
pub struct NpyInfo {
    /// numpy's dtype string, without quotes (`<f8`, `<U3`).
    pub descr: String,
    /// Column after column (2-D arrays only; a 1-D array is never).
    pub fortran: bool,
    /// Rows (the length of a 1-D array).
    pub rows: usize,
    /// Columns (1 for a 1-D array).
    pub cols: usize,
    /// A 1-D array.
    pub one_dim: bool,
    /// Elements: `rows * cols`.
    pub count: usize,
    /// The offset of the data in the file.
    pub data_at: usize,
    /// The shape as the header writes it, for messages.
    pub shape: String,
}

/// Headers longer than this are refused: numpy writes a few hundred bytes,
/// and the streaming reader holds the header in memory.
pub const MAX_NPY_HEADER: usize = 1 << 20;

/// Where a `.npy` header ends (the offset of the data), from the file's
/// first 12 bytes or fewer; `None` when they are too few to tell.
pub fn npy_header_end(prefix: &[u8]) -> Option<usize> {
    let start = match prefix.get(6)? {
        1 => 10,
        _ => 12,
    };
    let hlen = match prefix.get(6)? {
        1 => u16::from_le_bytes([*prefix.get(8)?, *prefix.get(9)?]) as usize,
        _ => {
            let b = prefix.get(8..12)?;
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        }
    };
    Some(start + hlen)
}

/// Parses the preamble and header of a `.npy` file from its first bytes
/// (`prefix` holds at least the header; more is ignored).
pub fn npy_info(prefix: &[u8]) -> Result<NpyInfo, ArrayFileError> {
    let bytes = prefix;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return err("not a .npy file (bad magic)");
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            let b = bytes
                .get(8..12)
                .ok_or_else(|| ArrayFileError("truncated .npy header".into()))?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        v => return err(format!("unsupported .npy version {v}")),
    };
    let header = bytes
        .get(start..start.saturating_add(hlen))
        .ok_or_else(|| ArrayFileError("truncated .npy header".into()))?;
    let header =
        std::str::from_utf8(header).map_err(|_| ArrayFileError("non-UTF-8 .npy header".into()))?;
    let descr = dict_value(header, "descr")
        .ok_or_else(|| ArrayFileError("no descr in .npy header".into()))?;
    let fortran = dict_value(header, "fortran_order")
        .ok_or_else(|| ArrayFileError("no fortran_order".into()))?;
    let shape = dict_value(header, "shape")
        .ok_or_else(|| ArrayFileError("no shape in .npy header".into()))?;
    let fortran = match fortran.trim() {
        "True" => true,
        "False" => false,
        other => return err(format!("bad fortran_order {other}")),
    };
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| ArrayFileError(format!("bad dimension {s:?}")))
        })
        .collect::<Result<_, _>>()?;
    let (rows, cols, one_dim) = match dims[..] {
        [n] => (n, 1, true),
        [n, p] => (n, p, false),
        _ => return err(format!("expected a 1-D or 2-D array, got shape {shape}")),
    };
    let count = rows
        .checked_mul(cols)
        .ok_or_else(|| ArrayFileError("shape overflows".into()))?;
    Ok(NpyInfo {
        descr: descr.trim().trim_matches('\'').to_owned(),
        fortran: fortran && !one_dim,
        rows,
        cols,
        one_dim,
        count,
        data_at: start + hlen,
        shape: shape.to_owned(),
    })
}

/// How a `.npy` file's elements are read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Element {
    /// Numbers: big-endian?, kind (`f`, `i`, `u`, `b`) and item size.
    Number { big: bool, kind: char, item: usize },
    /// numpy unicode strings (`<U{width}`): big-endian?, characters each.
    Text { big: bool, width: usize },
}

impl Element {
    /// The element type of a header's dtype; `None` for a dtype that is
    /// neither (refused with [`element_type`]'s message).
    pub fn of(descr: &str) -> Result<Element, ArrayFileError> {
        if let Some(width) = descr
            .strip_prefix("<U")
            .or_else(|| descr.strip_prefix(">U"))
        {
            let width: usize = width
                .parse()
                .map_err(|_| ArrayFileError(format!("bad string dtype {descr}")))?;
            return Ok(Element::Text {
                big: descr.starts_with('>'),
                width,
            });
        }
        let (big, kind, item) = element_type(descr)?;
        Ok(Element::Number { big, kind, item })
    }

    /// Bytes per element.
    pub fn size(&self) -> Result<usize, ArrayFileError> {
        match *self {
            Element::Number { item, .. } => Ok(item),
            Element::Text { width, .. } => width
                .checked_mul(4)
                .ok_or_else(|| ArrayFileError("string width overflows".into())),
        }
    }
}

/// The data size a header announces, and the message when `have` bytes
/// are not that.
pub fn check_data_len(info: &NpyInfo, item: usize, have: usize) -> Result<(), ArrayFileError> {
    let need = info
        .count
        .checked_mul(item)
        .ok_or_else(|| ArrayFileError("size overflows".into()))?;
    if have != need {
        return err(format!(
            "data is {have} bytes, shape {} needs {need}",
            info.shape
        ));
    }
    Ok(())
}

/// The data of a whole `.npy` file (`item` bytes an element), checked to be
/// the size its header says, row after row (a Fortran-ordered array is
/// reordered).
fn row_major_body<'a>(
    bytes: &'a [u8],
    info: &NpyInfo,
    item: usize,
) -> Result<std::borrow::Cow<'a, [u8]>, ArrayFileError> {
    let body = &bytes[info.data_at..];
    check_data_len(info, item, body.len())?;
    if !info.fortran {
        return Ok(std::borrow::Cow::Borrowed(body));
    }
    let mut out = Vec::with_capacity(body.len());
    for i in 0..info.rows {
        for j in 0..info.cols {
            let at = (j * info.rows + i) * item;
            out.extend_from_slice(&body[at..at + item]);
        }
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Parses `.npy` bytes holding a float32/float64, integer or bool array of 1
/// or 2 dimensions, C or Fortran order, either byte order. A 1-D array is returned as rows×1 with
/// `one_dim = true`.
pub fn read_npy(bytes: &[u8]) -> Result<Matrix, ArrayFileError> {
    let info = npy_info(bytes)?;
    let (big, kind, item) = element_type(&info.descr)?;
    let body = row_major_body(bytes, &info, item)?;
    Ok(decode_numbers(
        (big, kind, item),
        &body,
        info.rows,
        info.cols,
        info.one_dim,
    ))
}

/// The matrix of `rows × cols` numbers stored row after row in `body`
/// (`item` bytes each, as [`element_type`] describes them): float32 stays
/// float32; float64, and integers and booleans as float64 (what Python's
/// validation converts them to).
pub fn decode_numbers(
    (big, kind, item): (bool, char, usize),
    body: &[u8],
    rows: usize,
    cols: usize,
    one_dim: bool,
) -> Matrix {
    let element = |k: usize| -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..item].copy_from_slice(&body[k * item..(k + 1) * item]);
        if big {
            b[..item].reverse();
        }
        b
    };
    let count = rows * cols;
    if kind == 'f' && item == 4 {
        let data = (0..count)
            .map(|k| {
                let b = element(k);
                f32::from_le_bytes([b[0], b[1], b[2], b[3]])
            })
            .collect();
        return Matrix::F32 {
            rows,
            cols,
            data,
            one_dim,
        };
    }
    let data = (0..count)
        .map(|k| {
            let b = element(k);
            match (kind, item) {
                ('f', _) => f64::from_le_bytes(b),
                ('b', _) => f64::from(b[0] != 0),
                ('u', _) => u64::from_le_bytes(b) as f64,
                _ => {
                    // Sign-extend the item's bytes.
                    let shift = 64 - 8 * item as u32;
                    ((i64::from_le_bytes(b) << shift) >> shift) as f64
                }
            }
        })
        .collect();
    Matrix::F64 {
        rows,
        cols,
        data,
        one_dim,
    }
}

/// Whether a `.npy` file holds a 2-D array in Fortran order (what numpy
/// loads it as, which decides the order of row sums in Python).
pub fn npy_fortran(bytes: &[u8]) -> bool {
    npy_info(bytes).is_ok_and(|l| l.fortran)
}

/// A `.npy` array of numpy unicode strings (`<U{n}` or `>U{n}`, 1-D or
/// 2-D, either order): its rows, columns and values, row-major, each
/// without numpy's trailing NUL padding. `Ok(None)` for any other dtype.
pub fn read_npy_strings(
    bytes: &[u8],
) -> Result<Option<(usize, usize, Vec<String>)>, ArrayFileError> {
    let info = npy_info(bytes)?;
    if !(info.descr.starts_with("<U") || info.descr.starts_with(">U")) {
        return Ok(None);
    }
    let element = Element::of(&info.descr)?;
    let item = element.size()?;
    let body = row_major_body(bytes, &info, item)?;
    let values = decode_strings(element, &body, info.count, 0)?;
    Ok(Some((info.rows, info.cols, values)))
}

/// The `n` strings stored one after another in `body` (numpy's
/// fixed-width UTF-32, `n` times the element's size), without their
/// trailing NUL padding; `first` is the index of the first one in the
/// whole array, for messages.
pub fn decode_strings(
    element: Element,
    body: &[u8],
    n: usize,
    first: usize,
) -> Result<Vec<String>, ArrayFileError> {
    let Element::Text { big, .. } = element else {
        return err("not a string array");
    };
    let item = element.size()?;
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        let raw = body
            .get(i * item..(i + 1) * item)
            .ok_or_else(|| ArrayFileError("truncated string data".into()))?;
        let mut s = String::new();
        for c in raw.chunks_exact(4) {
            let b = [c[0], c[1], c[2], c[3]];
            let u = if big {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            };
            s.push(char::from_u32(u).ok_or_else(|| {
                ArrayFileError(format!(
                    "element {} holds {u:#x}, not a Unicode character",
                    first + i
                ))
            })?);
        }
        s.truncate(s.trim_end_matches('\0').len());
        values.push(s);
    }
    Ok(values)
}

/// Why a dtype that is not a number is refused.
pub fn refuse_dtype(descr: &str) -> ArrayFileError {
    ArrayFileError(format!(
        "dtype {descr} is not supported; use float64 or float32 (integers and booleans are \
         read as float64)"
    ))
}

/// Byte order (big-endian?), kind (`f`, `i`, `u`, `b`) and item size of a
/// numpy `descr` that can be read as numbers: float32/64, integers, bool.
fn element_type(descr: &str) -> Result<(bool, char, usize), ArrayFileError> {
    let refuse = || refuse_dtype(descr);
    let mut chars = descr.chars();
    let order = chars.next().ok_or_else(refuse)?;
    let kind = chars.next().ok_or_else(refuse)?;
    let item: usize = chars.as_str().parse().map_err(|_| refuse())?;
    let big = match order {
        '<' | '|' | '=' => false,
        '>' => true,
        _ => return Err(refuse()),
    };
    match (kind, item) {
        ('f', 4 | 8) | ('i' | 'u', 1 | 2 | 4 | 8) | ('b', 1) => Ok((big, kind, item)),
        _ => Err(refuse()),
    }
}

/// The value of `'key':` in a numpy header dict literal (flat, as numpy writes it).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}':"))? + key.len() + 3;
    let rest = &header[at..];
    let end = if rest.trim_start().starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find(',').or_else(|| rest.find('}'))?
    };
    Some(rest[..end].trim())
}

/// The `.npy` (version 1.0) preamble and header for `descr` and `shape`
/// (a Python tuple literal), padded so the data starts 64-byte aligned.
pub fn npy_header(descr: &str, shape: &str) -> Vec<u8> {
    npy_header_padded(descr, shape, 0)
}

/// [`npy_header`], padded with spaces to at least `len` bytes in all (a
/// multiple of 64): what a header written before the row count was known
/// is overwritten with, in place.
pub fn npy_header_padded(descr: &str, shape: &str, len: usize) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 || 10 + header.len() + 1 < len {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

/// numpy's shape literal of `rows` values of `cols` columns: `(n,)` for a
/// one-dimensional array.
pub fn npy_shape(rows: usize, cols: usize, one_dim: bool) -> String {
    if one_dim {
        format!("({rows},)")
    } else {
        format!("({rows}, {cols})")
    }
}

/// The dtype a matrix is written in.
pub fn values_descr(m: &Matrix) -> &'static str {
    match m {
        Matrix::F64 { .. } => "<f8",
        Matrix::F32 { .. } => "<f4",
    }
}

/// Appends a matrix's values, row after row, little-endian.
pub fn write_values_body(m: &Matrix, out: &mut Vec<u8>) {
    match m {
        Matrix::F64 { data, .. } => data
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        Matrix::F32 { data, .. } => data
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
    }
}

/// Serializes a matrix as `.npy` (version 1.0, C order).
pub fn write_npy(m: &Matrix) -> Vec<u8> {
    let one_dim = match m {
        Matrix::F64 { one_dim, .. } | Matrix::F32 { one_dim, .. } => *one_dim,
    };
    let mut out = npy_header(values_descr(m), &npy_shape(m.rows(), m.cols(), one_dim));
    write_values_body(m, &mut out);
    out
}

/// Bytes per element of a numpy integer dtype string (`<i8`, `|u1`, ...).
fn int_size(descr: &str) -> usize {
    descr
        .get(2..)
        .and_then(|n| n.parse().ok())
        .filter(|&n: &usize| matches!(n, 1 | 2 | 4 | 8))
        .unwrap_or(8)
}

/// The characters of the longest string label (at least 1, as numpy's
/// `<U1` for empty strings); 0 for labels that are not strings.
pub fn labels_width(l: &Labels) -> usize {
    match l {
        Labels::Str(values) => values
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0)
            .max(1),
        _ => 0,
    }
}

/// The dtype class labels are written in: integers and floats as stored
/// (object-dtype integers as int64), booleans as `|b1`, strings as numpy's
/// fixed-width `<U{width}`.
pub fn labels_descr(l: &Labels, width: usize) -> String {
    match l {
        Labels::Int { descr, .. } => match int_size(descr) {
            1 => "|i1".into(),
            n => format!("<i{n}"),
        },
        Labels::UInt { descr, .. } => match int_size(descr) {
            1 => "|u1".into(),
            n => format!("<u{n}"),
        },
        Labels::Float { descr, .. } => descr.clone(),
        Labels::Bool(_) => "|b1".into(),
        Labels::Str(_) => format!("<U{width}"),
    }
}

/// Appends class labels in [`labels_descr`]'s dtype; strings padded to
/// `width` characters (UTF-32).
pub fn write_labels_body(l: &Labels, width: usize, out: &mut Vec<u8>) {
    match l {
        Labels::Int { values, descr } => {
            let n = int_size(descr);
            for v in values {
                out.extend_from_slice(&v.to_le_bytes()[..n]);
            }
        }
        Labels::UInt { values, descr } => {
            let n = int_size(descr);
            for v in values {
                out.extend_from_slice(&v.to_le_bytes()[..n]);
            }
        }
        Labels::Float { values, descr } => {
            for &v in values {
                if descr == "<f4" {
                    out.extend_from_slice(&(v as f32).to_le_bytes());
                } else {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        Labels::Bool(values) => out.extend(values.iter().map(|&b| u8::from(b))),
        Labels::Str(values) => {
            for s in values {
                let mut n = 0;
                for c in s.chars() {
                    out.extend_from_slice(&u32::from(c).to_le_bytes());
                    n += 1;
                }
                for _ in n..width {
                    out.extend_from_slice(&[0; 4]);
                }
            }
        }
    }
}

/// The width predicted string labels are written with: the model's longest
/// class (`class_width`), as Python's predict returns them whatever was
/// predicted, or without one the longest label. A label longer than every
/// class is an error (the model cannot predict it).
pub fn labels_width_for(l: &Labels, class_width: Option<usize>) -> Result<usize, String> {
    let own = labels_width(l);
    match class_width {
        Some(w) if own > w => Err("a predicted label is longer than every class label".into()),
        Some(w) => Ok(w),
        None => Ok(own),
    }
}

/// Serializes class labels as a one-dimensional `.npy` in the labels' own
/// dtype ([`labels_descr`]), strings `width` characters wide
/// ([`labels_width_for`]).
pub fn write_labels_npy(l: &Labels, width: usize) -> Vec<u8> {
    let mut out = npy_header(&labels_descr(l, width), &npy_shape(l.len(), 1, true));
    write_labels_body(l, width, &mut out);
    out
}

/// Writes class labels as CSV, one per line: numbers as their shortest
/// exact decimal text, booleans as `True`/`False` (as numpy prints them),
/// strings quoted (RFC 4180) when they contain a comma, a quote, a line
/// break or surrounding spaces, or are empty.
pub fn write_labels_csv(l: &Labels) -> String {
    let lines: Vec<String> = match l {
        Labels::Int { values, .. } => values.iter().map(|v| v.to_string()).collect(),
        Labels::UInt { values, .. } => values.iter().map(|v| v.to_string()).collect(),
        Labels::Float { values, descr } => values
            .iter()
            .map(|&v| {
                if descr == "<f4" {
                    (v as f32).to_string()
                } else {
                    v.to_string()
                }
            })
            .collect(),
        Labels::Bool(values) => values
            .iter()
            .map(|&b| if b { "True" } else { "False" }.to_owned())
            .collect(),
        Labels::Str(values) => values
            .iter()
            .map(|s| {
                let special = s.is_empty() || s.trim() != s || s.contains([',', '"', '\n', '\r']);
                if special {
                    format!("\"{}\"", s.replace('"', "\"\""))
                } else {
                    s.clone()
                }
            })
            .collect(),
    };
    let mut out = String::new();
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

pub(crate) fn number(field: &str) -> Option<f64> {
    field.trim().parse::<f64>().ok()
}

/// The fields of one line: split on commas, with RFC 4180 quoting (`"a,b"`,
/// `""` for a quote inside quotes), into `out` (cleared first, so that one
/// vector serves every line); false when a quote is left open.
pub(crate) fn fields_into<'a>(line: &'a str, out: &mut Vec<Cow<'a, str>>) -> bool {
    out.clear();
    // One pass over the bytes: commas split, a quote switches to the
    // quoting parser. ',' and '"' are ASCII, so every cut is at a
    // character boundary.
    let mut start = 0;
    for (i, &b) in line.as_bytes().iter().enumerate() {
        match b {
            b',' => {
                out.push(Cow::Borrowed(&line[start..i]));
                start = i + 1;
            }
            b'"' => return quoted_fields_into(line, out),
            _ => {}
        }
    }
    out.push(Cow::Borrowed(&line[start..]));
    true
}

fn quoted_fields_into<'a>(line: &'a str, out: &mut Vec<Cow<'a, str>>) -> bool {
    out.clear();
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
        return false;
    }
    out.push(Cow::Owned(field));
    true
}

/// CSV of numbers read line after line (the whole file at once, or in
/// pieces): the header, the width, the rows so far, for messages that
/// depend on them.
#[derive(Debug, Default)]
pub struct CsvNumbers {
    names: Option<Vec<String>>,
    cols: Option<usize>,
    rows: usize,
    started: bool,
}

impl CsvNumbers {
    /// Reads line number `n` (without its `\n`): the header when it is the
    /// first non-blank line and holds names only, else a row whose values
    /// are appended to `data`. Blank lines are skipped.
    pub fn line(
        &mut self,
        line: &str,
        n: usize,
        data: &mut Vec<f64>,
    ) -> Result<(), ArrayFileError> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            return Ok(());
        }
        if line.contains(';') && !line.contains(',') {
            return err(format!(
                "line {n} is separated by ';': oxlearn reads comma-separated values, with \
                 '.' as the decimal point (pandas: df.to_csv(path, index=False))"
            ));
        }
        let mut fields = Vec::new();
        if !fields_into(line, &mut fields) {
            return err(format!("line {n}: a quoted field is not closed"));
        }
        let values: Vec<Option<f64>> = fields.iter().map(|f| number(f)).collect();
        if !self.started {
            self.started = true;
            if values.iter().all(Option::is_none) && fields.iter().all(|f| !f.trim().is_empty()) {
                self.cols = Some(fields.len());
                self.names = Some(fields.iter().map(|f| f.to_string()).collect());
                return Ok(());
            }
        }
        if let Some(j) = values.iter().position(Option::is_none) {
            let header_hint = if self.rows == 0 && self.names.is_none() {
                "; a header must hold column names only, none of them a number"
            } else {
                ""
            };
            return err(format!(
                "line {n}, column {}: {:?} is not a number{header_hint}",
                j + 1,
                fields[j]
            ));
        }
        match self.cols {
            None => self.cols = Some(values.len()),
            Some(c) if c != values.len() => {
                let earlier = if self.names.is_some() && self.rows == 0 {
                    "the header has"
                } else {
                    "earlier lines have"
                };
                return err(format!(
                    "line {n} has {} values, {earlier} {c}",
                    values.len()
                ));
            }
            _ => {}
        }
        data.extend(values.into_iter().flatten());
        self.rows += 1;
        Ok(())
    }

    /// The header's column names, once read.
    pub fn names(&self) -> Option<&[String]> {
        self.names.as_deref()
    }

    /// Values per row (0 before the first non-blank line).
    pub fn cols(&self) -> usize {
        self.cols.unwrap_or(0)
    }
}

/// Parses CSV: one sample per line, comma-separated numbers (`.` the
/// decimal point; `nan` and `inf` as Python spells them); blank lines are
/// skipped. A first line of column names only (none of them a number) is
/// the header; any other line that is not all numbers is an error, with
/// its line and column. Values are float64. (`oxlearn predict` reads a
/// file line after line with [`CsvNumbers`]; this whole-text form is what
/// the tests read.)
#[cfg(test)]
pub fn read_csv(text: &str) -> Result<Table, ArrayFileError> {
    let mut reader = CsvNumbers::default();
    let mut data = Vec::new();
    for (lineno, line) in text.split('\n').enumerate() {
        reader.line(line, lineno + 1, &mut data)?;
    }
    Ok(Table {
        x: Matrix::F64 {
            rows: reader.rows,
            cols: reader.cols(),
            data,
            one_dim: false,
        },
        names: reader.names,
    })
}

/// Writes CSV with the shortest decimal text that reads back to the same
/// value (so a CSV round trip is exact).
pub fn write_csv(m: &Matrix) -> String {
    fn rows<T: fmt::Display>(data: &[T], cols: usize) -> String {
        let mut s = String::new();
        for row in data.chunks(cols.max(1)) {
            let line: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            s.push_str(&line.join(","));
            s.push('\n');
        }
        s
    }
    match m {
        Matrix::F64 { data, cols, .. } => rows(data, *cols),
        Matrix::F32 { data, cols, .. } => rows(data, *cols),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn npy_roundtrip_and_hostile_input() {
        let m = Matrix::F64 {
            rows: 2,
            cols: 3,
            data: vec![1.0, -2.5, 3.0, 0.1, 1e300, -0.0],
            one_dim: false,
        };
        let bytes = write_npy(&m);
        assert_eq!(read_npy(&bytes).unwrap(), m);
        for len in 0..bytes.len() {
            assert!(read_npy(&bytes[..len]).is_err());
        }
        for pos in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[pos] = bad[pos].wrapping_add(1);
            let _ = read_npy(&bad); // must not panic
        }
    }

    #[test]
    fn labels_npy_layout() {
        let l = Labels::Str(vec!["ab".into(), "é".into()]);
        let b = write_labels_npy(&l, labels_width(&l));
        assert_eq!((10 + u16::from_le_bytes([b[8], b[9]]) as usize) % 64, 0);
        assert!(String::from_utf8_lossy(&b[..64]).contains("'descr': '<U2'"));
        let body = &b[b.len() - 16..];
        assert_eq!(&body[..8], &[97, 0, 0, 0, 98, 0, 0, 0]);
        assert_eq!(&body[8..], &[0xe9, 0, 0, 0, 0, 0, 0, 0]);
        // As wide as the classes, when the model's are wider.
        assert!(labels_width_for(&l, Some(1)).is_err());
        let wide = write_labels_npy(&l, labels_width_for(&l, Some(5)).unwrap());
        assert!(String::from_utf8_lossy(&wide[..64]).contains("'descr': '<U5'"));
        assert_eq!(wide.len(), b.len() + 2 * 3 * 4);
        let i = write_labels_npy(
            &Labels::Int {
                values: vec![-2, 300],
                descr: "<i2".into(),
            },
            0,
        );
        assert_eq!(&i[i.len() - 4..], &[0xfe, 0xff, 0x2c, 0x01]);
    }

    #[test]
    fn labels_csv_quotes_when_needed() {
        let l = Labels::Str(vec![
            "a,b".into(),
            "plain".into(),
            "say \"hi\"".into(),
            "".into(),
        ]);
        assert_eq!(
            write_labels_csv(&l),
            "\"a,b\"\nplain\n\"say \"\"hi\"\"\"\n\"\"\n"
        );
        assert_eq!(
            write_labels_csv(&Labels::Bool(vec![true, false])),
            "True\nFalse\n"
        );
        let f = Labels::Float {
            values: vec![0.1, 2.0],
            descr: "<f8".into(),
        };
        assert_eq!(write_labels_csv(&f), "0.1\n2\n");
    }

    #[test]
    fn csv_roundtrip_is_exact() {
        let m = Matrix::F64 {
            rows: 2,
            cols: 2,
            data: vec![0.1 + 0.2, 1.0 / 3.0, -7.0, 5e-324],
            one_dim: false,
        };
        assert_eq!(read_csv(&write_csv(&m)).unwrap(), Table::unnamed(m));
        assert!(read_csv("a,b\n1,2\n3\n").is_err());
        assert_eq!(
            read_csv("a,\"b,c\"\r\n1,2\r\n").unwrap(),
            Table {
                x: Matrix::F64 {
                    rows: 1,
                    cols: 2,
                    data: vec![1.0, 2.0],
                    one_dim: false
                },
                names: Some(vec!["a".into(), "b,c".into()]),
            }
        );
    }

    #[test]
    fn csv_lines_that_are_neither_header_nor_numbers_are_errors() {
        let e = |t: &str| read_csv(t).unwrap_err().to_string();
        // A first line with a number among names is not a header.
        assert!(e("a,1\n1,2\n").contains("line 1, column 1: \"a\" is not a number; a header"));
        assert!(e("1,2\n1,x\n").contains("line 2, column 2: \"x\" is not a number"));
        assert!(e("1,2\n1,\n").contains("line 2, column 2"));
        assert!(e("a;b\n1;2\n").contains("line 1 is separated by ';'"));
        assert!(e("1;5\n").contains("separated by ';'"));
        assert!(e("a,b\n1,2,3\n").contains("line 2 has 3 values, the header has 2"));
        assert!(e("a,\"b\n").contains("not closed"));
        let empty = read_csv("a,b\n\n").unwrap();
        assert_eq!(
            empty.names.as_deref(),
            Some(&["a".to_owned(), "b".to_owned()][..])
        );
        assert_eq!((empty.x.rows(), empty.x.cols()), (0, 2));
        let nan = read_csv("nan,-inf\n").unwrap();
        assert!(nan.names.is_none() && nan.x.rows() == 1);
    }

    #[test]
    fn integer_bool_and_big_endian_npy_are_read_as_numbers() {
        let npy = |descr: &str, shape: &str, body: &[u8]| {
            let mut b = npy_header(descr, shape);
            b.extend_from_slice(body);
            read_npy(&b)
        };
        let i8s: Vec<u8> = [-3i64, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(
            npy("<i8", "(2,)", &i8s).unwrap(),
            Matrix::F64 {
                rows: 2,
                cols: 1,
                data: vec![-3.0, 7.0],
                one_dim: true
            }
        );
        assert_eq!(
            npy("|b1", "(1, 2)", &[1, 0]).unwrap(),
            Matrix::F64 {
                rows: 1,
                cols: 2,
                data: vec![1.0, 0.0],
                one_dim: false
            }
        );
        assert_eq!(
            npy("<i2", "(1, 1)", &(-2i16).to_le_bytes()).unwrap(),
            Matrix::F64 {
                rows: 1,
                cols: 1,
                data: vec![-2.0],
                one_dim: false
            }
        );
        assert_eq!(
            npy(">f8", "(1, 1)", &2.5f64.to_be_bytes()).unwrap(),
            Matrix::F64 {
                rows: 1,
                cols: 1,
                data: vec![2.5],
                one_dim: false
            }
        );
        for bad in ["<c16", "<U3", "|O", "<f2", "<i3", "x"] {
            assert!(npy(bad, "(0,)", &[]).is_err(), "{bad}");
        }
    }
}
