//! The native model file: `u64` little-endian header length, the JSON header
//! padded with spaces to a 64-byte boundary, then the arrays, each at its
//! manifest offset (64-byte aligned) in the data section, gaps zero-filled.
//! See `docs/format.md` §5.3.

use crate::error::{FormatError, Result};
use crate::header::{ArrayView, Header, FILE_ALIGN, MAX_HEADER_BYTES};
use std::io::Write;
use std::ops::Range;

/// Writes a model file. `header_json` must have been sealed with
/// `file_layout = true` for these arrays (their offsets are in it).
pub fn write_file(w: &mut impl Write, header_json: &str, arrays: &[ArrayView<'_>]) -> Result<()> {
    let h = Header::parse(header_json)?;
    let io = |e: std::io::Error| FormatError::BadLayout(format!("write failed: {e}"));
    let padded = (8 + header_json.len() as u64).div_ceil(FILE_ALIGN) * FILE_ALIGN - 8;
    w.write_all(&padded.to_le_bytes()).map_err(io)?;
    w.write_all(header_json.as_bytes()).map_err(io)?;
    w.write_all(&vec![b' '; (padded as usize) - header_json.len()])
        .map_err(io)?;
    let mut pos = 0u64;
    for (e, a) in h.arrays.iter().zip(arrays) {
        let off = e
            .offset
            .ok_or_else(|| FormatError::BadLayout(format!("array {:?} has no offset", e.name)))?;
        if off < pos {
            return Err(FormatError::BadLayout(format!(
                "array {:?} offset {off} goes backwards",
                e.name
            )));
        }
        w.write_all(&vec![0u8; (off - pos) as usize]).map_err(io)?;
        w.write_all(a.data).map_err(io)?;
        pos = off + a.data.len() as u64;
    }
    Ok(())
}

/// A model file split into its parts, borrowing the file's bytes.
#[derive(Debug)]
pub struct ModelFile<'a> {
    /// The header's JSON (without padding).
    pub header_json: &'a str,
    /// The parsed header (not yet verified: see [`crate::open_checked`]).
    pub header: Header,
    bytes: &'a [u8],
    spans: Vec<Range<usize>>,
}

impl<'a> ModelFile<'a> {
    /// The arrays, in manifest order, borrowing the file's bytes.
    pub fn arrays(&self) -> Vec<ArrayView<'_>> {
        self.header
            .arrays
            .iter()
            .zip(&self.spans)
            .map(|(e, r)| ArrayView {
                name: &e.name,
                dtype: e.dtype,
                shape: &e.shape,
                data: &self.bytes[r.clone()],
            })
            .collect()
    }

    /// Each array's byte range in the file (absolute), in manifest order.
    pub fn spans(&self) -> &[Range<usize>] {
        &self.spans
    }
}

/// Splits a model file into header and arrays, checking the layout as if the
/// bytes were hostile: every length and offset is checked before use, padding
/// must be spaces (header) or zeros (data), and the file must end exactly
/// after the last array. Nothing here panics on any input.
pub fn parse_file(bytes: &[u8]) -> Result<ModelFile<'_>> {
    let bad = FormatError::BadLayout;
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            bad(format!(
                "{} bytes is too short for the length prefix",
                bytes.len()
            ))
        })?;
    let n = u64::from_le_bytes(len_bytes);
    if n > MAX_HEADER_BYTES as u64 {
        return Err(bad(format!(
            "header length {n} is over the {MAX_HEADER_BYTES} byte limit"
        )));
    }
    let data_start = 8 + n as usize;
    if data_start as u64 % FILE_ALIGN != 0 {
        return Err(bad(format!(
            "data section starts at {data_start}, not a multiple of {FILE_ALIGN}"
        )));
    }
    let header_bytes = bytes.get(8..data_start).ok_or_else(|| {
        bad(format!(
            "header length {n} runs past the end of the {} byte file",
            bytes.len()
        ))
    })?;
    let end = header_bytes
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(0, |i| i + 1);
    let header_json = std::str::from_utf8(&header_bytes[..end])
        .map_err(|e| FormatError::BadHeader(format!("not UTF-8: {e}")))?;
    let header = Header::parse(header_json)?;
    let data = &bytes[data_start..];
    let mut spans = Vec::with_capacity(header.arrays.len());
    let mut pos = 0usize;
    for e in &header.arrays {
        let off = e
            .offset
            .ok_or_else(|| bad(format!("array {:?} has no offset", e.name)))?;
        let off = usize::try_from(off)
            .map_err(|_| bad(format!("array {:?} offset {off} overflows", e.name)))?;
        if off % FILE_ALIGN as usize != 0 || off < pos {
            return Err(bad(format!(
                "array {:?} offset {off} is unaligned or overlaps the previous array",
                e.name
            )));
        }
        let nbytes = e
            .nbytes()
            .ok_or_else(|| bad(format!("array {:?} shape {:?} overflows", e.name, e.shape)))?;
        let stop = off
            .checked_add(nbytes)
            .ok_or_else(|| bad(format!("array {:?} end overflows", e.name)))?;
        let gap = data.get(pos..off).ok_or_else(|| {
            bad(format!(
                "array {:?} starts past the end of the file",
                e.name
            ))
        })?;
        if gap.iter().any(|&b| b != 0) {
            return Err(bad(format!("non-zero padding before array {:?}", e.name)));
        }
        if stop > data.len() {
            return Err(bad(format!(
                "array {:?} ({nbytes} bytes at {off}) runs past the end of the file",
                e.name
            )));
        }
        spans.push(data_start + off..data_start + stop);
        pos = stop;
    }
    if pos != data.len() {
        return Err(bad(format!(
            "{} trailing bytes after the last array",
            data.len() - pos
        )));
    }
    Ok(ModelFile {
        header_json,
        header,
        bytes,
        spans,
    })
}
