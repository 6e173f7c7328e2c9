//! Models loaded from files and served without Python: `oxlearn-format`
//! verifies and validates, `oxlearn-core` predicts.

use crate::npy::Matrix;
use faer::MatRef;
use oxlearn_core::cluster::predict_kmeans;
use oxlearn_core::decomposition::pca_transform_map;
use oxlearn_core::linear_model::{logistic_classes, predict_linear};
use oxlearn_core::Real;
use oxlearn_format::{
    open_checked, parse_file, ArrayView, DType, FormatError, Header, Labels, Runtime,
};

/// A verified model, ready to predict.
pub struct Model {
    kind: Kind,
}

/// What `predict` returns: values (regressors) or class labels (classifiers).
pub enum Prediction {
    /// Predicted values, n×t (or n for one target).
    Values(Matrix),
    /// One predicted class label per row.
    Labels(Labels),
}

enum Kind {
    /// `X coefᵀ + intercept`.
    Linear(Linear),
    /// A linear decision function and the class of each row: `d > 0` for
    /// two classes (one coefficient row), else the largest.
    Classifier { decision: Linear, classes: Labels },
    /// Nearest of the k×p `centers` (float64; exact for float32 models):
    /// int32 cluster labels, as `KMeans.predict`.
    KMeans { centers: Vec<f64>, k: usize },
}

/// `X coefᵀ + intercept`; `one_dim` when `coef_` is 1-D (1-D output).
struct Linear {
    coef: Vec<f64>,
    coef_f32: Option<Vec<f32>>,
    intercept: Vec<f64>,
    t: usize,
    one_dim: bool,
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

impl Linear {
    /// `coef_` and `intercept_` of a (validated) linear model.
    fn from_arrays(coef: &ArrayView<'_>, intercept: &ArrayView<'_>) -> Linear {
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
        Linear {
            coef: floats(coef),
            coef_f32,
            intercept,
            t,
            one_dim,
        }
    }

    /// Predicts, with the same arithmetic (and so the same bits) as
    /// Python's `predict`: the computation dtype is float64 unless both the
    /// input and the model are float32.
    fn predict(&self, x: &Matrix) -> Result<Matrix, String> {
        let t = self.t;
        let p = self.coef.len() / t.max(1);
        let (rows, cols) = match x {
            Matrix::F64 { rows, cols, .. } | Matrix::F32 { rows, cols, .. } => (*rows, *cols),
        };
        if cols != p {
            return Err(format!(
                "X has {cols} features, but the model expects {p} (n_features_in_)"
            ));
        }
        let err = |e: oxlearn_core::Error| e.to_string();
        match (x, &self.coef_f32) {
            (Matrix::F32 { data, .. }, Some(c32)) => {
                let b: Vec<f32> = self.intercept.iter().map(|&v| v as f32).collect();
                let mut out = vec![0f32; rows * t];
                let xm = MatRef::from_row_major_slice(data, rows, cols);
                predict_linear(xm, MatRef::from_row_major_slice(c32, t, p), &b, &mut out)
                    .map_err(err)?;
                Ok(Matrix::F32 {
                    rows,
                    cols: t,
                    data: out,
                    one_dim: self.one_dim,
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
                    MatRef::from_row_major_slice(&self.coef, t, p),
                    &self.intercept,
                    &mut out,
                )
                .map_err(err)?;
                Ok(Matrix::F64 {
                    rows,
                    cols: t,
                    data: out,
                    one_dim: self.one_dim,
                })
            }
        }
    }
}

/// Class indices of decision values (n×k row-major).
fn classes_of<T: Real>(decision: &[T], k: usize) -> Result<Vec<usize>, String> {
    let mut idx = vec![0i64; decision.len() / k.max(1)];
    logistic_classes(decision, k, &mut idx).map_err(|e| e.to_string())?;
    Ok(idx.into_iter().map(|i| i as usize).collect())
}

impl Model {
    /// Loads a model file: layout, checksums, compatibility (no Python rows),
    /// schema validation. Returns the warnings to show.
    pub fn load(bytes: &[u8]) -> Result<(Model, Vec<String>), String> {
        let file = parse_file(bytes).map_err(|e| e.to_string())?;
        let arrays = file.arrays();
        let (header, warnings) = open_checked(file.header_json, &arrays, &Runtime::native(), false)
            .map_err(|e| e.to_string())?;
        if !header.fitted {
            return Err("the model is not fitted: there is nothing to predict with".into());
        }
        let kind = Self::kind(&header, &arrays)?;
        Ok((
            Model { kind },
            warnings.iter().map(|w| w.to_string()).collect(),
        ))
    }

    fn kind(header: &Header, arrays: &[ArrayView<'_>]) -> Result<Kind, String> {
        let get = |name: &str| arrays.iter().find(|a| a.name == name);
        let unsupported = || FormatError::UnknownKind {
            kind: header.kind.clone(),
            writer: header.oxlearn_version.clone(),
            reader: env!("CARGO_PKG_VERSION").into(),
            known: "linear models, logistic regression, PCA, KMeans".into(),
        };
        let need = |name: &str| get(name).ok_or_else(|| unsupported().to_string());
        let linear = || Ok::<_, String>(Linear::from_arrays(need("coef_")?, need("intercept_")?));
        match header.kind.as_str() {
            "linear_model.LogisticRegression" => Ok(Kind::Classifier {
                decision: linear()?,
                classes: Labels::read(header, arrays, "classes_").map_err(|e| e.to_string())?,
            }),
            k if k.starts_with("linear_model.") => Ok(Kind::Linear(linear()?)),
            // PCA transforms: the same linear map, in the same kernel, as Python.
            k if k.starts_with("decomposition.") => {
                let components = need("components_")?;
                let (k, p) = match components.shape[..] {
                    [k, p] => (k as usize, p as usize),
                    _ => return Err(unsupported().to_string()),
                };
                let whiten = header.params.get("whiten").and_then(|v| v.as_bool()) == Some(true);
                let variance = if whiten {
                    Some(floats(need("explained_variance_")?))
                } else {
                    None
                };
                let f32_model = components.dtype == DType::Float32;
                let eps = if f32_model {
                    f32::EPSILON as f64
                } else {
                    f64::EPSILON
                };
                let c = floats(components);
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
                Ok(Kind::Linear(Linear {
                    coef_f32: f32_model.then(|| coef.iter().map(|&v| v as f32).collect()),
                    coef,
                    intercept,
                    t: k,
                    one_dim: false,
                }))
            }
            "cluster.KMeans" => {
                let c = need("cluster_centers_")?;
                Ok(Kind::KMeans {
                    centers: floats(c),
                    k: c.shape.first().copied().unwrap_or(0) as usize,
                })
            }
            "cluster.DBSCAN" => Err(format!(
                "{} has no predict: DBSCAN labels only the samples it was fitted on, and \
                 the file holds those labels (labels_, core_sample_indices_, components_; \
                 `oxlearn inspect` lists them); to cluster new data, fit DBSCAN on it",
                header.kind
            )),
            // Valid models of kinds that neither predict nor transform.
            k if k.starts_with("covariance.") || k.starts_with("basic_statistics.") => {
                Err(format!(
                    "{k} models have no predict or transform: there is nothing for the binary \
                     to serve (the file itself verified; `oxlearn inspect` lists its arrays)"
                ))
            }
            _ => Err(unsupported().to_string()),
        }
    }

    /// Predicts values (regressors) or class labels (classifiers), with the
    /// same arithmetic as Python's `predict`.
    pub fn predict(&self, x: &Matrix) -> Result<Prediction, String> {
        match &self.kind {
            Kind::Linear(l) => Ok(Prediction::Values(l.predict(x)?)),
            Kind::Classifier { decision, classes } => {
                let k = decision.t;
                let idx = match decision.predict(x)? {
                    Matrix::F64 { data, .. } => classes_of(&data, k)?,
                    Matrix::F32 { data, .. } => classes_of(&data, k)?,
                };
                classes
                    .take(&idx)
                    .map(Prediction::Labels)
                    .ok_or_else(|| "a predicted class index is out of range".into())
            }
            Kind::KMeans { centers, k } => Ok(Prediction::Labels(kmeans_labels(x, centers, *k)?)),
        }
    }
}

/// `KMeans.predict`: the nearest centre, ties to the lowest index, with the
/// same kernel (and so the same labels) as Python.
fn kmeans_labels(x: &Matrix, centers: &[f64], k: usize) -> Result<Labels, String> {
    let (rows, cols) = match x {
        Matrix::F64 { rows, cols, .. } | Matrix::F32 { rows, cols, .. } => (*rows, *cols),
    };
    let p = centers.len() / k.max(1);
    if cols != p {
        return Err(format!(
            "X has {cols} features, but the model expects {p} (n_features_in_)"
        ));
    }
    let c = MatRef::from_row_major_slice(centers, k, p);
    let mut out = vec![0i32; rows];
    match x {
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
    }
    .map_err(|e| e.to_string())?;
    Ok(Labels::Int {
        values: out.into_iter().map(i64::from).collect(),
        descr: "<i4".into(),
    })
}
