//! Reading and writing `.npy` files (float32/float64, 1-D or 2-D), treating
//! input as hostile: every length is checked, nothing panics.

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
    /// int32 values (cluster labels); written, never read.
    I32 {
        rows: usize,
        cols: usize,
        data: Vec<i32>,
        one_dim: bool,
    },
}

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

/// Parses `.npy` bytes holding a little-endian float32/float64 array of 1 or
/// 2 dimensions, C or Fortran order. A 1-D array is returned as rows×1 with
/// `one_dim = true`.
pub fn read_npy(bytes: &[u8]) -> Result<Matrix, ArrayFileError> {
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
    let body = &bytes[start + hlen..];
    let descr = descr.trim().trim_matches('\'');
    let item = match descr {
        "<f8" => 8,
        "<f4" => 4,
        other => {
            return err(format!(
                "dtype {other} is not supported; use little-endian float64 or float32"
            ))
        }
    };
    if body.len()
        != count
            .checked_mul(item)
            .ok_or_else(|| ArrayFileError("size overflows".into()))?
    {
        return err(format!(
            "data is {} bytes, shape {shape} needs {}",
            body.len(),
            count * item
        ));
    }
    // Fortran order holds column after column; reorder to row-major.
    let index = |k: usize| {
        if fortran && !one_dim {
            (k % cols) * rows + k / cols
        } else {
            k
        }
    };
    Ok(if item == 8 {
        let vals: Vec<f64> = body
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        Matrix::F64 {
            rows,
            cols,
            data: (0..count).map(|k| vals[index(k)]).collect(),
            one_dim,
        }
    } else {
        let vals: Vec<f32> = body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4])))
            .collect();
        Matrix::F32 {
            rows,
            cols,
            data: (0..count).map(|k| vals[index(k)]).collect(),
            one_dim,
        }
    })
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

/// Serializes a matrix as `.npy` (version 1.0, C order).
pub fn write_npy(m: &Matrix) -> Vec<u8> {
    let (descr, rows, cols, one_dim) = match m {
        Matrix::F64 {
            rows,
            cols,
            one_dim,
            ..
        } => ("<f8", *rows, *cols, *one_dim),
        Matrix::F32 {
            rows,
            cols,
            one_dim,
            ..
        } => ("<f4", *rows, *cols, *one_dim),
        Matrix::I32 {
            rows,
            cols,
            one_dim,
            ..
        } => ("<i4", *rows, *cols, *one_dim),
    };
    let shape = if one_dim {
        format!("({rows},)")
    } else {
        format!("({rows}, {cols})")
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    match m {
        Matrix::F64 { data, .. } => data
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        Matrix::F32 { data, .. } => data
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        Matrix::I32 { data, .. } => data
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
    }
    out
}

/// Parses CSV: one sample per line, comma-separated numbers. A first line
/// that is not numeric is taken as a header and skipped; blank lines are
/// skipped. Values are float64.
pub fn read_csv(text: &str) -> Result<Matrix, ArrayFileError> {
    let mut data = Vec::new();
    let mut cols = None;
    let mut rows = 0;
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed: Result<Vec<f64>, _> =
            line.split(',').map(|v| v.trim().parse::<f64>()).collect();
        let values = match parsed {
            Ok(v) => v,
            Err(_) if lineno == 0 => continue,
            Err(e) => return err(format!("line {}: {e} in {line:?}", lineno + 1)),
        };
        match cols {
            None => cols = Some(values.len()),
            Some(c) if c != values.len() => {
                return err(format!(
                    "line {} has {} values, earlier lines {c}",
                    lineno + 1,
                    values.len()
                ))
            }
            _ => {}
        }
        data.extend(values);
        rows += 1;
    }
    Ok(Matrix::F64 {
        rows,
        cols: cols.unwrap_or(0),
        data,
        one_dim: false,
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
        Matrix::I32 { data, cols, .. } => rows(data, *cols),
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
    fn int_labels_write_as_npy_and_csv() {
        let m = Matrix::I32 {
            rows: 3,
            cols: 1,
            data: vec![2, 0, -1],
            one_dim: true,
        };
        let bytes = write_npy(&m);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("'descr': '<i4'") && text.contains("'shape': (3,)"));
        assert_eq!(
            &bytes[bytes.len() - 12..],
            &[2, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255]
        );
        assert_eq!((bytes.len()) % 64, 12);
        assert_eq!(write_csv(&m), "2\n0\n-1\n");
    }

    #[test]
    fn csv_roundtrip_is_exact() {
        let m = Matrix::F64 {
            rows: 2,
            cols: 2,
            data: vec![0.1 + 0.2, 1.0 / 3.0, -7.0, 5e-324],
            one_dim: false,
        };
        assert_eq!(read_csv(&write_csv(&m)).unwrap(), m);
        assert!(read_csv("a,b\n1,2\n3\n").is_err());
        assert_eq!(
            read_csv("a,b\n1,2\n").unwrap(),
            Matrix::F64 {
                rows: 1,
                cols: 2,
                data: vec![1.0, 2.0],
                one_dim: false
            }
        );
    }
}
