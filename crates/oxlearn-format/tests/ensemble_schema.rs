//! The `ensemble.*` schemas: a valid forest seals and opens; forged node
//! indices, offsets, shapes and labels are refused with a message naming
//! what is wrong; a lazy open defers the node walk to the full verification.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use oxlearn_format::{
    checksum_of, digest_of, open_checked, ArrayEntry, ArrayView, DType, FormatError, Header,
    Runtime,
};
use proptest::prelude::*;
use serde_json::json;

fn header(kind: &str, attrs: serde_json::Value) -> Header {
    Header {
        attrs: attrs.as_object().unwrap().clone(),
        ..common::header(kind, 2)
    }
}

fn le<T: Copy, const N: usize>(v: &[T], f: fn(T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(|&x| f(x)).collect()
}

/// Two trees: a stump on feature `feature` (nodes 0..3) and a single leaf.
struct Forest {
    offsets: Vec<i64>,
    feature: Vec<i32>,
    left: Vec<i32>,
    right: Vec<i32>,
    n_classes: u64,
    value_rows: u64,
}

impl Forest {
    fn good() -> Forest {
        Forest {
            offsets: vec![0, 3, 4],
            feature: vec![1, -2, -2, -2],
            left: vec![1, -1, -1, -1],
            right: vec![2, -1, -1, -1],
            n_classes: 2,
            value_rows: 4,
        }
    }

    /// Seals and opens the forest as `kind`; `lazy` opens as a mapped load
    /// does, then runs the deferred verification.
    fn open(&self, kind: &str, attrs: serde_json::Value, lazy: bool) -> Result<(), FormatError> {
        self.open_with(kind, attrs, lazy, true)
    }

    /// Only the lazy open of a mapped load.
    fn open_lazy_only(&self, kind: &str, attrs: serde_json::Value) -> Result<(), FormatError> {
        self.open_with(kind, attrs, true, false)
    }

    fn open_with(
        &self,
        kind: &str,
        attrs: serde_json::Value,
        lazy: bool,
        verify_later: bool,
    ) -> Result<(), FormatError> {
        let n = self.feature.len() as u64;
        let t = self.offsets.len() as u64 - 1;
        let c = self.n_classes;
        let (s_off, s_n, s_t, s_p, s_v, s_c) =
            ([t + 1], [n], [t], [2u64], [self.value_rows, 1, c], [2u64]);
        let offsets = le(&self.offsets, i64::to_le_bytes);
        let feature = le(&self.feature, i32::to_le_bytes);
        let left = le(&self.left, i32::to_le_bytes);
        let right = le(&self.right, i32::to_le_bytes);
        let f64n = le(&vec![0.5; n as usize], f64::to_le_bytes);
        let i64n = le(&vec![3i64; n as usize], i64::to_le_bytes);
        let value = le(&vec![0.5; (self.value_rows * c) as usize], f64::to_le_bytes);
        let seeds = le(&vec![7i64; t as usize], i64::to_le_bytes);
        let imp = le(&[0.0, 1.0], f64::to_le_bytes);
        let classes = le(&[0i64, 1], i64::to_le_bytes);
        let v = |name, dtype, shape, data| ArrayView {
            name,
            dtype,
            shape,
            data,
        };
        let mut views = vec![
            v("tree_offsets", DType::Int64, &s_off[..], &offsets[..]),
            v("feature", DType::Int32, &s_n, &feature),
            v("threshold", DType::Float64, &s_n, &f64n),
            v("children_left", DType::Int32, &s_n, &left),
            v("children_right", DType::Int32, &s_n, &right),
            v("impurity", DType::Float64, &s_n, &f64n),
            v("n_node_samples", DType::Int64, &s_n, &i64n),
            v("weighted_n_node_samples", DType::Float64, &s_n, &f64n),
            v("value", DType::Float64, &s_v, &value),
            v("_seeds", DType::Int64, &s_t, &seeds),
            v("_feature_importances", DType::Float64, &s_p, &imp),
        ];
        if kind.ends_with("Classifier") {
            views.push(v("classes_", DType::Int64, &s_c, &classes));
        }
        let json = seal_unchecked(header(kind, attrs), &views);
        let (opened, _) = open_checked(&json, &views, &Runtime::native(), lazy)?;
        if lazy && verify_later {
            // What Python's first use of a mapped model runs.
            opened.verify_structure(&views)?;
        }
        Ok(())
    }
}

/// A forger's seal: digests and checksum recomputed, nothing validated.
fn seal_unchecked(mut h: Header, views: &[ArrayView<'_>]) -> String {
    h.arrays = views
        .iter()
        .map(|a| ArrayEntry {
            name: a.name.into(),
            dtype: a.dtype,
            shape: a.shape.to_vec(),
            xxh3: digest_of(a.data),
            offset: None,
        })
        .collect();
    h.checksum = String::new();
    let blank = h.to_json().unwrap();
    let sum = checksum_of(&blank);
    let body = blank.strip_suffix("\"checksum\":\"\"}").unwrap();
    format!("{body}\"checksum\":\"{sum}\"}}")
}

fn clf_attrs() -> serde_json::Value {
    json!({"n_outputs_": 1, "n_classes_": 2, "_n_samples": 10, "_n_samples_bootstrap": 10})
}

fn reg_attrs() -> serde_json::Value {
    json!({"n_outputs_": 1, "_n_samples": 10, "_n_samples_bootstrap": null})
}

fn refused(f: &Forest, kind: &str, attrs: serde_json::Value, needle: &str) {
    for lazy in [false, true] {
        let err = f.open(kind, attrs.clone(), lazy).unwrap_err().to_string();
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    }
}

const RFC: &str = "ensemble.RandomForestClassifier";
const ETR: &str = "ensemble.ExtraTreesRegressor";

#[test]
fn valid_forests_open() {
    Forest::good().open(RFC, clf_attrs(), false).unwrap();
    Forest::good().open(RFC, clf_attrs(), true).unwrap();
    let reg = Forest {
        n_classes: 1,
        ..Forest::good()
    };
    reg.open(ETR, reg_attrs(), false).unwrap();
}

#[test]
fn forged_nodes_are_refused() {
    let mut f = Forest::good();
    f.left[0] = 9;
    refused(&f, RFC, clf_attrs(), "children (9, 2)");
    let mut f = Forest::good();
    f.right[0] = 0; // a loop back to the root
    refused(&f, RFC, clf_attrs(), "children (1, 0)");
    let mut f = Forest::good();
    f.left[0] = -1; // half a leaf
    refused(&f, RFC, clf_attrs(), "children (-1, 2)");
    let mut f = Forest::good();
    f.left[3] = 1; // the second tree's only node points at itself's successor
    refused(&f, RFC, clf_attrs(), "tree 1 node 0");
    let mut f = Forest::good();
    f.feature[0] = 2;
    refused(&f, RFC, clf_attrs(), "feature 2 is not in [0, 2)");
    let mut f = Forest::good();
    f.feature[0] = -5;
    refused(&f, RFC, clf_attrs(), "feature -5");
    let mut f = Forest::good();
    f.offsets = vec![0, 4, 3, 4];
    refused(&f, RFC, clf_attrs(), "offsets");
    let mut f = Forest::good();
    f.offsets = vec![1, 3, 4];
    refused(&f, RFC, clf_attrs(), "tree_offsets must start at 0");
}

#[test]
fn lazy_open_defers_only_the_node_walk() {
    let mut f = Forest::good();
    f.left[0] = 9;
    // The walk is deferred: a lazy open succeeds, the full verification refuses.
    let err = f.open_lazy_only(RFC, clf_attrs()).map(|_| ());
    assert!(err.is_ok(), "{err:?}");
    let err = f.open(RFC, clf_attrs(), true).unwrap_err().to_string();
    assert!(err.contains("children"), "{err}");
    // Shapes are not deferred.
    let f = Forest {
        value_rows: 3,
        ..Forest::good()
    };
    refused(&f, RFC, clf_attrs(), "value");
}

#[test]
fn forged_labels_and_attributes_are_refused() {
    let f = Forest::good();
    refused(
        &f,
        RFC,
        json!({"n_outputs_": 1, "n_classes_": 3, "_n_samples": 10}),
        "n_classes_",
    );
    refused(
        &f,
        RFC,
        json!({"n_outputs_": 2, "n_classes_": 2, "_n_samples": 10}),
        "n_outputs_",
    );
    refused(
        &f,
        RFC,
        json!({"n_outputs_": 1, "n_classes_": 2, "_n_samples": 0}),
        "_n_samples",
    );
    refused(
        &f,
        RFC,
        json!({"n_outputs_": 1, "n_classes_": 2, "_n_samples": 5, "oob_score_": "x"}),
        "oob_score_",
    );
    // A regressor's value has one entry per output; it has no classes.
    refused(&f, ETR, reg_attrs(), "last axis is 1");
    let reg = Forest {
        n_classes: 1,
        ..Forest::good()
    };
    refused(
        &reg,
        ETR,
        json!({"n_outputs_": 1, "_n_samples": 10, "n_classes_": 1}),
        "regressor has no classes",
    );
}

/// Child indices, leaves (-1 on both sides) often enough that many forged
/// forests are valid ones.
fn child() -> impl Strategy<Value = i32> {
    prop_oneof![2 => Just(-1i32), 3 => 0i32..12, 1 => -3i32..14]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, .. ProptestConfig::default() })]

    /// Whatever a forger writes into the node arrays (checksums recomputed),
    /// a forest that opens can be traversed: prediction ends, in bounds.
    #[test]
    fn forged_forests_that_open_predict_without_panicking(
        nodes in proptest::collection::vec((child(), child(), -3i32..5), 1..12),
        cuts in proptest::collection::vec(0i64..14, 0..4),
        lazy in any::<bool>(),
    ) {
        let n = nodes.len() as i64;
        let mut offsets = vec![0i64];
        offsets.extend(cuts.iter().map(|&c| c.min(n)));
        offsets.push(n);
        let f = Forest {
            offsets: offsets.clone(),
            feature: nodes.iter().map(|t| t.2).collect(),
            left: nodes.iter().map(|t| t.0).collect(),
            right: nodes.iter().map(|t| t.1).collect(),
            n_classes: 2,
            value_rows: n as u64,
        };
        if f.open(RFC, clf_attrs(), lazy).is_ok() {
            let value = vec![0.5; 2 * nodes.len()];
            let threshold = vec![0.0; nodes.len()];
            let fr = oxlearn_core::ensemble::ForestRef {
                n_features: 2,
                n_outputs: 1,
                max_n_classes: 2,
                tree_offsets: &offsets,
                feature: &f.feature,
                threshold: &threshold,
                left: &f.left,
                right: &f.right,
                value: &value,
            };
            prop_assert!(fr.validate().is_ok());
            let x = [-1.0, 1.0, 1.0, -1.0, 0.0, 0.0];
            let p = oxlearn_core::ensemble::predict_forest(
                &fr,
                faer::MatRef::from_row_major_slice(&x, 3, 2),
            );
            prop_assert!(p.is_ok());
        }
    }
}
