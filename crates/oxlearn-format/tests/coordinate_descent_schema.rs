//! The `linear_model.ElasticNet` and `linear_model.Lasso` schemas: one target
//! (scalar `dual_gap_`, integer `n_iter_`) and several (one of each per
//! target) seal and open; other shapes are refused, naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use oxlearn_format::{ArrayView, DType, FormatError, Header};
use serde_json::{json, Value};

fn header(kind: &str, p: u64, n_iter: Value) -> Header {
    let mut h = common::header(kind, p);
    h.attrs.insert("n_iter_".into(), n_iter);
    h
}

fn f64s(n: u64) -> Vec<u8> {
    (0..n).flat_map(|i| (i as f64).to_le_bytes()).collect()
}

/// Seals and opens a model with `t` targets (0: a 1-D `coef_`) of 3
/// features, `dual_gap_` of shape `gap_shape`.
fn seal(kind: &str, t: u64, gap_shape: &[u64], n_iter: Value) -> Result<(), FormatError> {
    let coef_shape: Vec<u64> = if t == 0 { vec![3] } else { vec![t, 3] };
    let icpt_shape: Vec<u64> = if t == 0 { vec![] } else { vec![t] };
    let (coef, icpt) = (f64s(3 * t.max(1)), f64s(t.max(1)));
    let gap = f64s(gap_shape.iter().product());
    let views = [
        ArrayView {
            name: "coef_",
            dtype: DType::Float64,
            shape: &coef_shape,
            data: &coef,
        },
        ArrayView {
            name: "intercept_",
            dtype: DType::Float64,
            shape: &icpt_shape,
            data: &icpt,
        },
        ArrayView {
            name: "dual_gap_",
            dtype: DType::Float64,
            shape: gap_shape,
            data: &gap,
        },
    ];
    let json = header(kind, 3, n_iter).seal(&views, false)?;
    Header::open(&json, &views).map(|_| ())
}

fn refused_field(r: Result<(), FormatError>) -> String {
    match r {
        Err(FormatError::InvalidArray { name, .. }) => name,
        Err(FormatError::InvalidField { field, .. }) => field,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn one_and_several_targets_round_trip() {
    for kind in ["linear_model.ElasticNet", "linear_model.Lasso"] {
        seal(kind, 0, &[], json!(12)).unwrap();
        seal(kind, 2, &[2], json!([3, 0])).unwrap();
    }
}

#[test]
fn mismatched_gaps_and_iteration_counts_are_refused() {
    // (targets, dual_gap_ shape, n_iter_, the field refused)
    let cases: [(u64, &[u64], Value, &str); 8] = [
        (0, &[1], json!(3), "dual_gap_"),
        (2, &[], json!([1, 2]), "dual_gap_"),
        (2, &[3], json!([1, 2]), "dual_gap_"),
        (0, &[], json!(-1), "attrs.n_iter_"),
        (0, &[], json!([1]), "attrs.n_iter_"),
        (2, &[2], json!([1]), "attrs.n_iter_"),
        (2, &[2], json!([1, 2.5]), "attrs.n_iter_"),
        (2, &[2], json!(4), "attrs.n_iter_"),
    ];
    for (t, gap, n_iter, field) in cases {
        let got = refused_field(seal("linear_model.ElasticNet", t, gap, n_iter.clone()));
        assert_eq!(
            got, field,
            "{t} targets, dual_gap_ {gap:?}, n_iter_ {n_iter}"
        );
    }
}
