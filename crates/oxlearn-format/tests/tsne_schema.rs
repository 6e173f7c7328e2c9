//! The `manifold.TSNE` schema: valid models seal and open, forged ones are
//! refused with a message naming the array or attribute.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use oxlearn_format::{ArrayView, DType, FormatError, Header};
use serde_json::{json, Value};

fn header(dtype: DType, attrs: Value, params: Value) -> Header {
    Header {
        dtype: Some(dtype),
        params: params.as_object().cloned().unwrap_or_default(),
        attrs: attrs.as_object().cloned().unwrap_or_default(),
        ..common::header("manifold.TSNE", 4)
    }
}

fn attrs() -> Value {
    json!({"kl_divergence_": 0.75, "n_iter_": 999, "learning_rate_": 50.0})
}

fn seal(h: Header, dtype: DType, shape: &[u64]) -> Result<String, FormatError> {
    let n: u64 = shape.iter().product();
    let data = vec![0u8; (n as usize) * dtype.itemsize()];
    let views = [ArrayView {
        name: "embedding_",
        dtype,
        shape,
        data: &data,
    }];
    let json = h.seal(&views, false)?;
    Header::open(&json, &views).map(|_| json)
}

fn refused(h: Header, dtype: DType, shape: &[u64], what: &str) {
    let err = seal(h, dtype, shape).unwrap_err().to_string();
    assert!(err.contains(what), "{err}");
}

#[test]
fn valid_models_round_trip() {
    let params = json!({"n_components": 2});
    seal(
        header(DType::Float32, attrs(), params.clone()),
        DType::Float32,
        &[50, 2],
    )
    .unwrap();
    seal(
        header(DType::Float64, attrs(), json!({})),
        DType::Float64,
        &[1, 5],
    )
    .unwrap();
    // scikit-learn's float maximum (max_iter = 250), and a NaN error: reported only.
    let mut a = attrs();
    a["kl_divergence_"] = json!(f64::MAX);
    seal(
        header(DType::Float32, a.clone(), params.clone()),
        DType::Float32,
        &[5, 2],
    )
    .unwrap();
    a["kl_divergence_"] = json!({"__float__": "nan"});
    seal(header(DType::Float32, a, params), DType::Float32, &[5, 2]).unwrap();
}

#[test]
fn forged_models_are_refused() {
    let params = json!({"n_components": 2});
    let h = || header(DType::Float32, attrs(), params.clone());
    refused(h(), DType::Float64, &[5, 2], "dtype is float64");
    refused(h(), DType::Float32, &[5, 3], "shape is [5, 3]");
    refused(h(), DType::Float32, &[10], "shape is [10]");
    refused(h(), DType::Float32, &[0, 2], "embeds at least one sample");
    refused(
        header(DType::Int64, attrs(), params.clone()),
        DType::Int64,
        &[5, 2],
        "float32 or float64",
    );
    for (key, value, what) in [
        ("n_iter_", json!(-1), "attrs.n_iter_"),
        ("n_iter_", json!(2.5), "attrs.n_iter_"),
        ("learning_rate_", json!(0.0), "attrs.learning_rate_"),
        (
            "learning_rate_",
            json!({"__float__": "inf"}),
            "attrs.learning_rate_",
        ),
        ("kl_divergence_", json!("low"), "attrs.kl_divergence_"),
    ] {
        let mut a = attrs();
        a[key] = value;
        refused(
            header(DType::Float32, a, params.clone()),
            DType::Float32,
            &[5, 2],
            what,
        );
    }
    let mut a = attrs();
    a.as_object_mut().unwrap().remove("n_iter_");
    refused(
        header(DType::Float32, a, params.clone()),
        DType::Float32,
        &[5, 2],
        "attrs.n_iter_",
    );
    let mut a = attrs();
    a["labels_"] = json!(1);
    refused(
        header(DType::Float32, a, params),
        DType::Float32,
        &[5, 2],
        "unknown attribute",
    );
}
