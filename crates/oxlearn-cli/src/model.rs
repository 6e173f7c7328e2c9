//! Models loaded from files and served without Python: `oxlearn-format`
//! verifies and validates, `oxlearn-core` predicts.

use crate::npy::Matrix;
use faer::MatRef;
use oxlearn_core::decomposition::pca_transform_map;
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
            known: "fitted linear models (the binary predicts; this kind has no predict)".into(),
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
            // PCA transforms: the same linear map, in the same kernel, as Python.
            Some("decomposition") => {
                let need = |name: &str| get(name).ok_or_else(|| unsupported().to_string());
                let components = need("components_")?;
                let (k, p) = match components.shape[..] {
                    [k, p] => (k as usize, p as usize),
                    _ => return Err(unsupported().to_string()),
                };
                let c = floats(components);
                let whiten = header.params.get("whiten").and_then(|v| v.as_bool()) == Some(true);
                let variance = if whiten {
                    Some(floats(need("explained_variance_")?))
                } else {
                    None
                };
                let eps = if components.dtype == DType::Float32 {
                    f32::EPSILON as f64
                } else {
                    f64::EPSILON
                };
                let (coef, intercept) = pca_transform_map(
                    MatRef::from_row_major_slice(&c, k, p),
                    &floats(need("mean_")?),
                    variance.as_deref(),
                    eps,
                )
                .map_err(|e| e.to_string())?;
                let coef: Vec<f64> = (0..k)
                    .flat_map(|i| (0..p).map(move |j| (i, j)))
                    .map(|(i, j)| coef[(i, j)])
                    .collect();
                Kind::Linear {
                    coef_f32: (components.dtype == DType::Float32)
                        .then(|| coef.iter().map(|&v| v as f32).collect()),
                    coef,
                    intercept,
                    t: k,
                    one_dim: false,
                }
            }
            // Valid models of kinds that neither predict nor transform.
            Some("covariance" | "basic_statistics") => {
                return Err(format!(
                    "{} models have no predict or transform: there is nothing for the binary \
                     to serve (the file itself verified; `oxlearn inspect` lists its arrays)",
                    header.kind
                ))
            }
            Some("cluster") if header.kind == "cluster.DBSCAN" => {
                return Err(format!(
                    "{} has no predict: DBSCAN labels only the samples it was fitted on, and \
                     the file holds those labels (labels_, core_sample_indices_, components_; \
                     `oxlearn inspect` lists them); to cluster new data, fit DBSCAN on it",
                    header.kind
                ))
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
        let Kind::Linear {
            coef,
            coef_f32,
            intercept,
            t,
            one_dim,
        } = &self.kind;
        let p = coef.len() / t.max(&1);
        let (rows, cols) = match x {
            Matrix::F64 { rows, cols, .. } | Matrix::F32 { rows, cols, .. } => (*rows, *cols),
        };
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
