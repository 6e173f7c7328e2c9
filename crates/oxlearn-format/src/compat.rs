//! docs/format.md §4 (compatibility rules): what a reader does when its
//! versions differ from the writer's. One function, called on every load.

use crate::error::{FormatError, Result};
use crate::header::{ArrayView, Header, FORMAT_VERSION};
use crate::schema;
use std::fmt;

/// Versions of the reading process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    /// oxlearn's version.
    pub oxlearn_version: String,
    /// scikit-learn's version (empty when there is no Python, e.g. the CLI).
    pub sklearn_version: String,
    /// numpy's version (empty when there is no Python).
    pub numpy_version: String,
    /// Python's version (empty when there is no Python).
    pub python_version: String,
}

impl Runtime {
    /// The runtime of a process with no Python (the `oxlearn` binary).
    pub fn native() -> Self {
        Runtime {
            oxlearn_version: env!("CARGO_PKG_VERSION").to_owned(),
            sklearn_version: String::new(),
            numpy_version: String::new(),
            python_version: String::new(),
        }
    }
}

/// A difference that allows loading but must be reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompatWarning {
    /// Written by another oxlearn version.
    OxlearnVersion {
        /// Writer's version.
        written: String,
        /// Reader's version.
        running: String,
    },
    /// Written under another scikit-learn version.
    SklearnVersion {
        /// Writer's version.
        written: String,
        /// Reader's version.
        running: String,
    },
    /// Written by a newer Python minor version than the reader's.
    PythonMinor {
        /// Writer's version.
        written: String,
        /// Reader's version.
        running: String,
    },
    /// Written under another numpy major version.
    NumpyMajor {
        /// Writer's version.
        written: String,
        /// Reader's version.
        running: String,
    },
}

impl CompatWarning {
    /// Stable identifier of the warning's kind.
    pub fn code(&self) -> &'static str {
        match self {
            CompatWarning::OxlearnVersion { .. } => "oxlearn_version",
            CompatWarning::SklearnVersion { .. } => "sklearn_version",
            CompatWarning::PythonMinor { .. } => "python_minor",
            CompatWarning::NumpyMajor { .. } => "numpy_major",
        }
    }
}

impl fmt::Display for CompatWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompatWarning::OxlearnVersion { written, running } => write!(
                f,
                "this model was saved by oxlearn {written} and is loaded by oxlearn {running}; \
                 predictions may differ. Install oxlearn=={written} to reproduce them exactly, \
                 or re-save the model with this version"
            ),
            CompatWarning::SklearnVersion { written, running } => write!(
                f,
                "this model was saved under scikit-learn {written} and is loaded under \
                 scikit-learn {running}; this may lead to breaking code or invalid results. \
                 Install scikit-learn=={written} or re-fit the model"
            ),
            CompatWarning::PythonMinor { written, running } => write!(
                f,
                "this model was saved by Python {written}, newer than this Python {running}; \
                 load it under Python >= {written} if anything misbehaves"
            ),
            CompatWarning::NumpyMajor { written, running } => write!(
                f,
                "this model was saved under numpy {written} and is loaded under numpy \
                 {running} (another major version); install numpy {} to be safe",
                major(written).map_or_else(|| written.clone(), |m| format!("{m}.*"))
            ),
        }
    }
}

/// A version number: ASCII digits, no sign, no spaces, no leading zero
/// (`u64::from_str` would take `"+1"` and `.trim()` `" 1"`).
fn uint(s: &str) -> Option<u64> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// The major version of a numpy-style version string (`2.4.6`,
/// `2.5.0.dev0+git…`): a number, then a dot and a number-led rest.
fn major(v: &str) -> Option<u64> {
    let (major, rest) = v.split_once('.')?;
    rest.starts_with(|c: char| c.is_ascii_digit())
        .then(|| uint(major))
        .flatten()
}

/// `major.minor` of the format version: exactly two numbers.
fn format_major_minor(v: &str) -> Option<(u64, u64)> {
    let (a, b) = v.split_once('.')?;
    Some((uint(a)?, uint(b)?))
}

/// `major.minor` of a Python version as `platform.python_version()` writes
/// it: `3.11.7`, `3.13.0rc1`, `3.14.0a2`, `3.11.7+`.
fn python_major_minor(v: &str) -> Option<(u64, u64)> {
    let mut it = v.splitn(3, '.');
    let (a, b, c) = (uint(it.next()?)?, uint(it.next()?)?, it.next()?);
    let micro_len = c.bytes().take_while(u8::is_ascii_digit).count();
    uint(&c[..micro_len])?;
    let rest = c[micro_len..].strip_suffix('+').unwrap_or(&c[micro_len..]);
    let letters = rest.bytes().take_while(u8::is_ascii_lowercase).count();
    let serial = &rest[letters..];
    let ok = rest.is_empty() || (letters > 0 && (serial.is_empty() || uint(serial).is_some()));
    ok.then_some((a, b))
}

/// Applies the compatibility table to a header. Errors for what cannot load,
/// warnings (in table order) for what loads but differs. Empty runtime
/// fields (no Python) skip their rows.
pub fn check_compatibility(h: &Header, rt: &Runtime) -> Result<Vec<CompatWarning>> {
    let bad = |field: &str, v: &str| FormatError::InvalidField {
        field: field.into(),
        reason: format!("{v:?} is not a major.minor version"),
    };
    let (wmaj, wmin) = format_major_minor(&h.format_version)
        .ok_or_else(|| bad("format_version", &h.format_version))?;
    let (rmaj, rmin) =
        format_major_minor(FORMAT_VERSION).ok_or_else(|| bad("format_version", FORMAT_VERSION))?;
    if wmaj != rmaj {
        return Err(FormatError::IncompatibleFormat {
            written: h.format_version.clone(),
            supported: FORMAT_VERSION.into(),
            reader: rt.oxlearn_version.clone(),
            writer_oxlearn: h.oxlearn_version.clone(),
        });
    }
    if wmin > rmin {
        return Err(FormatError::TooNew {
            what: "format version".into(),
            written: h.format_version.clone(),
            supported: FORMAT_VERSION.into(),
            reader: rt.oxlearn_version.clone(),
            writer_oxlearn: h.oxlearn_version.clone(),
        });
    }
    if h.array_namespace.is_some() && wmin < 2 {
        return Err(FormatError::InvalidField {
            field: "array_namespace".into(),
            reason: format!(
                "appears in a format {} file; it exists from format 1.2",
                h.format_version
            ),
        });
    }
    if !h.parts.is_empty() && wmin < 3 {
        return Err(FormatError::InvalidField {
            field: "parts".into(),
            reason: format!(
                "appear in a format {} file; composite models exist from format 1.3",
                h.format_version
            ),
        });
    }
    if h.schema_version == 0 {
        return Err(FormatError::InvalidField {
            field: "schema_version".into(),
            reason: "0; schema versions start at 1".into(),
        });
    }
    let s = schema::lookup(&h.kind).ok_or_else(|| FormatError::UnknownKind {
        kind: h.kind.clone(),
        writer: h.oxlearn_version.clone(),
        reader: rt.oxlearn_version.clone(),
        known: schema::known_kinds().join(", "),
    })?;
    if h.schema_version > s.version {
        return Err(FormatError::TooNew {
            what: format!("schema version of {}", h.kind),
            written: h.schema_version.to_string(),
            supported: s.version.to_string(),
            reader: rt.oxlearn_version.clone(),
            writer_oxlearn: h.oxlearn_version.clone(),
        });
    }
    let mut warnings = Vec::new();
    if !rt.python_version.is_empty() {
        let w = python_major_minor(&h.python_version)
            .ok_or_else(|| bad("python_version", &h.python_version))?;
        let r = python_major_minor(&rt.python_version)
            .ok_or_else(|| bad("python_version", &rt.python_version))?;
        if w.0 != r.0 {
            return Err(FormatError::PythonMajor {
                written: h.python_version.clone(),
                running: rt.python_version.clone(),
            });
        }
        if r.1 < w.1 {
            warnings.push(CompatWarning::PythonMinor {
                written: h.python_version.clone(),
                running: rt.python_version.clone(),
            });
        }
    }
    if h.oxlearn_version != rt.oxlearn_version {
        warnings.push(CompatWarning::OxlearnVersion {
            written: h.oxlearn_version.clone(),
            running: rt.oxlearn_version.clone(),
        });
    }
    if !rt.sklearn_version.is_empty() && h.sklearn_version != rt.sklearn_version {
        warnings.push(CompatWarning::SklearnVersion {
            written: h.sklearn_version.clone(),
            running: rt.sklearn_version.clone(),
        });
    }
    if !rt.numpy_version.is_empty() {
        let (w, r) = (major(&h.numpy_version), major(&rt.numpy_version));
        if w.is_none() {
            return Err(bad("numpy_version", &h.numpy_version));
        }
        if w != r {
            warnings.push(CompatWarning::NumpyMajor {
                written: h.numpy_version.clone(),
                running: rt.numpy_version.clone(),
            });
        }
    }
    Ok(warnings)
}

/// The whole load-time check, in the order every reader uses: parse, verify
/// the header checksum (so that any damaged byte reads as corruption), the
/// array digests unless `lazy_digests` (the caller then verifies them before
/// first use, see [`Header::verify_digests`]), apply the compatibility table,
/// then validate the structure (its element-wise checks also deferred when
/// `lazy_digests`: the caller's full verification runs them).
pub fn open_checked(
    raw: &str,
    arrays: &[ArrayView<'_>],
    rt: &Runtime,
    lazy_digests: bool,
) -> Result<(Header, Vec<CompatWarning>)> {
    let h = Header::parse(raw)?;
    h.verify_checksum(raw)?;
    if !lazy_digests {
        h.verify_digests(arrays)?;
    }
    let warnings = check_compatibility(&h, rt)?;
    // Element-wise structure checks go with the digests: deferred together.
    h.verify_structure_with(arrays, !lazy_digests)?;
    Ok((h, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_parsed_strictly() {
        assert_eq!(format_major_minor("1.0"), Some((1, 0)));
        assert_eq!(format_major_minor("12.34"), Some((12, 34)));
        for bad in [
            "1.0.9", "+1.+0", " 1.0", "1.0 ", "1", "1.", ".0", "01.0", "1.-0", "a.b",
        ] {
            assert_eq!(format_major_minor(bad), None, "{bad:?}");
        }
        for ok in ["3.11.7", "3.13.0rc1", "3.14.0a2", "3.11.7+", "3.12.0b"] {
            assert!(python_major_minor(ok).is_some(), "{ok:?}");
        }
        for bad in [
            "3.11",
            "3.11.x",
            "+3.11.7",
            "3. 11.7",
            "3.11.7rc1rc",
            "3.11.7rc01",
            "3.11.7++",
        ] {
            assert_eq!(python_major_minor(bad), None, "{bad:?}");
        }
        assert_eq!(major("2.4.6"), Some(2));
        assert_eq!(major("2.5.0.dev0+git20250101.abc"), Some(2));
        for bad in ["+2.4", "2", "2.x", " 2.4", "02.4"] {
            assert_eq!(major(bad), None, "{bad:?}");
        }
    }
}
