//! Models loaded from files and served without Python: `oxlearn-format`
//! verifies and validates, `oxlearn-core` predicts.

use crate::npy::Matrix;
use faer::MatRef;
use oxlearn_core::cluster::predict_kmeans;
use oxlearn_core::linear_model::predict_linear;
use oxlearn_format::{open_checked, parse_file, ArrayView, DType, FormatError, Runtime};

/// A verified model, ready to predict.
pub struct Model {
    kind: Kind,
}

enum Kind {
    /// `X coefᵀ + intercept`; `one_dim` when `coef_` is 1-D (1-D output).
    Linear {
        coef: Vec<f64>,
        coef_f32: Option<Vec<f32>>,
        intercept: Vec<f64>,
        t: usize,
        one_dim: bool,
    },
    /// Nearest of the k×p `centers` (float64; exact for float32 models):
    /// integer labels, as `KMeans.predict`.
    KMeans { centers: Vec<f64>, k: usize },
}

fn floats(a: &ArrayView<'_>) -> Vec<f64> {
    match a.dtype {
        DType::Float64 => a
            .data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
        DType::Float32 => a
            .data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64)
            .collect(),
        _ => Vec::new(),
    }
}

impl Model {
    /// Loads a model file: layout, checksums, compatibility (no Python rows),
    /// schema validation. Returns the warnings to show.
    pub fn load(bytes: &[u8]) -> Result<(Model, Vec<String>), String> {
        let file = parse_file(bytes).map_err(|e| e.to_string())?;
        let arrays = file.arrays();
        let (header, warnings) = open_checked(file.header_json, &arrays, &Runtime::native(), false)
            .map_err(|e| e.to_string())?;
        let get = |name: &str| arrays.iter().find(|a| a.name == name);
        let unsupported = || FormatError::UnknownKind {
            kind: header.kind.clone(),
            writer: header.oxlearn_version.clone(),
            reader: env!("CARGO_PKG_VERSION").into(),
            known:
                "fitted linear models and KMeans (the binary predicts; this kind has no predict)"
                    .into(),
        };
        if !header.fitted {
            return Err("the model is not fitted: there is nothing to predict with".into());
        }
        let kind = match header.kind.split('.').next() {
            Some("linear_model") => {
                let (coef, intercept) = match (get("coef_"), get("intercept_")) {
                    (Some(c), Some(b)) => (c, b),
                    _ => return Err(unsupported().to_string()),
                };
                let one_dim = coef.shape.len() == 1;
                let t = if one_dim { 1 } else { coef.shape[0] as usize };
                let coef_f32 = (coef.dtype == DType::Float32).then(|| {
                    coef.data
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4])))
                        .collect()
                });
                let mut intercept = floats(intercept);
                if intercept.len() == 1 && t > 1 {
                    intercept = vec![intercept[0]; t]; // scalar 0.0 without fit_intercept
                }
                Kind::Linear {
                    coef: floats(coef),
                    coef_f32,
                    intercept,
                    t,
                    one_dim,
                }
            }
            Some("cluster") if header.kind == "cluster.KMeans" => {
                let c = get("cluster_centers_").ok_or_else(|| unsupported().to_string())?;
                Kind::KMeans {
                    centers: floats(c),
                    k: c.shape.first().copied().unwrap_or(0) as usize,
                }
            }
            _ => return Err(unsupported().to_string()),
        };
        Ok((
            Model { kind },
            warnings.iter().map(|w| w.to_string()).collect(),
        ))
    }

    /// Predicts, with the same arithmetic (and so the same bits) as
    /// Python's `predict`: the computation dtype is float64 unless both the
    /// input and the model are float32.
    pub fn predict(&self, x: &Matrix) -> Result<Matrix, String> {
        let (rows, cols) = match x {
            Matrix::F64 { rows, cols, .. } | Matrix::F32 { rows, cols, .. } => (*rows, *cols),
            Matrix::I32 { .. } => return Err("X must hold floating-point values".into()),
        };
        let (coef, coef_f32, intercept, t, one_dim) = match &self.kind {
            Kind::Linear {
                coef,
                coef_f32,
                intercept,
                t,
                one_dim,
            } => (coef, coef_f32, intercept, t, one_dim),
            Kind::KMeans { centers, k } => return predict_labels(x, centers, *k, rows, cols),
        };
        let p = coef.len() / t.max(&1);
        if cols != p {
            return Err(format!(
                "X has {cols} features, but the model expects {p} (n_features_in_)"
            ));
        }
        let shape_out = |data_len: usize| (rows, data_len / rows.max(1));
        let err = |e: oxlearn_core::Error| e.to_string();
        match (x, coef_f32) {
            (Matrix::F32 { data, .. }, Some(c32)) => {
                let b: Vec<f32> = intercept.iter().map(|&v| v as f32).collect();
                let mut out = vec![0f32; rows * t];
                let xm = MatRef::from_row_major_slice(data, rows, cols);
                predict_linear(xm, MatRef::from_row_major_slice(c32, *t, p), &b, &mut out)
                    .map_err(err)?;
                let (r, c) = shape_out(out.len());
                Ok(Matrix::F32 {
                    rows: r,
                    cols: c,
                    data: out,
                    one_dim: *one_dim,
                })
            }
            _ => {
                let xd: Vec<f64> = match x {
                    Matrix::F64 { data, .. } => data.clone(),
                    Matrix::F32 { data, .. } => data.iter().map(|&v| v as f64).collect(),
                    Matrix::I32 { data, .. } => data.iter().map(|&v| v as f64).collect(),
                };
                let mut out = vec![0f64; rows * t];
                let xm = MatRef::from_row_major_slice(&xd, rows, cols);
                predict_linear(
                    xm,
                    MatRef::from_row_major_slice(coef, *t, p),
                    intercept,
                    &mut out,
                )
                .map_err(err)?;
                let (r, c) = shape_out(out.len());
                Ok(Matrix::F64 {
                    rows: r,
                    cols: c,
                    data: out,
                    one_dim: *one_dim,
                })
            }
        }
    }
}

/// `KMeans.predict`: the same core function as Python's, on the same values
/// (float32 input is widened exactly), so the labels are identical.
fn predict_labels(
    x: &Matrix,
    centers: &[f64],
    k: usize,
    rows: usize,
    cols: usize,
) -> Result<Matrix, String> {
    let p = centers.len() / k.max(1);
    if cols != p {
        return Err(format!(
            "X has {cols} features, but the model expects {p} (n_features_in_)"
        ));
    }
    let c = MatRef::from_row_major_slice(centers, k, p);
    let mut out = vec![0i32; rows];
    let res = match x {
        Matrix::F64 { data, .. } => predict_kmeans(
            MatRef::from_row_major_slice(data, rows, cols),
            c,
            0,
            &mut out,
        ),
        Matrix::F32 { data, .. } => predict_kmeans(
            MatRef::from_row_major_slice(data, rows, cols),
            c,
            0,
            &mut out,
        ),
        Matrix::I32 { .. } => return Err("X must hold floating-point values".into()),
    };
    res.map_err(|e| e.to_string())?;
    Ok(Matrix::I32 {
        rows,
        cols: 1,
        data: out,
        one_dim: true,
    })
}
