//! The `cluster.DBSCAN` schema: valid models seal and open, forged ones are
//! refused with a message naming the array.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use oxlearn_format::{ArrayView, DType, FormatError, Header};

fn header(dtype: DType, p: u64) -> Header {
    Header {
        dtype: Some(dtype),
        ..common::header("cluster.DBSCAN", p)
    }
}

fn i64s(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i32s(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f64s(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn view<'a>(name: &'a str, dtype: DType, shape: &'a [u64], data: &'a [u8]) -> ArrayView<'a> {
    ArrayView {
        name,
        dtype,
        shape,
        data,
    }
}

/// Labels of 5 samples, two clusters; core samples 0, 1, 3.
struct Dense {
    labels: Vec<u8>,
    core: Vec<u8>,
    comps: Vec<u8>,
}

fn dense(labels: &[i64], core: &[i64]) -> Dense {
    Dense {
        labels: i64s(labels),
        core: i64s(core),
        comps: f64s(&vec![0.5; core.len() * 2]),
    }
}

fn seal_dense(d: &Dense, n: u64, k: u64) -> Result<String, FormatError> {
    let (sn, sk, sc) = ([n], [k], [k, 2]);
    let views = [
        view("labels_", DType::Int64, &sn, &d.labels),
        view("core_sample_indices_", DType::Int64, &sk, &d.core),
        view("components_", DType::Float64, &sc, &d.comps),
    ];
    let json = header(DType::Float64, 2).seal(&views, false)?;
    Header::open(&json, &views).map(|_| json)
}

#[test]
fn dense_model_round_trips() {
    let d = dense(&[0, 0, -1, 1, 1], &[0, 1, 3]);
    seal_dense(&d, 5, 3).unwrap();
    // No core sample: every sample is noise, components_ is (0, p).
    let d = dense(&[-1, -1], &[]);
    seal_dense(&d, 2, 0).unwrap();
}

#[test]
fn forged_dense_models_are_refused() {
    let cases: [(&[i64], &[i64], &str); 5] = [
        (&[0, 7, -1, 1, 1], &[0, 1, 3], "labels_"),
        (&[0, -2, -1, 1, 1], &[0, 1, 3], "labels_"),
        (&[0, 0, -1, 1, 1], &[0, 3, 1], "core_sample_indices_"),
        (&[0, 0, -1, 1, 1], &[0, 1, 9], "core_sample_indices_"),
        (&[0, 0, -1, 1, 1], &[0, 1, 2], "core_sample_indices_"),
    ];
    for (labels, core, name) in cases {
        let d = dense(labels, core);
        let err = seal_dense(&d, 5, 3).unwrap_err();
        assert!(
            matches!(&err, FormatError::InvalidArray { name: n, .. } if n == name),
            "{labels:?} {core:?}: {err}"
        );
    }
    // components_ with the wrong number of rows.
    let d = dense(&[0, 0, -1, 1, 1], &[0, 1, 3]);
    let (sn, sk, sc) = ([5u64], [3u64], [2u64, 2]);
    let views = [
        view("labels_", DType::Int64, &sn, &d.labels),
        view("core_sample_indices_", DType::Int64, &sk, &d.core),
        view("components_", DType::Float64, &sc, &d.comps[..32]),
    ];
    let err = header(DType::Float64, 2).seal(&views, false).unwrap_err();
    assert!(err.to_string().contains("components_"), "{err}");
    // Float labels.
    let fl = f64s(&[0.0, 0.0, -1.0, 1.0, 1.0]);
    let views = [
        view("labels_", DType::Float64, &sn, &fl),
        view("core_sample_indices_", DType::Int64, &sk, &d.core),
        view("components_", DType::Float64, &[3, 2], &d.comps),
    ];
    let err = header(DType::Float64, 2).seal(&views, false).unwrap_err();
    assert!(err.to_string().contains("int64 or int32"), "{err}");
}

#[test]
fn csr_components() {
    let labels = i64s(&[0, 0, -1]);
    let core = i64s(&[0, 1]);
    let data = f64s(&[1.0, 2.0, 3.0]);
    let good_indices = i32s(&[0, 1, 1]);
    let good_indptr = i32s(&[0, 2, 3]);
    let seal = |indices: &[u8], indptr: &[u8], with_dense: bool| {
        let comps = f64s(&[0.0; 4]);
        let mut views = vec![
            view("labels_", DType::Int64, &[3], &labels),
            view("core_sample_indices_", DType::Int64, &[2], &core),
            view("_components_data", DType::Float64, &[3], &data),
            view("_components_indices", DType::Int32, &[3], indices),
            view("_components_indptr", DType::Int32, &[3], indptr),
        ];
        if with_dense {
            views.push(view("components_", DType::Float64, &[2, 2], &comps));
        }
        header(DType::Float64, 2).seal(&views, false)
    };
    seal(&good_indices, &good_indptr, false).unwrap();
    let err = seal(&i32s(&[0, 2, 1]), &good_indptr, false).unwrap_err();
    assert!(err.to_string().contains("_components_indices"), "{err}");
    let err = seal(&good_indices, &i32s(&[0, 3, 2]), false).unwrap_err();
    assert!(err.to_string().contains("_components_indptr"), "{err}");
    let err = seal(&good_indices, &good_indptr, true).unwrap_err();
    assert!(err.to_string().contains("exactly one"), "{err}");
}
