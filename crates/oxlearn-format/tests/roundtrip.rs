//! Sealing, opening and refusing serialized models.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use oxlearn_format::{
    check_compatibility, open_checked, parse_file, write_file, ArrayView, CompatWarning, DType,
    FormatError, Header, Runtime,
};
use proptest::prelude::*;

fn header(kind: &str) -> Header {
    common::header(kind, 3)
}

fn le(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

struct Model {
    coef: Vec<u8>,
    intercept: Vec<u8>,
}

impl Model {
    fn new() -> Self {
        Model {
            coef: le(&[1.0, 2.0, 3.0]),
            intercept: le(&[0.5]),
        }
    }
    fn views(&self) -> Vec<ArrayView<'_>> {
        vec![
            ArrayView {
                name: "coef_",
                dtype: DType::Float64,
                shape: &[3],
                data: &self.coef,
            },
            ArrayView {
                name: "intercept_",
                dtype: DType::Float64,
                shape: &[],
                data: &self.intercept,
            },
        ]
    }
}

#[test]
fn seal_then_open_and_deterministic() {
    let m = Model::new();
    let json = header("linear_model.LinearRegression")
        .seal(&m.views(), false)
        .unwrap();
    let again = header("linear_model.LinearRegression")
        .seal(&m.views(), false)
        .unwrap();
    assert_eq!(json, again);
    let h = Header::open(&json, &m.views()).unwrap();
    assert_eq!(h.n_features_in, Some(3));
    assert!(h.checksum.starts_with("xxh3-64:"));
}

#[test]
fn any_flipped_data_byte_is_detected() {
    let m = Model::new();
    let json = header("linear_model.LinearRegression")
        .seal(&m.views(), false)
        .unwrap();
    for i in 0..m.coef.len() {
        let mut bad = Model::new();
        bad.coef[i] ^= 0x01;
        let err = Header::open(&json, &bad.views()).unwrap_err();
        assert!(
            matches!(err, FormatError::ChecksumMismatch { ref what, .. } if what == "array \"coef_\""),
            "{err}"
        );
        assert!(err.is_corruption());
    }
}

#[test]
fn wrong_shape_even_with_recomputed_checksum_is_refused() {
    let coef = le(&[1.0, 2.0]);
    let intercept = le(&[0.5]);
    let views = [
        ArrayView {
            name: "coef_",
            dtype: DType::Float64,
            shape: &[2],
            data: &coef,
        },
        ArrayView {
            name: "intercept_",
            dtype: DType::Float64,
            shape: &[],
            data: &intercept,
        },
    ];
    let err = header("linear_model.LinearRegression")
        .seal(&views, false)
        .unwrap_err();
    assert!(matches!(err, FormatError::InvalidArray { .. }), "{err}");
}

#[test]
fn unknown_kind_is_refused() {
    let m = Model::new();
    let err = header("os.system").seal(&m.views(), false).unwrap_err();
    assert!(matches!(err, FormatError::UnknownKind { .. }));
    assert!(!err.is_corruption());
}

#[test]
fn unexpected_and_missing_arrays() {
    let m = Model::new();
    let mut views = m.views();
    views.pop();
    assert!(matches!(
        header("linear_model.LinearRegression")
            .seal(&views, false)
            .unwrap_err(),
        FormatError::MissingArray { .. }
    ));
    let extra = le(&[1.0]);
    let mut views = m.views();
    views.push(ArrayView {
        name: "payload",
        dtype: DType::Float64,
        shape: &[1],
        data: &extra,
    });
    assert!(matches!(
        header("linear_model.LinearRegression")
            .seal(&views, false)
            .unwrap_err(),
        FormatError::UnexpectedArray { .. }
    ));
}

#[test]
fn kmeans_labels_and_attrs_are_validated() {
    let centers = le(&[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    let seal = |labels: &[i32], inertia: serde_json::Value, n_iter: serde_json::Value| {
        let lab: Vec<u8> = labels.iter().flat_map(|v| v.to_le_bytes()).collect();
        let shape = [labels.len() as u64];
        let views = [
            ArrayView {
                name: "cluster_centers_",
                dtype: DType::Float64,
                shape: &[2, 3],
                data: &centers,
            },
            ArrayView {
                name: "labels_",
                dtype: DType::Int32,
                shape: &shape,
                data: &lab,
            },
        ];
        let mut h = header("cluster.KMeans");
        h.attrs.insert("inertia_".into(), inertia);
        h.attrs.insert("n_iter_".into(), n_iter);
        h.seal(&views, false)
    };
    assert!(seal(&[0, 1, 1], 2.5.into(), 3.into()).is_ok());
    for bad in [[0, 2, 1], [0, -1, 1]] {
        let err = seal(&bad, 2.5.into(), 3.into()).unwrap_err();
        assert!(err.to_string().contains("labels_[1]"), "{err}");
    }
    let err = seal(&[0, 1], (-1.0).into(), 3.into()).unwrap_err();
    assert!(err.to_string().contains("inertia_"), "{err}");
    let err = seal(&[0, 1], 1.0.into(), 0.into()).unwrap_err();
    assert!(err.to_string().contains("n_iter_"), "{err}");
}

#[test]
fn compatibility_table() {
    let rt = Runtime {
        oxlearn_version: env!("CARGO_PKG_VERSION").into(),
        sklearn_version: "1.9.1".into(),
        numpy_version: "2.4.6".into(),
        python_version: "3.11.7".into(),
    };
    let base = header("linear_model.LinearRegression");
    assert_eq!(check_compatibility(&base, &rt).unwrap(), vec![]);
    let forge = |f: &dyn Fn(&mut Header)| {
        let mut h = base.clone();
        f(&mut h);
        check_compatibility(&h, &rt)
    };
    assert!(matches!(
        forge(&|h| h.format_version = "2.0".into()),
        Err(FormatError::IncompatibleFormat { .. })
    ));
    assert!(matches!(
        forge(&|h| h.format_version = "1.9".into()),
        Err(FormatError::TooNew { .. })
    ));
    assert!(matches!(
        forge(&|h| h.schema_version = 99),
        Err(FormatError::TooNew { .. })
    ));
    assert!(matches!(
        forge(&|h| h.python_version = "4.0.0".into()),
        Err(FormatError::PythonMajor { .. })
    ));
    let w = forge(&|h| h.python_version = "3.13.0".into()).unwrap();
    assert!(matches!(w[..], [CompatWarning::PythonMinor { .. }]));
    assert_eq!(
        forge(&|h| h.python_version = "3.10.0".into()).unwrap(),
        vec![]
    );
    let w = forge(&|h| h.oxlearn_version = "0.0.1".into()).unwrap();
    assert!(
        w[0].to_string().contains("0.0.1") && w[0].to_string().contains(env!("CARGO_PKG_VERSION"))
    );
    assert!(matches!(
        forge(&|h| h.sklearn_version = "1.8.0".into()).unwrap()[..],
        [CompatWarning::SklearnVersion { .. }]
    ));
    assert!(matches!(
        forge(&|h| h.numpy_version = "1.26.4".into()).unwrap()[..],
        [CompatWarning::NumpyMajor { .. }]
    ));
    assert_eq!(
        forge(&|h| h.numpy_version = "2.0.0".into()).unwrap(),
        vec![]
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]
    /// Mutated headers never panic the reader and never open.
    #[test]
    fn mutated_header_never_panics(pos in 0usize..4096, byte in any::<u8>()) {
        let m = Model::new();
        let json = header("linear_model.LinearRegression").seal(&m.views(), false).unwrap();
        let mut bytes = json.clone().into_bytes();
        let pos = pos % bytes.len();
        prop_assume!(bytes[pos] != byte);
        bytes[pos] = byte;
        if let Ok(s) = String::from_utf8(bytes) {
            // Every changed byte is caught, even one that parses to the same header.
            prop_assert!(Header::open(&s, &m.views()).is_err());
        }
    }
}

fn runtime() -> Runtime {
    Runtime {
        oxlearn_version: env!("CARGO_PKG_VERSION").into(),
        sklearn_version: "1.9.1".into(),
        numpy_version: "2.4.6".into(),
        python_version: "3.11.7".into(),
    }
}

fn model_file() -> Vec<u8> {
    let m = Model::new();
    let json = header("linear_model.LinearRegression")
        .seal(&m.views(), true)
        .unwrap();
    let mut out = Vec::new();
    write_file(&mut out, &json, &m.views()).unwrap();
    out
}

fn load(bytes: &[u8]) -> Result<Header, FormatError> {
    let f = parse_file(bytes)?;
    open_checked(f.header_json, &f.arrays(), &runtime(), false).map(|(h, _)| h)
}

#[test]
fn file_roundtrip_aligned_and_deterministic() {
    let bytes = model_file();
    assert_eq!(bytes, model_file());
    let f = parse_file(&bytes).unwrap();
    for span in f.spans() {
        assert_eq!(span.start % 64, 0);
    }
    let arrays = f.arrays();
    assert_eq!(arrays[0].data, Model::new().coef.as_slice());
    assert_eq!(load(&bytes).unwrap().kind, "linear_model.LinearRegression");
}

#[test]
fn every_flipped_file_byte_is_refused() {
    let bytes = model_file();
    for pos in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = bytes.clone();
            bad[pos] ^= bit;
            let err = load(&bad).unwrap_err();
            assert!(err.is_corruption(), "byte {pos} bit {bit:#x}: {err}");
        }
    }
}

#[test]
fn other_formats_are_named() {
    // A joblib dump of a scikit-learn model starts as a pickle (protocol 4)
    // or with its compressor's signature; npy and zip files have their own.
    let mut pickle = vec![0x80, 0x04, 0x95, 0x5a, 0x03, 0x00, 0x00, 0x00];
    pickle.extend_from_slice(b"\x00\x00\x00\x8c\x1esklearn.linear_model._base");
    let cases: [(&[u8], &str); 5] = [
        (&pickle, "a pickle/joblib file"),
        (
            b"\x78\x9c\xed\x5b\x6b\x6c\x1c\xc7\x99",
            "zlib-compressed joblib",
        ),
        (b"\x1f\x8b\x08\x00\xa1\xb2\xc3\xd4\x02\xff", "gzip"),
        (b"\x93NUMPY\x01\x00v\x00{'descr'", "numpy .npy"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "zip archive"),
    ];
    for (bytes, name) in cases {
        let err = parse_file(bytes).map(|_| ()).unwrap_err();
        assert!(matches!(err, FormatError::NotAModelFile(_)), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("this is not an oxlearn model file (it looks like ")
                && text.contains(name),
            "{text}"
        );
        assert!(err.is_corruption());
    }
    // A model file with a flipped bit in its length prefix is corrupt, not
    // another format.
    let bytes = model_file();
    for pos in 0..8 {
        for bit in 0..8 {
            let mut bad = bytes.clone();
            bad[pos] ^= 1 << bit;
            let e = load(&bad).unwrap_err();
            assert!(
                !matches!(e, FormatError::NotAModelFile(_)),
                "{pos} {bit}: {e}"
            );
        }
    }
}

#[test]
fn truncated_and_extended_files_are_refused() {
    let bytes = model_file();
    for len in 0..bytes.len() {
        assert!(load(&bytes[..len]).is_err(), "truncated to {len}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(load(&longer), Err(FormatError::BadLayout(_))));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]
    /// Random edits of a model file (overwrites, insertions, truncations)
    /// never panic the reader and never load.
    #[test]
    fn mutated_files_never_panic_or_load(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6)
    ) {
        let mut bytes = model_file();
        let original = bytes.clone();
        for (pos, byte, op) in edits {
            let pos = pos % (bytes.len() + 1);
            match op {
                0 if pos < bytes.len() => bytes[pos] = byte,
                1 => bytes.insert(pos, byte),
                _ => bytes.truncate(pos),
            }
        }
        prop_assume!(bytes != original);
        prop_assert!(load(&bytes).is_err());
    }
}

/// Where a model's arrays live: a host model on `cpu`; an array API model
/// names an importable module and a device. Anything else is refused by
/// writer and reader alike, before any loader imports a name from a file.
#[test]
fn device_and_array_namespace_are_validated() {
    let m = Model::new();
    let seal = |f: &dyn Fn(&mut Header)| {
        let mut h = header("linear_model.LinearRegression");
        f(&mut h);
        h.seal(&m.views(), false)
    };
    let json = seal(&|h| {
        h.array_namespace = Some("array_api_strict".into());
        h.device = "device1".into();
    })
    .unwrap();
    assert!(json.contains(r#""device":"device1","array_namespace":"array_api_strict","fitted""#));
    let h = Header::open(&json, &m.views()).unwrap();
    assert_eq!(h.array_namespace.as_deref(), Some("array_api_strict"));
    // A host model's header has no array_namespace member at all.
    assert!(!seal(&|_| {}).unwrap().contains("array_namespace"));
    for (ns, device, field) in [
        (None, "cuda:0", "device"),
        (Some("torch"), "", "device"),
        (Some("torch"), "cuda:0\n", "device"),
        (Some("torch"), &*"d".repeat(65), "device"),
        (Some("numpy"), "cpu", "array_namespace"),
        (Some("os;rm"), "cpu", "array_namespace"),
        (Some("../torch"), "cpu", "array_namespace"),
        (Some("jax..numpy"), "cpu", "array_namespace"),
        (Some("1torch"), "cpu", "array_namespace"),
        (Some(""), "cpu", "array_namespace"),
    ] {
        let err = seal(&|h| {
            h.array_namespace = ns.map(Into::into);
            h.device = device.into();
        })
        .unwrap_err();
        assert!(
            matches!(&err, FormatError::InvalidField { field: f, .. } if f == field),
            "{ns:?} {device:?}: {err}"
        );
    }
    assert!(seal(&|h| {
        h.array_namespace = Some("jax.numpy".into());
        h.device = "cuda:0".into();
    })
    .is_ok());
    // array_namespace exists from format 1.2: a 1.1 file naming one is forged.
    let mut h = header("linear_model.LinearRegression");
    h.array_namespace = Some("torch".into());
    h.device = "cpu".into();
    h.format_version = "1.1".into();
    let err = check_compatibility(&h, &runtime()).unwrap_err();
    assert!(err.to_string().contains("format 1.2"), "{err}");
}
