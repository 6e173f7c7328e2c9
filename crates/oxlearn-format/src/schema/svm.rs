//! Schemas of the support vector machines (`sklearn.svm`).
//!
//! The support vectors are stored once, with libsvm's signs of the
//! coefficients and intercepts (`_dual_coef_`, `_intercept_`): scikit-learn's
//! public `dual_coef_` and `intercept_` (negated for two classes),
//! `n_iter_` and `OneClassSVM.offset_` are rebuilt from them on load.

use super::{family_schema, float_dtype, opt, req, ArraySpec, Arrays, Origin, Schema, Serving};
use crate::error::{FormatError, Result};
use crate::header::{DType, Header};
use crate::labels::Labels;
use oxlearn_core::svm::SvmType;
use serde_json::Value;

/// The family's kinds, in registry order.
pub(crate) static KINDS: &[&Schema] = &[&SVC, &NU_SVC, &SVR, &NU_SVR, &ONE_CLASS_SVM];

const ARRAYS: &[ArraySpec] = &[
    req("support_"),
    req("support_vectors_"),
    req("_n_support"),
    req("_dual_coef_"),
    req("_intercept_"),
    req("_probA"),
    req("_probB"),
    req("_num_iter"),
    opt("class_weight_"),
    opt("classes_"),
];
const ATTRS: &[&str] = &[
    "classes_",
    "fit_status_",
    "shape_fit_",
    "_gamma",
    "_sparse",
    "_effective_probability",
];

family_schema!(
    SVC,
    "svm.SVC",
    "`sklearn.svm.SVC`.",
    validate_svm,
    Serving::Svm(SvmType::CSvc)
);
family_schema!(
    NU_SVC,
    "svm.NuSVC",
    "`sklearn.svm.NuSVC`.",
    validate_svm,
    Serving::Svm(SvmType::NuSvc)
);
family_schema!(
    SVR,
    "svm.SVR",
    "`sklearn.svm.SVR`.",
    validate_svm,
    Serving::Svm(SvmType::EpsilonSvr)
);
family_schema!(
    NU_SVR,
    "svm.NuSVR",
    "`sklearn.svm.NuSVR`.",
    validate_svm,
    Serving::Svm(SvmType::NuSvr)
);
family_schema!(
    ONE_CLASS_SVM,
    "svm.OneClassSVM",
    "`sklearn.svm.OneClassSVM`.",
    validate_svm,
    Serving::Svm(SvmType::OneClass)
);

fn field(name: &str, reason: String) -> FormatError {
    FormatError::InvalidField {
        field: format!("attrs.{name}"),
        reason,
    }
}

fn i32s(data: &[u8]) -> impl Iterator<Item = i32> + '_ {
    data.chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// support_vectors_ (n_sv, p) float64 ((0, 0) for a precomputed kernel;
/// dense: `_sparse` is false); support_
/// (n_sv) int32 indices below shape_fit_[0]; _n_support int32 counts, one per
/// class (>= 2 classes, at most classes_) summing to n_sv, or `[n_sv, n_sv]`
/// for one-class and regression; _dual_coef_ (rows, n_sv) with rows =
/// classes - 1, or 1; _intercept_, _num_iter, and (when fitted with
/// probabilities) _probA, _probB one per binary problem; class_weight_ one
/// per class.
fn validate_svm(h: &Header, a: &Arrays<'_>) -> Result<()> {
    let dt = float_dtype(h)?;
    if dt != DType::Float64 {
        return Err(field("dtype", format!("{dt:?}; an SVM model is float64")));
    }
    if h.attrs.get("_sparse").and_then(Value::as_bool) != Some(false) {
        return Err(field(
            "_sparse",
            format!(
                "{:?}; the model file stores dense support vectors (false)",
                h.attrs.get("_sparse")
            ),
        ));
    }
    let shape_fit: Option<Vec<u64>> = h
        .attrs
        .get("shape_fit_")
        .and_then(|v| v.get("__tuple__").unwrap_or(v).as_array())
        .and_then(|v| v.iter().map(Value::as_u64).collect());
    let n_samples = match shape_fit.as_deref() {
        Some(&[n, p]) if Some(p) == h.n_features_in => n,
        _ => {
            return Err(field(
                "shape_fit_",
                format!(
                    "{:?}; must be [n_samples, n_features_in]",
                    h.attrs.get("shape_fit_")
                ),
            ))
        }
    };
    match h.attrs.get("fit_status_").and_then(Value::as_u64) {
        Some(0 | 1) => {}
        _ => return Err(field("fit_status_", "must be 0 or 1".into())),
    }
    if !h.attrs.get("_gamma").is_some_and(Value::is_number) {
        return Err(field("_gamma", "missing or not a number".into()));
    }
    let p = h.n_features_in.unwrap_or(0);
    // A precomputed kernel keeps no vectors (scikit-learn's (0, 0) array):
    // its inputs are kernel values against the training samples.
    let precomputed = h.params.get("kernel").and_then(Value::as_str) == Some("precomputed");
    let support = a.check("support_", DType::Int32, &[None])?;
    let n_sv = support.shape[0];
    if precomputed {
        a.check("support_vectors_", dt, &[Some(0), Some(0)])?;
    } else {
        a.check("support_vectors_", dt, &[Some(n_sv), Some(p)])?;
    }
    let classifier = matches!(h.kind.as_str(), "svm.SVC" | "svm.NuSVC");
    let n_support = a.check("_n_support", DType::Int32, &[None])?;
    let counts: Vec<i64> = i32s(n_support.data).map(i64::from).collect();
    let (rows, pairs) = if classifier {
        let classes = Labels::read(h, a.views(), "classes_")?.len() as u64;
        let k = counts.len() as u64;
        if k < 2 || k > classes {
            return Err(a.invalid(
                "_n_support",
                format!("{k} classes; needs between 2 and the {classes} of classes_"),
            ));
        }
        a.check("class_weight_", DType::Float64, &[Some(classes)])?;
        (k - 1, k * (k - 1) / 2)
    } else {
        // scikit-learn stores [n_sv, n_sv] here.
        if counts != [n_sv as i64, n_sv as i64] {
            return Err(a.invalid(
                "_n_support",
                format!("{counts:?}; must be [n_sv, n_sv] = [{n_sv}, {n_sv}]"),
            ));
        }
        (1, 1)
    };
    if classifier && (counts.iter().any(|&c| c < 0) || counts.iter().sum::<i64>() != n_sv as i64) {
        return Err(a.invalid(
            "_n_support",
            format!("{counts:?} does not count the {n_sv} support vectors"),
        ));
    }
    a.check("_dual_coef_", dt, &[Some(rows), Some(n_sv)])?;
    a.check("_intercept_", dt, &[Some(pairs)])?;
    let it = a.check("_num_iter", DType::Int32, &[Some(pairs)])?;
    if i32s(it.data).any(|v| v < 0) {
        return Err(a.invalid("_num_iter", "holds a negative iteration count".into()));
    }
    let pa = a.check("_probA", dt, &[None])?.shape[0];
    let pb = a.check("_probB", dt, &[None])?.shape[0];
    if pa != pb || (pa != 0 && pa != pairs) {
        return Err(a.invalid(
            "_probA",
            format!("{pa} and {pb} Platt parameters for {pairs} binary problems"),
        ));
    }
    if i32s(support.data).any(|i| i < 0 || i as u64 >= n_samples) {
        return Err(a.invalid(
            "support_",
            format!("holds an index outside the {n_samples} training samples"),
        ));
    }
    Ok(())
}
