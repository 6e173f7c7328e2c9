//! Composite models (format 1.3): the golden pipelines open; forged ones,
//! re-sealed as a forger would, are refused with a message naming the
//! component that is wrong (an unknown step kind, widths that do not chain,
//! category or column indices out of range, stray arrays, nesting bombs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use oxlearn_format::forge::{seal, split, Parts};
use oxlearn_format::{open_checked, parse_file, FormatError, Runtime};
use serde_json::{json, Value};
use std::path::PathBuf;

fn golden(name: &str) -> Parts {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../python/oxlearn/tests/golden/1.3")
        .join(format!("{name}.oxl"));
    split(&std::fs::read(path).unwrap()).unwrap()
}

fn open(parts: &Parts) -> Result<(), FormatError> {
    let file = seal(parts);
    let f = parse_file(&file)?;
    open_checked(f.header_json, &f.arrays(), &Runtime::native(), false).map(|_| ())
}

/// Opens a forged variant; returns the error message.
fn refused(parts: &Parts) -> String {
    match open(parts) {
        Ok(()) => panic!("a forged composite was accepted"),
        Err(e) => {
            assert!(e.is_corruption() || matches!(e, FormatError::UnknownKind { .. }));
            e.to_string()
        }
    }
}

fn part<'a>(p: &'a mut Parts, path: &str) -> &'a mut Value {
    let mut v = p.header.get_mut("parts").unwrap();
    let mut steps = path.split('.').peekable();
    while let Some(i) = steps.next() {
        v = &mut v[i.parse::<usize>().unwrap()];
        if steps.peek().is_some() {
            v = v.get_mut("parts").unwrap();
        }
    }
    v
}

#[test]
fn golden_composites_open() {
    for name in [
        "Pipeline-scalers-ridge",
        "Pipeline-impute-poly-select-logistic",
        "Pipeline-normalizer-pca-kmeans",
        "ColumnTransformer-onehot-ordinal-forest",
        "ColumnTransformer-passthrough-remainder",
        "Pipeline-onehot-strings-knn",
        "Pipeline-unfitted",
    ] {
        open(&golden(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn an_unknown_step_kind_is_named() {
    let mut p = golden("Pipeline-scalers-ridge");
    part(&mut p, "1")["kind"] = json!("preprocessing.QuantileTransformer");
    let msg = refused(&p);
    assert!(msg.contains("preprocessing.QuantileTransformer"), "{msg}");
}

#[test]
fn widths_that_do_not_chain_are_refused() {
    // VarianceThreshold (step 2) keeps fewer columns with a higher
    // threshold: SelectKBest (step 3) was fitted on more.
    let mut p = golden("Pipeline-impute-poly-select-logistic");
    part(&mut p, "2")["params"]["threshold"] = json!(1e300);
    let msg = refused(&p);
    assert!(msg.contains("outputs 0"), "{msg}");
    // A final estimator in the middle of a pipeline.
    let mut p = golden("Pipeline-scalers-ridge");
    let steps = p.header["parts"].as_array_mut().unwrap();
    steps.swap(3, 4);
    let msg = refused(&p);
    assert!(
        msg.contains("not a transformer") || msg.contains("parts["),
        "{msg}"
    );
    // The pipeline's own width disagrees with its first step.
    let mut p = golden("Pipeline-scalers-ridge");
    p.header["n_features_in"] = json!(3);
    assert!(refused(&p).contains("first step"));
}

#[test]
fn category_and_column_indices_out_of_range_are_refused() {
    let mut p = golden("Pipeline-onehot-strings-knn");
    part(&mut p, "0")["attrs"]["drop_idx_"] = json!([7]);
    let msg = refused(&p);
    assert!(
        msg.contains("drop_idx_") && msg.contains("parts[0]"),
        "{msg}"
    );
    let mut p = golden("Pipeline-onehot-strings-knn");
    part(&mut p, "0")["attrs"]["_n_features_outs"] = json!([9]);
    assert!(refused(&p).contains("_n_features_outs"));
    let mut p = golden("Pipeline-onehot-strings-knn");
    part(&mut p, "0")["attrs"]["categories_"] = json!([]);
    assert!(refused(&p).contains("categories_"));
    let mut p = golden("ColumnTransformer-onehot-ordinal-forest");
    let indices = &mut part(&mut p, "0")["attrs"]["_transformer_to_input_indices"]["__dict__"];
    indices["cat"] = json!([4]);
    let msg = refused(&p);
    assert!(msg.contains("column index below 4"), "{msg}");
    // Columns selected for a transformer that takes another number.
    let mut p = golden("ColumnTransformer-onehot-ordinal-forest");
    let indices = &mut part(&mut p, "0")["attrs"]["_transformer_to_input_indices"]["__dict__"];
    indices["num"] = json!([0]);
    assert!(refused(&p).contains("selects 1 columns"));
}

#[test]
fn stray_arrays_and_fitted_mismatches_are_refused() {
    let mut p = golden("Pipeline-scalers-ridge");
    let entries = p.header["arrays"].as_array_mut().unwrap();
    let mut stray = entries[0].clone();
    stray["name"] = json!("9/mean_");
    entries.push(stray);
    let data = p.arrays[0].clone();
    p.arrays.push(data);
    assert!(refused(&p).contains("9/mean_"));
    let mut p = golden("Pipeline-scalers-ridge");
    part(&mut p, "0")["fitted"] = json!(false);
    assert!(refused(&p).contains("fitted"));
    // Components only where the kind is a composite.
    let mut p = golden("Pipeline-scalers-ridge");
    let inner = p.header["parts"].clone();
    part(&mut p, "0")["parts"] = inner;
    assert!(refused(&p).contains("not a composite"));
}

#[test]
fn nesting_is_bounded() {
    // Pipelines of pipelines, 12 deep, around one passthrough step.
    let mut inner = json!({"name": "p", "kind": "compose.passthrough", "schema_version": 1,
        "fitted": true, "dtype": null, "n_features_in": 4, "feature_names_in": null,
        "params": {}, "attrs": {}});
    for _ in 0..12 {
        inner = json!({"name": "p", "kind": "pipeline.Pipeline", "schema_version": 1,
            "fitted": true, "dtype": null, "n_features_in": 4, "feature_names_in": null,
            "params": {"memory": null, "verbose": false, "transform_input": null},
            "attrs": {}, "parts": [inner]});
    }
    let mut p = golden("Pipeline-scalers-ridge");
    p.header["parts"] = json!([inner]);
    p.header["arrays"] = json!([]);
    p.arrays.clear();
    assert!(refused(&p).contains("nested deeper"));
}

#[test]
fn forged_polynomial_degrees_are_refused_quickly() {
    // A huge degree must neither hang the count nor pass it.
    for interaction_only in [true, false] {
        let mut p = golden("Pipeline-impute-poly-select-logistic");
        let poly = part(&mut p, "1");
        poly["params"]["interaction_only"] = json!(interaction_only);
        poly["attrs"]["_max_degree"] = json!(u64::MAX);
        let t = std::time::Instant::now();
        let msg = refused(&p);
        assert!(msg.contains("n_output_features_"), "{msg}");
        assert!(t.elapsed().as_secs() < 5);
    }
}
