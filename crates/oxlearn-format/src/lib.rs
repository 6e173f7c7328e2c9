//! The one serialized form of every fitted oxlearn model.
//!
//! A model is **metadata (a JSON header) + named arrays**. Everything that
//! persists a model (the pickle state, joblib, the native file, the `oxlearn`
//! binary) goes through this crate, so version rules, checksums and structural
//! validation live in one place. See `docs/format.md`
//! (the specification) and `docs/saving-and-serving.md`.
//!
//! The reader treats its input as hostile: every failure is a typed
//! [`FormatError`], never a panic.

// The reader's safety rests on checked offsets, never on unsafe code.
#![forbid(unsafe_code)]
// Tests may unwrap: a panic there is a test failure with a backtrace.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod compat;
pub mod error;
pub mod file;
pub mod forge;
pub mod header;
pub mod labels;
pub mod schema;
pub mod value;

pub use compat::{check_compatibility, open_checked, CompatWarning, Runtime};
pub use error::{FormatError, Result};
pub use file::{
    parse_file, save_file, write_file, ModelFile, SaveError, WriteError, PARTIAL_SUFFIX,
};
pub use header::{
    checksum_of, digest_of, part_arrays, ArrayEntry, ArrayView, DType, Header, Part, FORMAT_VERSION,
};
pub use labels::Labels;
pub use value::{check_values, MAX_HEADER_VALUES};
