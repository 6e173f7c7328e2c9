//! Errors of the format layer. Each says what was wrong and what to do.

/// Every way a serialized model can be refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormatError {
    /// The header is not valid JSON of the expected structure.
    #[error(
        "model header is unreadable ({0}); the model data is corrupt or was not written by oxlearn"
    )]
    BadHeader(String),
    /// A checksum stored in the header does not match the content.
    #[error("checksum mismatch in the {what}: the header records {stored} but the content hashes to {actual}; the model data is corrupt (modified or truncated after it was written)")]
    ChecksumMismatch {
        /// What was hashed: "header" or an array.
        what: String,
        /// Checksum recorded by the writer.
        stored: String,
        /// Checksum of what was read.
        actual: String,
    },
    /// An array the schema requires is absent.
    #[error("array {name:?} is missing for model kind {kind}; the model data is corrupt")]
    MissingArray {
        /// Model kind.
        kind: String,
        /// Array name.
        name: String,
    },
    /// An array the schema does not know is present.
    #[error("unexpected array {name:?} for model kind {kind}; the model data is corrupt")]
    UnexpectedArray {
        /// Model kind.
        kind: String,
        /// Array name.
        name: String,
    },
    /// The array data disagrees with the manifest in the header.
    #[error("array {name:?}: header says {expected}, data is {got}; the model data is corrupt")]
    ManifestMismatch {
        /// Array name.
        name: String,
        /// What the header records.
        expected: String,
        /// What the data is.
        got: String,
    },
    /// An array has a dtype or shape the schema does not allow.
    #[error("array {name:?} of model kind {kind} is invalid: {reason}; the model data is corrupt")]
    InvalidArray {
        /// Model kind.
        kind: String,
        /// Array name.
        name: String,
        /// What is wrong, with the offending values.
        reason: String,
    },
    /// A header field has a value the schema does not allow.
    #[error("header field {field:?} is invalid: {reason}; the model data is corrupt")]
    InvalidField {
        /// Field name.
        field: String,
        /// What is wrong, with the offending value.
        reason: String,
    },
    /// The model kind is not in this build's closed registry.
    #[error("unknown model kind {kind:?} (written by oxlearn {writer}); this oxlearn {reader} only loads: {known}. Install the oxlearn version that wrote the model")]
    UnknownKind {
        /// Kind named by the model.
        kind: String,
        /// oxlearn version that wrote it.
        writer: String,
        /// This oxlearn's version.
        reader: String,
        /// Kinds this build knows.
        known: String,
    },
    /// The bytes are another format's (a pickle, a joblib or numpy file, an
    /// archive), named by their leading signature.
    #[error(
        "this is not an oxlearn model file (it looks like {0}); oxlearn.load and the \
             oxlearn binary read files written by oxlearn.save. A scikit-learn model in a \
             pickle or joblib file loads with joblib.load; oxlearn.from_sklearn then \
             oxlearn.save converts it"
    )]
    NotAModelFile(String),
    /// A model file's layout (length prefix, padding, offsets) is invalid.
    #[error("invalid model file layout: {0}; the file is corrupt or truncated")]
    BadLayout(String),
    /// The model needs a newer reader (format or schema version).
    #[error("{what} {written} is newer than this oxlearn {reader} reads ({supported}); install oxlearn >= {writer_oxlearn} to load this model")]
    TooNew {
        /// "format version" or "schema version of <kind>".
        what: String,
        /// Version in the model.
        written: String,
        /// Highest version this reader supports.
        supported: String,
        /// This oxlearn's version.
        reader: String,
        /// oxlearn version that wrote the model.
        writer_oxlearn: String,
    },
    /// The model was written by an incompatible major format version.
    #[error("format version {written} is incompatible with this oxlearn {reader} (format {supported}); load it with the oxlearn version that wrote it ({writer_oxlearn}) and convert it")]
    IncompatibleFormat {
        /// Version in the model.
        written: String,
        /// Version this reader implements.
        supported: String,
        /// This oxlearn's version.
        reader: String,
        /// oxlearn version that wrote the model.
        writer_oxlearn: String,
    },
    /// The model was pickled under another Python major version.
    #[error("the model was written by Python {written}, this is Python {running}: Python major versions differ; load it under Python {written}")]
    PythonMajor {
        /// Python version that wrote it.
        written: String,
        /// Python version reading it.
        running: String,
    },
}

impl FormatError {
    /// The same error, located inside a composite model's component at
    /// `path` (e.g. `parts[1] ("scaler")`), so that the message names which
    /// step is wrong.
    pub fn within(self, path: &str) -> FormatError {
        match self {
            FormatError::MissingArray { kind, name } => FormatError::MissingArray {
                kind: format!("{kind} at {path}"),
                name,
            },
            FormatError::UnexpectedArray { kind, name } => FormatError::UnexpectedArray {
                kind: format!("{kind} at {path}"),
                name,
            },
            FormatError::InvalidArray { kind, name, reason } => FormatError::InvalidArray {
                kind: format!("{kind} at {path}"),
                name,
                reason,
            },
            FormatError::InvalidField { field, reason } => FormatError::InvalidField {
                field: format!("{path}.{field}"),
                reason,
            },
            other => other,
        }
    }

    /// Whether the error means the bytes are damaged or forged (as opposed
    /// to intact but incompatible with this reader).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            FormatError::BadHeader(_)
                | FormatError::BadLayout(_)
                | FormatError::NotAModelFile(_)
                | FormatError::ChecksumMismatch { .. }
                | FormatError::MissingArray { .. }
                | FormatError::UnexpectedArray { .. }
                | FormatError::ManifestMismatch { .. }
                | FormatError::InvalidArray { .. }
                | FormatError::InvalidField { .. }
        )
    }
}

/// `Result` with [`FormatError`].
pub type Result<T> = std::result::Result<T, FormatError>;
