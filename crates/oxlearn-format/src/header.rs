//! The header (JSON metadata) and the array manifest, sealing with a
//! checksum and opening with verification.

use crate::error::{FormatError, Result};
use crate::schema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use xxhash_rust::xxh3::Xxh3;

/// The format version this build writes and reads (major.minor).
pub const FORMAT_VERSION: &str = "1.3";

/// Largest accepted header, in bytes of JSON.
pub const MAX_HEADER_BYTES: usize = 64 << 20;
/// Largest accepted number of arrays in one model.
pub const MAX_ARRAYS: usize = 4096;
/// Longest accepted `array_namespace` or `device` name, in bytes.
pub const MAX_PLACEMENT_LEN: usize = 64;
/// Largest accepted number of dimensions of one array.
pub const MAX_NDIM: usize = 8;

/// How a header with a blanked checksum ends (`checksum` is its last field).
const BLANK_TAIL: &str = "\"checksum\":\"\"}";

/// `xxh3-64:<hex>` of a header's bytes (length-prefixed), where `header` is
/// the JSON as written with the checksum value blanked. The header carries
/// every array's digest, so this one value covers the whole model.
pub fn checksum_of(header: &str) -> String {
    let mut h = Xxh3::new();
    h.update(&(header.len() as u64).to_le_bytes());
    h.update(header.as_bytes());
    format!("xxh3-64:{:016x}", h.digest())
}

/// The digest of one array's bytes, as recorded in its manifest entry.
pub fn digest_of(data: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(data))
}

/// Alignment of every array in a model file, in bytes.
pub const FILE_ALIGN: u64 = 64;

/// Element types an array may have. Always little-endian, C order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// IEEE binary32.
    Float32,
    /// IEEE binary64.
    Float64,
    /// Signed 32-bit integer.
    Int32,
    /// Signed 64-bit integer.
    Int64,
    /// Unsigned byte.
    Uint8,
    /// One byte, 0 or 1.
    Bool,
}

impl DType {
    /// Every dtype the format stores arrays in.
    pub const ALL: [DType; 6] = [
        DType::Float32,
        DType::Float64,
        DType::Int32,
        DType::Int64,
        DType::Uint8,
        DType::Bool,
    ];

    /// Bytes per element.
    pub fn itemsize(self) -> usize {
        match self {
            DType::Float64 | DType::Int64 => 8,
            DType::Float32 | DType::Int32 => 4,
            DType::Uint8 | DType::Bool => 1,
        }
    }

    /// The dtype's name, as numpy spells it.
    pub fn name(self) -> &'static str {
        match self {
            DType::Float32 => "float32",
            DType::Float64 => "float64",
            DType::Int32 => "int32",
            DType::Int64 => "int64",
            DType::Uint8 => "uint8",
            DType::Bool => "bool",
        }
    }

    /// Parses a numpy dtype name.
    pub fn parse(name: &str) -> Option<DType> {
        Some(match name {
            "float32" => DType::Float32,
            "float64" => DType::Float64,
            "int32" => DType::Int32,
            "int64" => DType::Int64,
            "uint8" => DType::Uint8,
            "bool" => DType::Bool,
            _ => return None,
        })
    }
}

/// One array in the manifest: name, element type and shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrayEntry {
    /// Attribute name (e.g. `coef_`).
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Shape, C order; `[]` is a scalar.
    pub shape: Vec<u64>,
    /// XXH3-64 of the array's bytes, 16 lowercase hex digits.
    pub xxh3: String,
    /// Byte offset of the array in a model file's data section (files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

impl ArrayEntry {
    /// Number of bytes the array's data must have, with checked arithmetic.
    pub fn nbytes(&self) -> Option<usize> {
        let mut n: usize = self.dtype.itemsize();
        for &d in &self.shape {
            n = n.checked_mul(usize::try_from(d).ok()?)?;
        }
        Some(n)
    }
}

/// A borrowed array: its manifest entry and its little-endian C-order bytes.
#[derive(Debug, Clone, Copy)]
pub struct ArrayView<'a> {
    /// Attribute name.
    pub name: &'a str,
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub shape: &'a [u64],
    /// Raw bytes.
    pub data: &'a [u8],
}

/// Everything a serialized model carries (docs/format.md §1.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// `major.minor` of the serialized form.
    pub format_version: String,
    /// Model kind, e.g. `linear_model.LinearRegression` (closed registry).
    pub kind: String,
    /// Version of the kind's schema.
    pub schema_version: u32,
    /// oxlearn version that wrote the model.
    pub oxlearn_version: String,
    /// scikit-learn version that wrote the model.
    pub sklearn_version: String,
    /// numpy version that wrote the model.
    pub numpy_version: String,
    /// Python version that wrote the model (`major.minor.micro`).
    pub python_version: String,
    /// Where the fitted arrays live once loaded: `cpu` for a host (numpy)
    /// model, including one fitted on a GPU; for an array API model, the
    /// device of [`Header::array_namespace`] as that library names it.
    pub device: String,
    /// The array API namespace of the fitted attributes (format 1.2; e.g.
    /// `torch`, `array_api_strict`); absent for host (numpy) models. The
    /// arrays themselves are always stored as host bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_namespace: Option<String>,
    /// Whether the estimator was fitted (unfitted estimators carry params only).
    pub fitted: bool,
    /// Dtype of the fitted floating-point attributes.
    #[serde(default)]
    pub dtype: Option<DType>,
    /// `n_features_in_`.
    #[serde(default)]
    pub n_features_in: Option<u64>,
    /// `feature_names_in_`, when the model was fitted on named columns.
    #[serde(default)]
    pub feature_names_in: Option<Vec<String>>,
    /// The estimator's constructor parameters.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Scalar fitted attributes (e.g. `rank_`).
    #[serde(default)]
    pub attrs: Map<String, Value>,
    /// The components of a composite model (format 1.3): a pipeline's
    /// steps, a column transformer's transformers, in order. Their arrays
    /// are in this header's manifest, named `<index>/<name>` (nested parts:
    /// `<index>/<index>/<name>`). Absent for other models.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
    /// Array manifest, in storage order.
    #[serde(default)]
    pub arrays: Vec<ArrayEntry>,
    /// `xxh3-64:<16 hex digits>` over the header's JSON bytes as written,
    /// with this value blanked (it is always the last field). The manifest
    /// holds each array's digest, so this covers the whole model.
    #[serde(default)]
    pub checksum: String,
}

/// One component of a composite model (a pipeline step, a column
/// transformer's transformer): the model fields of a [`Header`], without
/// the versions, placement and manifest, which the enclosing header holds
/// for every part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// The step's or transformer's name in its composite (`standardscaler`).
    pub name: String,
    /// Model kind (closed registry), as [`Header::kind`].
    pub kind: String,
    /// Version of the kind's schema.
    pub schema_version: u32,
    /// Whether the component is fitted.
    pub fitted: bool,
    /// Dtype of its fitted floating-point attributes.
    #[serde(default)]
    pub dtype: Option<DType>,
    /// Its `n_features_in_`.
    #[serde(default)]
    pub n_features_in: Option<u64>,
    /// Its `feature_names_in_`.
    #[serde(default)]
    pub feature_names_in: Option<Vec<String>>,
    /// Its constructor parameters (nested estimators excepted: they are parts).
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Its scalar fitted attributes.
    #[serde(default)]
    pub attrs: Map<String, Value>,
    /// Its own components, when it is a composite too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

/// The arrays of part `index` among `arrays` (a composite's), under their
/// names inside the part: `3/scale_` is part 3's `scale_`.
pub fn part_arrays<'a>(arrays: &[ArrayView<'a>], index: usize) -> Vec<ArrayView<'a>> {
    let prefix = format!("{index}/");
    arrays
        .iter()
        .filter_map(|a| {
            a.name.strip_prefix(prefix.as_str()).map(|name| ArrayView {
                name,
                dtype: a.dtype,
                shape: a.shape,
                data: a.data,
            })
        })
        .collect()
}

impl Header {
    /// Part `index` as a header of its own (the enclosing header's versions
    /// and placement; its manifest entries renamed as in [`part_arrays`];
    /// no checksum): what validators and servers of single models take.
    pub fn part(&self, index: usize) -> Option<Header> {
        let p = self.parts.get(index)?;
        let prefix = format!("{index}/");
        Some(Header {
            format_version: self.format_version.clone(),
            kind: p.kind.clone(),
            schema_version: p.schema_version,
            oxlearn_version: self.oxlearn_version.clone(),
            sklearn_version: self.sklearn_version.clone(),
            numpy_version: self.numpy_version.clone(),
            python_version: self.python_version.clone(),
            device: self.device.clone(),
            array_namespace: self.array_namespace.clone(),
            fitted: p.fitted,
            dtype: p.dtype,
            n_features_in: p.n_features_in,
            feature_names_in: p.feature_names_in.clone(),
            params: p.params.clone(),
            attrs: p.attrs.clone(),
            parts: p.parts.clone(),
            arrays: self
                .arrays
                .iter()
                .filter_map(|e| {
                    e.name.strip_prefix(prefix.as_str()).map(|name| ArrayEntry {
                        name: name.to_owned(),
                        ..e.clone()
                    })
                })
                .collect(),
            checksum: String::new(),
        })
    }

    /// Parses a header, with the size cap, without any verification.
    pub fn parse(json: &str) -> Result<Header> {
        if json.len() > MAX_HEADER_BYTES {
            return Err(FormatError::BadHeader(format!(
                "{} bytes is over the {} byte limit",
                json.len(),
                MAX_HEADER_BYTES
            )));
        }
        // Parsing costs tens of bytes per value however short its text:
        // count them first, without allocating.
        let values = crate::value::count_values(json);
        if values > crate::value::MAX_HEADER_VALUES {
            return Err(FormatError::BadHeader(format!(
                "{values} JSON values is over the limit of {}",
                crate::value::MAX_HEADER_VALUES
            )));
        }
        serde_json::from_str(json).map_err(|e| FormatError::BadHeader(e.to_string()))
    }

    /// Checks `device` and `array_namespace`: a host model is on `cpu`; an
    /// array API model names its library as a dotted Python module name and
    /// its device in at most [`MAX_PLACEMENT_LEN`] printable ASCII
    /// characters. Loaders import that module by name, so nothing else
    /// (paths, spaces, control characters) may reach them.
    pub fn check_placement(&self) -> Result<()> {
        let bad = |field: &str, reason: String| FormatError::InvalidField {
            field: field.into(),
            reason,
        };
        match &self.array_namespace {
            None if self.device != "cpu" => Err(bad(
                "device",
                format!(
                    "{:?}; a host model's device is \"cpu\" (only array API models, \
                     with array_namespace, name another)",
                    self.device
                ),
            )),
            None => Ok(()),
            Some(ns) => {
                let ident = |part: &str| {
                    part.bytes()
                        .next()
                        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                        && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                };
                if ns.len() > MAX_PLACEMENT_LEN || !ns.split('.').all(ident) || ns == "numpy" {
                    return Err(bad(
                        "array_namespace",
                        format!(
                            "{ns:?} is not an array library's module name (dotted \
                             identifiers, at most {MAX_PLACEMENT_LEN} bytes, not numpy)"
                        ),
                    ));
                }
                let d = &self.device;
                if d.is_empty()
                    || d.len() > MAX_PLACEMENT_LEN
                    || !d.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
                {
                    return Err(bad(
                        "device",
                        format!(
                            "{d:?} is not a device name (1 to {MAX_PLACEMENT_LEN} \
                             printable ASCII characters)"
                        ),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The canonical JSON of this header: fixed field order, no whitespace.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| FormatError::BadHeader(e.to_string()))
    }

    /// Sets the manifest from `arrays` (with each array's digest, and file
    /// offsets when `file_layout`), validates everything against the kind's
    /// schema, computes the checksum and returns the header's JSON: canonical
    /// (fixed field order, no whitespace), `checksum` last.
    pub fn seal(mut self, arrays: &[ArrayView<'_>], file_layout: bool) -> Result<String> {
        let mut offset = 0u64;
        self.arrays = Vec::with_capacity(arrays.len());
        for a in arrays {
            let entry_offset = file_layout.then_some(offset);
            offset = offset
                .checked_add((a.data.len() as u64).div_ceil(FILE_ALIGN) * FILE_ALIGN)
                .ok_or_else(|| FormatError::BadHeader("model larger than 2^64 bytes".into()))?;
            self.arrays.push(ArrayEntry {
                name: a.name.to_owned(),
                dtype: a.dtype,
                shape: a.shape.to_vec(),
                xxh3: digest_of(a.data),
                offset: entry_offset,
            });
        }
        self.check_manifest(arrays)?;
        schema::validate(&self, arrays)?;
        self.checksum = String::new();
        let blank = self.to_json()?;
        let checksum = checksum_of(&blank);
        let body = blank
            .strip_suffix(BLANK_TAIL)
            .ok_or_else(|| FormatError::BadHeader("checksum is not the last field".into()))?;
        Ok(format!("{body}\"checksum\":\"{checksum}\"}}"))
    }

    /// Parses and fully verifies a header against its arrays (checksum,
    /// digests, manifest, schema), without the compatibility table; see
    /// [`crate::open_checked`] for the whole load-time check.
    pub fn open(json: &str, arrays: &[ArrayView<'_>]) -> Result<Header> {
        let h = Header::parse(json)?;
        h.verify_checksum(json)?;
        h.verify_digests(arrays)?;
        h.verify_structure(arrays)?;
        Ok(h)
    }

    /// Verifies the header checksum over `raw` (this header's exact JSON
    /// bytes, with the checksum value blanked). Any changed byte of the
    /// header fails here, whatever it changed; since the header records each
    /// array's digest, [`Header::verify_digests`] then covers the data.
    /// Costs O(header), whatever the size of the arrays.
    pub fn verify_checksum(&self, raw: &str) -> Result<()> {
        let tail = format!("\"checksum\":\"{}\"}}", self.checksum);
        let actual = match raw.strip_suffix(tail.as_str()) {
            Some(body) => checksum_of(&format!("{body}{BLANK_TAIL}")),
            None => "(checksum is not the header's last field)".into(),
        };
        if actual != self.checksum {
            return Err(FormatError::ChecksumMismatch {
                what: "header".into(),
                stored: self.checksum.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Verifies each array's bytes against the digest in the manifest.
    /// Arrays are matched by position; call after the header checksum.
    pub fn verify_digests(&self, arrays: &[ArrayView<'_>]) -> Result<()> {
        for (e, a) in self.arrays.iter().zip(arrays) {
            let actual = digest_of(a.data);
            if actual != e.xxh3 {
                return Err(FormatError::ChecksumMismatch {
                    what: format!("array {:?}", e.name),
                    stored: e.xxh3.clone(),
                    actual,
                });
            }
        }
        Ok(())
    }

    /// Verifies the manifest against the arrays, then the kind's schema.
    pub fn verify_structure(&self, arrays: &[ArrayView<'_>]) -> Result<()> {
        self.verify_structure_with(arrays, true)
    }

    /// [`Header::verify_structure`]; `deep = false` defers the checks that
    /// read every element (see [`schema::Arrays::deep`]) to a later full
    /// verification, as lazily verified digests are.
    pub fn verify_structure_with(&self, arrays: &[ArrayView<'_>], deep: bool) -> Result<()> {
        self.check_manifest(arrays)?;
        schema::validate_with(self, arrays, deep)
    }

    fn check_manifest(&self, arrays: &[ArrayView<'_>]) -> Result<()> {
        if self.arrays.len() > MAX_ARRAYS {
            return Err(FormatError::InvalidField {
                field: "arrays".into(),
                reason: format!(
                    "{} arrays is over the limit of {MAX_ARRAYS}",
                    self.arrays.len()
                ),
            });
        }
        if self.arrays.len() != arrays.len() {
            return Err(FormatError::ManifestMismatch {
                name: "*".into(),
                expected: format!("{} arrays", self.arrays.len()),
                got: format!("{} arrays", arrays.len()),
            });
        }
        for (i, e) in self.arrays.iter().enumerate() {
            if self.arrays[..i].iter().any(|o| o.name == e.name) {
                return Err(FormatError::InvalidField {
                    field: "arrays".into(),
                    reason: format!("array {:?} is listed twice", e.name),
                });
            }
            let a = &arrays[i];
            if a.name != e.name || a.dtype != e.dtype || a.shape != e.shape.as_slice() {
                return Err(FormatError::ManifestMismatch {
                    name: e.name.clone(),
                    expected: format!("{} {} {:?}", e.name, e.dtype.name(), e.shape),
                    got: format!("{} {} {:?}", a.name, a.dtype.name(), a.shape),
                });
            }
            if e.shape.len() > MAX_NDIM {
                return Err(FormatError::InvalidField {
                    field: "arrays".into(),
                    reason: format!(
                        "array {:?} has {} dimensions, over the limit of {MAX_NDIM}",
                        e.name,
                        e.shape.len()
                    ),
                });
            }
            let nbytes = e.nbytes().ok_or_else(|| FormatError::InvalidField {
                field: "arrays".into(),
                reason: format!("array {:?} shape {:?} overflows", e.name, e.shape),
            })?;
            if nbytes != a.data.len() {
                return Err(FormatError::ManifestMismatch {
                    name: e.name.clone(),
                    expected: format!("{nbytes} bytes"),
                    got: format!("{} bytes", a.data.len()),
                });
            }
        }
        Ok(())
    }
}
