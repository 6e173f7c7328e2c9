//! The native model file: `u64` little-endian header length, the JSON header
//! padded with spaces to a 64-byte boundary, then the arrays, each at its
//! manifest offset (64-byte aligned) in the data section, gaps zero-filled.
//! See `docs/format.md` §5.3.

use crate::error::{FormatError, Result};
use crate::header::{ArrayView, Header, FILE_ALIGN, MAX_HEADER_BYTES};
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// Why a model could not be saved: the model (its header or arrays) or the
/// disk.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The header or the arrays do not form a valid model.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Writing, syncing or renaming failed (full disk, permissions, ...).
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

/// Writes a model file. `header_json` must have been sealed with
/// `file_layout = true` for these arrays (their offsets are in it).
/// Validation errors come before any byte is written.
pub fn write_file(
    w: &mut impl Write,
    header_json: &str,
    arrays: &[ArrayView<'_>],
) -> std::result::Result<(), WriteError> {
    let h = Header::parse(header_json)?;
    let padded = (8 + header_json.len() as u64).div_ceil(FILE_ALIGN) * FILE_ALIGN - 8;
    if h.arrays.len() != arrays.len() {
        return Err(FormatError::BadLayout(format!(
            "the header lists {} arrays, {} were given",
            h.arrays.len(),
            arrays.len()
        ))
        .into());
    }
    let mut pos = 0u64;
    for (e, a) in h.arrays.iter().zip(arrays) {
        let off = e
            .offset
            .ok_or_else(|| FormatError::BadLayout(format!("array {:?} has no offset", e.name)))?;
        if off < pos {
            return Err(FormatError::BadLayout(format!(
                "array {:?} offset {off} overlaps the previous array",
                e.name
            ))
            .into());
        }
        pos = off.saturating_add(a.data.len() as u64);
    }
    w.write_all(&padded.to_le_bytes())?;
    w.write_all(header_json.as_bytes())?;
    w.write_all(&vec![b' '; (padded as usize) - header_json.len()])?;
    let mut pos = 0u64;
    for (e, a) in h.arrays.iter().zip(arrays) {
        let off = e.offset.unwrap_or(pos);
        // Streamed: a forged offset must not allocate its gap.
        std::io::copy(&mut std::io::repeat(0).take(off - pos), w)?;
        w.write_all(a.data)?;
        pos = off + a.data.len() as u64;
    }
    Ok(())
}

/// [`write_file`]'s failure: the model, or the writer.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The header does not describe a model file.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The writer failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The suffix of the temporary files [`save_file`] writes next to the
/// target, named `<file name>.<16 hex digits>.oxl-partial`. One left
/// behind is a save that was killed before it finished: delete it.
pub const PARTIAL_SUFFIX: &str = ".oxl-partial";

/// Saves a model file at `path` atomically: the bytes go to a new,
/// uniquely named temporary file in the same directory (created with
/// `O_CREAT | O_EXCL`, so never through an existing file or symbolic
/// link), which is flushed to disk and then renamed over `path`, and the
/// directory is synced. Readers see the old file or the complete new one,
/// never a mix; concurrent saves never write to the same temporary file;
/// on any failure the temporary file is removed and `path` is untouched.
pub fn save_file(
    path: &Path,
    header_json: &str,
    arrays: &[ArrayView<'_>],
) -> std::result::Result<(), SaveError> {
    // Refuse an invalid model before creating anything on disk.
    Header::parse(header_json)?;
    let io = |source: std::io::Error| SaveError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ))
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tmp, file) = create_unique(&dir, name).map_err(io)?;
    let result = (|| {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        write_file(&mut w, header_json, arrays).map_err(|e| match e {
            WriteError::Format(f) => SaveError::Format(f),
            WriteError::Io(e) => io(e),
        })?;
        let file = w.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(io)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable once the directory entry is.
    sync_dir(&dir).map_err(io)
}

/// Creates `<dir>/<name>.<unique>.oxl-partial` exclusively.
fn create_unique(dir: &Path, name: &OsStr) -> std::io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut last = None;
    for _ in 0..16 {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = format!(
            "{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let tag = xxhash_rust::xxh3::xxh3_64(seed.as_bytes());
        let mut file_name = name.to_os_string();
        file_name.push(format!(".{tag:016x}{PARTIAL_SUFFIX}"));
        let tmp = dir.join(file_name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no unique temporary name")))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
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

/// The format of bytes that are not a model file, by their leading
/// signature: pickles and joblib's compressed files (what scikit-learn
/// models are usually saved as), numpy files, archives. Only bytes whose
/// length prefix is impossible for a model file (over
/// [`MAX_HEADER_BYTES`], or not ending the header on the data alignment)
/// are named, so an intact model file is never taken for another format.
fn foreign_format(bytes: &[u8]) -> Option<&'static str> {
    let prefix = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    if prefix <= MAX_HEADER_BYTES as u64 && (prefix + 8) % FILE_ALIGN == 0 {
        return None;
    }
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"\x80\x02", "a pickle/joblib file"),
        (b"\x80\x03", "a pickle/joblib file"),
        (b"\x80\x04", "a pickle/joblib file"),
        (b"\x80\x05", "a pickle/joblib file"),
        (b"\x78\x01", "a zlib-compressed joblib file"),
        (b"\x78\x5e", "a zlib-compressed joblib file"),
        (b"\x78\x9c", "a zlib-compressed joblib file"),
        (b"\x78\xda", "a zlib-compressed joblib file"),
        (b"\x1f\x8b", "a gzip-compressed (joblib) file"),
        (b"BZh", "a bz2-compressed (joblib) file"),
        (b"\xfd7zXZ\x00", "an xz-compressed (joblib) file"),
        (b"\x04\x22\x4d\x18", "an lz4-compressed (joblib) file"),
        (b"\x93NUMPY", "a numpy .npy file"),
        (b"PK\x03\x04", "a zip archive (.npz, skops, ...)"),
        (b"\x89HDF", "an HDF5 file"),
    ];
    SIGNATURES
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|&(_, name)| name)
}

/// Splits a model file into header and arrays, checking the layout as if the
/// bytes were hostile: every length and offset is checked before use, padding
/// must be spaces (header) or zeros (data), and the file must end exactly
/// after the last array. Nothing here panics on any input.
pub fn parse_file(bytes: &[u8]) -> Result<ModelFile<'_>> {
    let bad = FormatError::BadLayout;
    if let Some(format) = foreign_format(bytes) {
        return Err(FormatError::NotAModelFile(format.into()));
    }
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
    if !(data_start as u64).is_multiple_of(FILE_ALIGN) {
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
