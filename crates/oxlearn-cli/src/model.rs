//! Models loaded from files and served without Python: `oxlearn-format`
//! verifies and validates, `oxlearn-core` predicts.

use crate::npy::{with_view, Matrix};
use faer::MatRef;
use oxlearn_core::cluster::{predict_kmeans, transform_kmeans};
use oxlearn_core::decomposition::pca_transform_map;
use oxlearn_core::ensemble::missing::{missing_go_to_left, predict_forest_missing};
use oxlearn_core::ensemble::{predict_forest_with, ForestRef, PackedForest};
use oxlearn_core::linear_model::{
    logistic_classes, logistic_outputs, predict_linear, LogisticOutput,
};
use oxlearn_core::neighbors::{
    lof_score_samples, unit_rows, vote, weighted_mean, Algorithm, IndexParams, KNeighbors, Metric,
    NeighborIndex, Weights,
};
use oxlearn_core::rows::first_argmax;
use oxlearn_core::svm::{
    ovr_argmax as svm_ovr_argmax, ovr_decision, Kernel as SvmKernel, SvmModelRef, SvmType,
};
use oxlearn_core::validation::{check_finite, shift_located_row, InputRule};
use oxlearn_core::Real;
use oxlearn_format::schema::{self, Serving};
use oxlearn_format::{ArrayView, DType, FormatError, Header, Labels};

/// A verified model, ready to predict.
pub struct Model {
    kind: Kind,
    /// The estimator's class name (`LinearRegression`), as Python's
    /// messages name it.
    class_name: String,
    /// The column names the model was fitted with, if any.
    feature_names: Option<Vec<String>>,
    /// `n_features_in_`: every method checks the input's width against it
    /// first, with scikit-learn's message.
    n_features: Option<usize>,
    /// A transformer (PCA): what [`Model::predict`] computes is Python's
    /// `transform`, which the server serves under that name.
    transformer: bool,
}

/// What `predict` returns: values (regressors) or class labels (classifiers).
pub enum Prediction {
    /// Predicted values, n×t (or n for one target).
    Values(Matrix),
    /// One predicted class label per row.
    Labels(Labels),
}

/// A method of the fitted estimator, as scikit-learn names it: what
/// `oxlearn serve` answers at `POST /v1/models/{name}/{method}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Values, class labels, cluster labels or ±1 (outlier detectors).
    Predict,
    /// A transformer's output (PCA).
    Transform,
    /// Class probabilities, one column per class.
    PredictProba,
    /// Decision values (linear and SVM classifiers, outlier detectors).
    DecisionFunction,
    /// The distances to and indices of the `n_neighbors` nearest training
    /// samples.
    Kneighbors,
}

impl Method {
    /// Every method, in the order the server lists them.
    pub const ALL: [Method; 5] = [
        Method::Predict,
        Method::Transform,
        Method::PredictProba,
        Method::DecisionFunction,
        Method::Kneighbors,
    ];

    /// scikit-learn's name of the method.
    pub fn name(self) -> &'static str {
        match self {
            Method::Predict => "predict",
            Method::Transform => "transform",
            Method::PredictProba => "predict_proba",
            Method::DecisionFunction => "decision_function",
            Method::Kneighbors => "kneighbors",
        }
    }

    /// The method of scikit-learn's name `name`.
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// What a [`Method`] returns.
pub enum Answer {
    /// One array: predictions, transformed rows, probabilities or
    /// decision values.
    Array(Prediction),
    /// `kneighbors`: n×k distances and the training samples' indices.
    Neighbors {
        distances: Matrix,
        indices: Vec<i64>,
    },
}

enum Kind {
    /// `X coefᵀ + intercept`.
    Linear(Linear),
    /// A linear decision function and the class of each row: `d > 0` for
    /// two classes (one coefficient row), else the largest.
    Classifier { decision: Linear, classes: Labels },
    /// k-nearest neighbours: a vote among (classifier) or the mean of
    /// (regressor) the targets of the `k` nearest training samples, LOF's
    /// outlier scores, or the neighbours themselves (`kneighbors`).
    Neighbors(Knn),
    /// The k×p `centers` (float64; exact for float32 models): the nearest
    /// one's int32 label (`KMeans.predict`), or the distance to each
    /// (`KMeans.transform`).
    KMeans {
        centers: Vec<f64>,
        k: usize,
        /// float32 `cluster_centers_`: Python's transform of float32 input
        /// is then float32.
        f32: bool,
    },
    /// A random forest or extra trees: the flat node arrays of every tree.
    Forest(Trees),
    /// A support vector machine: the support vectors and coefficients.
    Svm(Svm),
}

/// A fitted SVM as its file holds it (libsvm's signs), with the class
/// labels of a classifier and whether `predict` breaks ties by the
/// one-vs-rest decision (`break_ties` with 'ovr' and more than 2 classes).
struct Svm {
    class_name: String,
    svm_type: SvmType,
    kernel: SvmKernel,
    sv: Vec<f64>,
    d: usize,
    n_support: Vec<i32>,
    dual_coef: Vec<f64>,
    intercept: Vec<f64>,
    /// Platt's parameters, one per pair of classes (`probability=True`;
    /// empty otherwise).
    prob_a: Vec<f64>,
    prob_b: Vec<f64>,
    classes: Option<Labels>,
    /// `decision_function_shape='ovr'`.
    ovr: bool,
    break_ties: bool,
}

impl Svm {
    fn load(header: &Header, arrays: &[ArrayView<'_>], svm_type: SvmType) -> Result<Svm, String> {
        let need = |name: &str| {
            arrays
                .iter()
                .find(|a| a.name == name)
                .ok_or_else(|| format!("{} has no {name} array", header.kind))
        };
        let num = |v: Option<&serde_json::Value>, what: &str| {
            v.and_then(|v| v.as_f64())
                .ok_or_else(|| format!("{} has no numeric {what}", header.kind))
        };
        let gamma = num(header.attrs.get("_gamma"), "_gamma")?;
        let coef0 = num(header.params.get("coef0"), "coef0")?;
        let name = header.params.get("kernel").and_then(|v| v.as_str());
        if name == Some("precomputed") {
            return Err(format!(
                "{} with kernel=\"precomputed\" is not served by the binary: a precomputed \
                 kernel needs the kernel values of each input against the training samples, \
                 which only the caller can compute; predict it from Python",
                header.kind
            ));
        }
        let degree = header.params.get("degree").and_then(|v| v.as_i64());
        let kernel = SvmKernel::from_name(name.unwrap_or("?"), degree.unwrap_or(-1), gamma, coef0)
            .map_err(|e| format!("{}: {e}", header.kind))?;
        let ints = |a: &ArrayView<'_>| -> Vec<i32> {
            a.data
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let ovr = header
            .params
            .get("decision_function_shape")
            .and_then(|v| v.as_str())
            == Some("ovr");
        let sv_view = need("support_vectors_")?;
        let d = sv_view.shape.get(1).copied().unwrap_or(0) as usize;
        let classes = if svm_type.is_classifier() {
            Some(Labels::read(header, arrays, "classes_").map_err(|e| e.to_string())?)
        } else {
            None
        };
        let svm = Svm {
            class_name: class_name(&header.kind).to_string(),
            svm_type,
            kernel,
            sv: floats(sv_view),
            d,
            n_support: ints(need("_n_support")?),
            dual_coef: floats(need("_dual_coef_")?),
            intercept: floats(need("_intercept_")?),
            prob_a: floats(need("_probA")?),
            prob_b: floats(need("_probB")?),
            ovr,
            break_ties: header.params.get("break_ties").and_then(|v| v.as_bool()) == Some(true)
                && ovr,
            classes,
        };
        let coef = need("_dual_coef_")?;
        let m = svm.model();
        match coef.shape {
            [rows, cols] => m.check(m.n_sv(), d, *rows as usize, *cols as usize),
            _ => m.check(m.n_sv(), d, 0, 0),
        }
        .map_err(|e| e.to_string())?;
        Ok(svm)
    }

    fn model(&self) -> SvmModelRef<'_> {
        SvmModelRef {
            svm_type: self.svm_type,
            kernel: self.kernel,
            sv: &self.sv,
            d: self.d,
            n_support: &self.n_support,
            dual_coef: &self.dual_coef,
            intercept: &self.intercept,
            prob_a: &self.prob_a,
            prob_b: &self.prob_b,
        }
    }

    /// The input as float64 (float32 converted exactly, as Python's
    /// validation converts it), after scikit-learn's feature-count check.
    fn input<'a>(&self, x: &'a Matrix) -> Result<std::borrow::Cow<'a, [f64]>, String> {
        let data = x.as_f64();
        if x.cols() != self.d {
            return Err(format!(
                "X has {} features, but {} is expecting {} features as input.",
                x.cols(),
                self.class_name,
                self.d
            ));
        }
        Ok(data)
    }

    /// Whether the classifier was fitted with `probability=True`: Platt's
    /// parameters for every pair of classes.
    fn has_proba(&self) -> bool {
        self.svm_type.is_classifier()
            && !self.prob_a.is_empty()
            && self.prob_a.len() == self.model().n_decision()
            && self.prob_b.len() == self.prob_a.len()
    }

    /// Python's `predict_proba` (`probability=True`): libsvm's pairwise
    /// Platt probabilities, coupled; the same core function as Python's.
    fn predict_proba(&self, x: &Matrix) -> Result<Matrix, String> {
        let data = self.input(x)?;
        let m = self.model();
        Ok(Matrix::F64 {
            rows: x.rows(),
            cols: m.n_classes(),
            data: m.predict_proba(&data, x.rows()),
            one_dim: false,
        })
    }

    /// Python's `decision_function`: libsvm's pairwise values (`'ovo'`),
    /// their one-vs-rest votes and confidences (`'ovr'`, more than two
    /// classes), the negated single value of two classes, or the one-class
    /// value.
    fn decision_function(&self, x: &Matrix) -> Result<Matrix, String> {
        let data = self.input(x)?;
        let rows = x.rows();
        let m = self.model();
        let dec = m.raw_decision(&data, rows);
        let k = m.n_classes();
        let one = |data: Vec<f64>| Matrix::F64 {
            rows,
            cols: 1,
            data,
            one_dim: true,
        };
        Ok(match self.svm_type {
            SvmType::CSvc | SvmType::NuSvc if k == 2 => one(dec.iter().map(|v| -v).collect()),
            SvmType::CSvc | SvmType::NuSvc if self.ovr => Matrix::F64 {
                rows,
                cols: k,
                data: dec
                    .chunks(m.n_decision())
                    .flat_map(|row| ovr_decision(row, k))
                    .collect(),
                one_dim: false,
            },
            SvmType::CSvc | SvmType::NuSvc => Matrix::F64 {
                rows,
                cols: m.n_decision(),
                data: dec,
                one_dim: false,
            },
            SvmType::OneClass => one(dec),
            SvmType::EpsilonSvr | SvmType::NuSvr => {
                return Err(format!("{} has no decision_function", self.class_name))
            }
        })
    }

    /// Python's `predict`.
    fn predict(&self, x: &Matrix) -> Result<Prediction, String> {
        let data = self.input(x)?;
        let rows = x.rows();
        let m = self.model();
        match (self.svm_type, &self.classes) {
            (SvmType::EpsilonSvr | SvmType::NuSvr, _) => Ok(Prediction::Values(Matrix::F64 {
                rows,
                cols: 1,
                data: m.predict(&data, rows),
                one_dim: true,
            })),
            (SvmType::OneClass, _) => Ok(Prediction::Labels(Labels::Int {
                values: m.predict(&data, rows).iter().map(|&v| v as i64).collect(),
                descr: "<i8".into(),
            })),
            (_, Some(classes)) => {
                let k = m.n_classes();
                let idx: Vec<usize> = if self.break_ties && k > 2 {
                    let dec = m.raw_decision(&data, rows);
                    dec.chunks(m.n_decision())
                        .map(|row| svm_ovr_argmax(row, k))
                        .collect()
                } else {
                    m.predict(&data, rows).iter().map(|&v| v as usize).collect()
                };
                classes
                    .take(&idx)
                    .map(Prediction::Labels)
                    .ok_or_else(|| "a predicted class index is out of range".into())
            }
            (_, None) => Err("an SVM classifier without classes_".into()),
        }
    }
}

/// A tree ensemble: scikit-learn's node arrays of all trees, concatenated
/// with per-tree offsets (as `oxlearn-format`'s ensemble schema), and the
/// labels of a (single-output) classifier.
struct Trees {
    n_features: usize,
    n_outputs: usize,
    max_n_classes: usize,
    offsets: Vec<i64>,
    feature: Vec<i32>,
    threshold: Vec<f64>,
    left: Vec<i32>,
    right: Vec<i32>,
    value: Vec<f64>,
    /// Classifier labels; `None` for a regressor.
    classes: Option<Labels>,
    /// Where a NaN goes at each node (scikit-learn's `missing_go_to_left`).
    go_left: Vec<bool>,
    /// The nodes packed for traversal once at load: packing per call is
    /// most of a small request's time (the server predicts many).
    packed: Option<PackedForest>,
}

/// A k-nearest-neighbours model: the index over `_fit_X` and the targets.
struct Knn {
    index: NeighborIndex,
    /// Cosine: the index holds unit rows and is searched with unit queries.
    cosine: bool,
    /// The neighbours of predict (LocalOutlierFactor: `n_neighbors_`).
    k: usize,
    /// The neighbours of `kneighbors(X)`: the `n_neighbors` parameter.
    k_query: usize,
    weights: Weights,
    target: KnnTarget,
}

enum KnnTarget {
    /// Class numbers of the training samples and their labels.
    Classes { y: Vec<i64>, classes: Labels },
    /// Targets, `n_fit × n_outputs` row-major, float64; `f32` when `_y` is
    /// float32 (Python casts the prediction back); `one_dim` for 1-D `_y`.
    Values {
        y: Vec<f64>,
        n_outputs: usize,
        f32: bool,
        one_dim: bool,
    },
    /// LocalOutlierFactor (novelty): each fitted point's k-th neighbour
    /// distance and local reachability density, and the score threshold.
    Outliers {
        kth_fit: Vec<f64>,
        lrd_fit: Vec<f64>,
        offset: f64,
    },
    /// NearestNeighbors: neighbour queries only; `no_predict` says so.
    Queries { no_predict: String },
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
        let (rows, cols) = (x.rows(), x.cols());
        check_features(cols, p)?;
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
                let xd = x.as_f64();
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

impl Linear {
    /// LogisticRegression's `decision_function` (`output` `None`: one
    /// column raveled, as Python's) or `predict_proba`: the same core
    /// functions as Python's, in the same dtype.
    fn logistic(&self, x: &Matrix, output: Option<LogisticOutput>) -> Result<Matrix, String> {
        let k = self.t;
        let decision = self.predict(x)?;
        let Some(output) = output else {
            return Ok(match decision {
                Matrix::F64 { rows, data, .. } => Matrix::F64 {
                    rows,
                    cols: k,
                    data,
                    one_dim: k == 1,
                },
                Matrix::F32 { rows, data, .. } => Matrix::F32 {
                    rows,
                    cols: k,
                    data,
                    one_dim: k == 1,
                },
            });
        };
        let cols = k.max(2);
        let err = |e: oxlearn_core::Error| e.to_string();
        Ok(match decision {
            Matrix::F64 { rows, data, .. } => {
                let mut out = vec![0f64; rows * cols];
                logistic_outputs(&data, k, output, &mut out).map_err(err)?;
                Matrix::F64 {
                    rows,
                    cols,
                    data: out,
                    one_dim: false,
                }
            }
            Matrix::F32 { rows, data, .. } => {
                let mut out = vec![0f32; rows * cols];
                logistic_outputs(&data, k, output, &mut out).map_err(err)?;
                Matrix::F32 {
                    rows,
                    cols,
                    data: out,
                    one_dim: false,
                }
            }
        })
    }
}

/// Class indices of decision values (n×k row-major).
fn classes_of<T: Real>(decision: &[T], k: usize) -> Result<Vec<usize>, String> {
    let mut idx = vec![0i64; decision.len() / k.max(1)];
    logistic_classes(decision, k, &mut idx).map_err(|e| e.to_string())?;
    Ok(idx.into_iter().map(|i| i as usize).collect())
}

impl Model {
    /// The model of a verified and validated header (a file's, or a part
    /// of a pipeline's, `Header::part`) and its arrays.
    pub fn from_header(header: &Header, arrays: &[ArrayView<'_>]) -> Result<Model, String> {
        if !header.fitted {
            return Err("the model is not fitted: there is nothing to predict with".into());
        }
        let kind = Self::kind(header, arrays)?;
        Ok(Model {
            kind,
            class_name: class_name(&header.kind).to_owned(),
            feature_names: header.feature_names_in.clone(),
            n_features: header.n_features_in.map(|n| n as usize),
            transformer: serving(&header.kind) == Some(Serving::Pca),
        })
    }

    /// Whether Python's method for what [`Model::predict`] computes is
    /// `transform` (PCA) rather than `predict`.
    pub fn is_transformer(&self) -> bool {
        self.transformer
    }

    /// Checks the input's column names (a CSV header) against those the
    /// model was fitted with, as scikit-learn's `_check_feature_names`
    /// does: different names or order are an error (with scikit-learn's
    /// message); names on one side only give its warning, returned.
    pub fn check_feature_names(&self, names: Option<&[String]>) -> Result<Option<String>, String> {
        check_feature_names(&self.class_name, self.feature_names.as_deref(), names)
    }

    /// The characters of the longest class label, for string labels: the
    /// width of Python's `predict` output (`classes_`'s dtype), whichever
    /// rows are predicted. `None` for a model without classes.
    pub fn label_width(&self) -> Option<usize> {
        let classes = match &self.kind {
            Kind::Classifier { classes, .. } => classes,
            Kind::Neighbors(Knn {
                target: KnnTarget::Classes { classes, .. },
                ..
            }) => classes,
            Kind::Forest(Trees {
                classes: Some(classes),
                ..
            }) => classes,
            _ => return None,
        };
        Some(crate::npy::labels_width(classes))
    }

    fn kind(header: &Header, arrays: &[ArrayView<'_>]) -> Result<Kind, String> {
        let missing = |name: &str| {
            FormatError::MissingArray {
                kind: header.kind.clone(),
                name: name.into(),
            }
            .to_string()
        };
        let need = |name: &str| {
            arrays
                .iter()
                .find(|a| a.name == name)
                .ok_or_else(|| missing(name))
        };
        let linear = || Ok::<_, String>(Linear::from_arrays(need("coef_")?, need("intercept_")?));
        match serving(&header.kind) {
            None => Err(FormatError::UnknownKind {
                kind: header.kind.clone(),
                writer: header.oxlearn_version.clone(),
                reader: env!("CARGO_PKG_VERSION").into(),
                known: schema::known_kinds().join(", "),
            }
            .to_string()),
            Some(Serving::Step) => Err(format!(
                "{} is a scikit-learn step: the binary serves it within a pipeline or column \
                 transformer, not as an estimator",
                header.kind
            )),
            Some(Serving::Refused(why)) => Err(format!("{} {why}", header.kind)),
            Some(Serving::Linear) => Ok(Kind::Linear(linear()?)),
            Some(Serving::LinearClassifier) => Ok(Kind::Classifier {
                decision: linear()?,
                classes: Labels::read(header, arrays, "classes_").map_err(|e| e.to_string())?,
            }),
            Some(Serving::Neighbors) => Ok(Kind::Neighbors(Knn::load(header, arrays)?)),
            // PCA transforms: the same linear map, in the same kernel, as Python.
            Some(Serving::Pca) => {
                let components = need("components_")?;
                let (k, p) = match components.shape[..] {
                    [k, p] => (k as usize, p as usize),
                    _ => {
                        return Err(FormatError::InvalidArray {
                            kind: header.kind.clone(),
                            name: "components_".into(),
                            reason: format!(
                                "shape is {:?}, expected 2 dimensions",
                                components.shape
                            ),
                        }
                        .to_string())
                    }
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
            Some(Serving::Forest) => Ok(Kind::Forest(Trees::load(header, arrays)?)),
            Some(Serving::Svm(formulation)) => {
                Ok(Kind::Svm(Svm::load(header, arrays, formulation)?))
            }
            Some(Serving::NearestCenter) => {
                let c = need("cluster_centers_")?;
                Ok(Kind::KMeans {
                    centers: floats(c),
                    k: c.shape.first().copied().unwrap_or(0) as usize,
                    f32: c.dtype == DType::Float32,
                })
            }
        }
    }

    /// [`Model::predict`] on rows of a larger input, the first being row
    /// `first_row` of it: a message locating a value names its row in the
    /// whole input, and one giving the number of rows gives `batch_rows`
    /// (the whole input's; `None`: not known yet, see
    /// [`Model::rows_error`]).
    pub fn predict_rows(
        &self,
        x: &Matrix,
        first_row: usize,
        batch_rows: Option<usize>,
    ) -> Result<Prediction, String> {
        self.predict(x).map_err(|e| match batch_rows {
            Some(n) if self.rows_error(x.rows()).as_ref() == Some(&e) => {
                self.rows_error(n).unwrap_or(e)
            }
            _ => shift_located_row(&e, first_row),
        })
    }

    /// The error every input of `n_samples` rows gets, whatever its values
    /// (a kNN model asked for more neighbours than it holds): its message
    /// gives the input's number of rows.
    pub fn rows_error(&self, n_samples: usize) -> Option<String> {
        match &self.kind {
            Kind::Neighbors(knn) => knn.rows_error(n_samples),
            _ => None,
        }
    }

    /// The methods the binary computes for this model, each with the same
    /// arithmetic (and so the same bits) as Python's.
    pub fn methods(&self) -> Vec<Method> {
        use Method::*;
        match &self.kind {
            Kind::Linear(_) if self.transformer => vec![Transform],
            Kind::Linear(_) => vec![Predict],
            Kind::KMeans { .. } => vec![Predict, Transform],
            Kind::Classifier { .. } => vec![Predict, PredictProba, DecisionFunction],
            Kind::Neighbors(knn) => match knn.target {
                KnnTarget::Classes { .. } => vec![Predict, PredictProba, Kneighbors],
                KnnTarget::Values { .. } => vec![Predict, Kneighbors],
                KnnTarget::Outliers { .. } => vec![Predict, DecisionFunction, Kneighbors],
                KnnTarget::Queries { .. } => vec![Kneighbors],
            },
            Kind::Forest(Trees {
                classes: Some(_), ..
            }) => vec![Predict, PredictProba],
            Kind::Forest(_) => vec![Predict],
            Kind::Svm(svm) if svm.has_proba() => vec![Predict, PredictProba, DecisionFunction],
            Kind::Svm(svm) if svm.svm_type.is_classifier() => vec![Predict, DecisionFunction],
            Kind::Svm(Svm {
                svm_type: SvmType::OneClass,
                ..
            }) => vec![Predict, DecisionFunction],
            Kind::Svm(_) => vec![Predict],
        }
    }

    /// Python's `method` on `x`: an error for a method not in
    /// [`Model::methods`].
    pub fn call(&self, method: Method, x: &Matrix) -> Result<Answer, String> {
        if !self.methods().contains(&method) {
            return Err(self.no_method(method));
        }
        self.check_input(x)?;
        let values = |m: Matrix| Ok(Answer::Array(Prediction::Values(m)));
        match (method, &self.kind) {
            (Method::Transform, Kind::KMeans { centers, k, f32 }) => {
                values(kmeans_distances(x, centers, *k, *f32)?)
            }
            (Method::Predict | Method::Transform, _) => self.dispatch(x).map(Answer::Array),
            (Method::PredictProba, Kind::Classifier { decision, .. }) => {
                values(decision.logistic(x, Some(LogisticOutput::Proba))?)
            }
            (Method::DecisionFunction, Kind::Classifier { decision, .. }) => {
                values(decision.logistic(x, None)?)
            }
            (Method::PredictProba, Kind::Forest(trees)) => values(trees.predict_proba(x)?),
            (Method::PredictProba, Kind::Neighbors(knn)) => values(knn.predict_proba(x)?),
            (Method::DecisionFunction, Kind::Neighbors(knn)) => values(knn.decision_function(x)?),
            (Method::Kneighbors, Kind::Neighbors(knn)) => {
                let (distances, indices) = knn.kneighbors(x)?;
                Ok(Answer::Neighbors { distances, indices })
            }
            (Method::DecisionFunction, Kind::Svm(svm)) => values(svm.decision_function(x)?),
            (Method::PredictProba, Kind::Svm(svm)) => values(svm.predict_proba(x)?),
            _ => Err(self.no_method(method)),
        }
    }

    /// Why the model has neither `predict` nor `transform`, if so
    /// (NearestNeighbors: neighbour queries only).
    pub fn no_predict(&self) -> Option<&str> {
        match &self.kind {
            Kind::Neighbors(Knn {
                target: KnnTarget::Queries { no_predict },
                ..
            }) => Some(no_predict),
            _ => None,
        }
    }

    fn no_method(&self, method: Method) -> String {
        let served: Vec<&str> = self.methods().iter().map(|m| m.name()).collect();
        format!(
            "{} has no {} served by the binary (it serves: {})",
            self.class_name,
            method.name(),
            served.join(", ")
        )
    }

    /// Predicts values (regressors) or class labels (classifiers), with the
    /// same arithmetic as Python's `predict` (or `transform`, for PCA).
    pub fn predict(&self, x: &Matrix) -> Result<Prediction, String> {
        if let Some(why) = self.no_predict() {
            return Err(why.to_owned());
        }
        self.check_input(x)?;
        self.dispatch(x)
    }

    /// scikit-learn's checks of the input that Python's methods run before
    /// the Rust kernels: at least one row, and the kind's non-finite rule.
    fn check_input(&self, x: &Matrix) -> Result<(), String> {
        let rule = self.input_rule();
        if x.rows() == 0 {
            // scikit-learn's check_array message, as Python raises it
            // (LocalOutlierFactor's validation names no estimator).
            let by = match rule {
                Some(InputRule {
                    estimator: None, ..
                }) => String::new(),
                _ => format!(" by {}", self.class_name),
            };
            return Err(format!(
                "Found array with 0 sample(s) (shape=(0, {})) while a minimum of 1 is \
                 required{by}.",
                x.cols()
            ));
        }
        if let Some(rule) = rule {
            match x {
                Matrix::F64 { data, cols, .. } => check_finite(data, *cols, &rule)?,
                Matrix::F32 { data, cols, .. } => check_finite(data, *cols, &rule)?,
            }
        }
        // scikit-learn's validate_data(reset=False): after check_array.
        match self.n_features {
            Some(p) if x.cols() != p => Err(format!(
                "X has {} features, but {} is expecting {p} features as input.",
                x.cols(),
                self.class_name
            )),
            _ => Ok(()),
        }
    }

    /// [`Model::predict`] of a checked input.
    fn dispatch(&self, x: &Matrix) -> Result<Prediction, String> {
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
            Kind::Neighbors(knn) => knn.predict(x),
            Kind::KMeans { centers, k, .. } => {
                Ok(Prediction::Labels(kmeans_labels(x, centers, *k)?))
            }
            Kind::Forest(trees) => trees.predict(x),
            Kind::Svm(svm) => svm.predict(x),
        }
    }
}

impl Model {
    /// The non-finite rule of kinds whose Python `predict` validates with
    /// scikit-learn's rule rather than in the Rust kernels (the kernels'
    /// own check, the same code as Python's, covers the others): kNN
    /// (scikit-learn's message naming the estimator), LocalOutlierFactor
    /// (an unnamed input), forests (NaN routed; infinity refused for
    /// float32, the dtype the trees compare).
    fn input_rule(&self) -> Option<InputRule<'_>> {
        let named = InputRule {
            allow_nan: false,
            input_name: "X",
            estimator: Some(&self.class_name),
            dtype: None,
            locate: false,
        };
        match &self.kind {
            Kind::Neighbors(Knn {
                target: KnnTarget::Outliers { .. },
                ..
            }) => Some(InputRule {
                input_name: "",
                estimator: None,
                ..named
            }),
            Kind::Neighbors(_) | Kind::Svm(_) => Some(named),
            Kind::Forest(_) => Some(InputRule {
                allow_nan: true,
                dtype: Some("float32"),
                ..named
            }),
            _ => None,
        }
    }
}

/// The JSON value of a header attribute or parameter, `None` when absent or null.
fn setting<'a>(header: &'a Header, name: &str) -> Option<&'a serde_json::Value> {
    header
        .attrs
        .get(name)
        .or_else(|| header.params.get(name))
        .filter(|v| !v.is_null())
}

fn ints_of(a: &ArrayView<'_>) -> Vec<i64> {
    match a.dtype {
        DType::Int64 => a
            .data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
        DType::Int32 => a
            .data
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
            .collect(),
        _ => Vec::new(),
    }
}

impl Knn {
    /// Rebuilds the search index from `_fit_X`, as Python does after a load.
    /// Models that Python serves with scikit-learn's implementation (sparse
    /// training data, other metrics, `metric_params`, several outputs of a
    /// classifier) are refused rather than approximated.
    fn load(header: &Header, arrays: &[ArrayView<'_>]) -> Result<Knn, String> {
        let kind = &header.kind;
        check_knn_params(header)?;
        let get = |name: &str| arrays.iter().find(|a| a.name == name);
        let refuse = |why: String| {
            format!(
                "{kind}: {why}; Python predicts with scikit-learn's implementation there, \
                 which the binary does not serve"
            )
        };
        let fit_x = get("_fit_X")
            .ok_or_else(|| refuse("the training data is sparse (stored as CSR arrays)".into()))?;
        if let Some(mp) = header.params.get("metric_params") {
            let empty = mp.is_null()
                || mp
                    .get("__dict__")
                    .and_then(|d| d.as_object())
                    .is_some_and(|d| d.is_empty());
            if !empty {
                return Err(refuse(format!("metric_params={mp}")));
            }
        }
        let metric_name = setting(header, "effective_metric_")
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("{kind}: attrs.effective_metric_ is missing or not a string"))?;
        let p = setting(header, "effective_metric_params_")
            .and_then(|v| v.get("__dict__").unwrap_or(v).get("p"))
            .and_then(|p| p.as_f64());
        let cosine = metric_name == "cosine";
        let metric = if cosine {
            Metric::Euclidean
        } else {
            Metric::from_name(metric_name, p).map_err(|e| refuse(e.to_string()))?
        };
        let algorithm = setting(header, "_fit_method")
            .and_then(|v| v.as_str())
            .unwrap_or("auto");
        let params = IndexParams {
            algorithm: Algorithm::from_name(algorithm).map_err(|e| e.to_string())?,
            leaf_size: setting(header, "leaf_size")
                .and_then(|v| v.as_u64())
                .unwrap_or(0) as usize,
        };
        let (n, d) = match fit_x.shape[..] {
            [n, d] => (n as usize, d as usize),
            _ => return Err(format!("{kind}: _fit_X is not two-dimensional")),
        };
        let index = if cosine {
            // Python's arithmetic: unit rows of the float64 values.
            let v = floats(fit_x);
            let (unit, zero) =
                unit_rows(MatRef::from_row_major_slice(&v, n, d)).map_err(|e| e.to_string())?;
            if zero {
                return Err(refuse(
                    "metric='cosine' with an all-zero training row".into(),
                ));
            }
            NeighborIndex::build(MatRef::from_row_major_slice(&unit, n, d), metric, params)
        } else {
            match fit_x.dtype {
                DType::Float32 => {
                    let v: Vec<f32> = floats(fit_x).into_iter().map(|x| x as f32).collect();
                    NeighborIndex::build(MatRef::from_row_major_slice(&v, n, d), metric, params)
                }
                _ => {
                    let v = floats(fit_x);
                    NeighborIndex::build(MatRef::from_row_major_slice(&v, n, d), metric, params)
                }
            }
        }
        .map_err(|e| e.to_string())?;
        let lof = kind == "neighbors.LocalOutlierFactor";
        let k_name = if lof { "n_neighbors_" } else { "n_neighbors" };
        let k = setting(header, k_name)
            .and_then(|v| v.as_u64())
            .ok_or_else(|| format!("{kind}: {k_name} is missing or not an integer"))?
            as usize;
        if lof {
            let target = lof_target(header, arrays, n, k, &refuse)?;
            let k_query = setting(header, "n_neighbors")
                .and_then(|v| v.as_u64())
                .ok_or_else(|| format!("{kind}: n_neighbors is missing or not an integer"))?
                as usize;
            return Ok(Knn {
                index,
                cosine,
                k,
                k_query,
                weights: Weights::Uniform,
                target,
            });
        }
        if kind == "neighbors.NearestNeighbors" {
            return Ok(Knn {
                index,
                cosine,
                k,
                k_query: k,
                weights: Weights::Uniform,
                target: KnnTarget::Queries {
                    no_predict: format!(
                        "{kind} has no predict: it answers neighbour queries only \
                         (kneighbors), which `oxlearn serve` serves at \
                         POST /v1/models/NAME/kneighbors"
                    ),
                },
            });
        }
        let weights = match setting(header, "weights").and_then(|v| v.as_str()) {
            Some(w) => Weights::from_name(w).map_err(|e| refuse(e.to_string()))?,
            None => return Err(refuse("weights is not a named weighting".into())),
        };
        let y = get("_y").ok_or_else(|| format!("{kind}: the _y array is missing"))?;
        let target = if kind == "neighbors.KNeighborsClassifier" {
            if y.shape.len() != 1 {
                return Err(refuse("the classifier has several outputs".into()));
            }
            KnnTarget::Classes {
                y: ints_of(y),
                classes: knn_labels(header, arrays)?,
            }
        } else {
            let one_dim = y.shape.len() == 1;
            let n_outputs = if one_dim { 1 } else { y.shape[1] as usize };
            let values = match y.dtype {
                DType::Float64 | DType::Float32 => floats(y),
                _ => ints_of(y).into_iter().map(|v| v as f64).collect(),
            };
            KnnTarget::Values {
                y: values,
                n_outputs,
                // scikit-learn's mean keeps float32; its weighted sum is float64.
                f32: y.dtype == DType::Float32 && weights == Weights::Uniform,
                one_dim,
            }
        };
        Ok(Knn {
            index,
            cosine,
            k,
            k_query: k,
            weights,
            target,
        })
    }

    /// scikit-learn's refusal of a model asked for more neighbours than
    /// it holds, for a query of `n_samples` rows.
    fn rows_error(&self, n_samples: usize) -> Option<String> {
        rows_error_k(self.k, self.index.n_points(), n_samples)
    }

    /// The `self.k` nearest neighbours of each row of `x`.
    fn neighbors(&self, x: &Matrix) -> Result<KNeighbors, String> {
        self.neighbors_k(x, self.k)
    }

    /// The `k` nearest neighbours of each row of `x`, with Python's
    /// distances (cosine: from the unit rows' euclidean ones).
    fn neighbors_k(&self, x: &Matrix, k: usize) -> Result<KNeighbors, String> {
        if let Some(e) = rows_error_k(k, self.index.n_points(), x.rows()) {
            return Err(e);
        }
        let p = self.index.n_features();
        let err = |e: oxlearn_core::Error| e.to_string();
        let (rows, cols) = (x.rows(), x.cols());
        check_features(cols, p)?;
        if self.cosine {
            let (unit, zero) = with_view!(x, |xm| unit_rows(xm)).map_err(err)?;
            if zero {
                return Err(
                    "metric='cosine' with an all-zero query row: Python answers with \
                     scikit-learn's implementation there, which the binary does not serve"
                        .into(),
                );
            }
            let mut nb = self
                .index
                .kneighbors(MatRef::from_row_major_slice(&unit, rows, cols), k, 0)
                .map_err(err)?;
            // The cosine distance, as Python computes it from the euclidean one.
            nb.euclidean_to_cosine();
            return Ok(nb);
        }
        with_view!(x, |xm| self.index.kneighbors(xm, k, 0)).map_err(err)
    }

    /// Python's `kneighbors(X)`: the distances and indices of the `n_neighbors` nearest
    /// training samples, nearest first.
    fn kneighbors(&self, x: &Matrix) -> Result<(Matrix, Vec<i64>), String> {
        let nb = self.neighbors_k(x, self.k_query)?;
        let (rows, k) = (x.rows(), self.k_query);
        let indices = nb.indices.iter().map(|&i| i as i64).collect();
        // float64 distances whatever the dtype, as Python's binding returns.
        let distances = Matrix::F64 {
            rows,
            cols: k,
            data: nb.distances,
            one_dim: false,
        };
        Ok((distances, indices))
    }

    /// The classifier's `predict_proba`: the (weighted) share of each
    /// class among the neighbours, the same core vote as Python's.
    fn predict_proba(&self, x: &Matrix) -> Result<Matrix, String> {
        let KnnTarget::Classes { y, classes } = &self.target else {
            return Err("predict_proba of a model without classes".into());
        };
        let nb = self.neighbors(x)?;
        let c = classes.len();
        Ok(Matrix::F64 {
            rows: x.rows(),
            cols: c,
            data: vote(&nb, y, c, self.weights).map_err(|e| e.to_string())?,
            one_dim: false,
        })
    }

    /// LocalOutlierFactor's `decision_function`: `score_samples - offset_`.
    /// float32 input is refused: Python scores it with scikit-learn's code
    /// (numpy's means of float32 distances), whose bits the core's do not
    /// reproduce.
    fn decision_function(&self, x: &Matrix) -> Result<Matrix, String> {
        let KnnTarget::Outliers {
            kth_fit,
            lrd_fit,
            offset,
        } = &self.target
        else {
            return Err("decision_function of a model that is not an outlier detector".into());
        };
        if let Matrix::F32 { .. } = x {
            return Err(
                "LocalOutlierFactor: float32 input is scored with scikit-learn's \
                        implementation in Python, which the binary does not serve; send \
                        float64 values"
                    .into(),
            );
        }
        let nb = self.neighbors(x)?;
        let scores = lof_score_samples(&nb, kth_fit, lrd_fit).map_err(|e| e.to_string())?;
        Ok(Matrix::F64 {
            rows: x.rows(),
            cols: 1,
            data: scores.iter().map(|s| s - offset).collect(),
            one_dim: true,
        })
    }

    /// Predicts as Python's `predict` does: the first class of largest
    /// (weighted) share, ±1 by the sign of the outlier score, or the
    /// (weighted) mean target.
    fn predict(&self, x: &Matrix) -> Result<Prediction, String> {
        let err = |e: oxlearn_core::Error| e.to_string();
        match &self.target {
            KnnTarget::Queries { no_predict } => Err(no_predict.clone()),
            KnnTarget::Classes { classes, .. } => {
                let proba = self.predict_proba(x)?;
                let c = classes.len();
                let Matrix::F64 { data, .. } = proba else {
                    return Err("internal error: float32 class shares".into());
                };
                let idx: Vec<usize> = data.chunks_exact(c.max(1)).map(first_argmax).collect();
                classes
                    .take(&idx)
                    .map(Prediction::Labels)
                    .ok_or_else(|| "a predicted class index is out of range".into())
            }
            KnnTarget::Outliers { .. } => {
                // Python's predict: -1 where decision_function < 0, else 1.
                let Matrix::F64 { data, .. } = self.decision_function(x)? else {
                    return Err("internal error: float32 outlier scores".into());
                };
                Ok(Prediction::Labels(Labels::Int {
                    values: data.iter().map(|&d| if d < 0.0 { -1 } else { 1 }).collect(),
                    descr: "<i8".into(),
                }))
            }
            KnnTarget::Values {
                y,
                n_outputs,
                f32,
                one_dim,
            } => {
                let nb = self.neighbors(x)?;
                let out = weighted_mean(&nb, y, *n_outputs, self.weights).map_err(err)?;
                let rows = out.len() / (*n_outputs).max(1);
                let cols = *n_outputs;
                Ok(Prediction::Values(if *f32 {
                    Matrix::F32 {
                        rows,
                        cols,
                        data: out.iter().map(|&v| v as f32).collect(),
                        one_dim: *one_dim,
                    }
                } else {
                    Matrix::F64 {
                        rows,
                        cols,
                        data: out,
                        one_dim: *one_dim,
                    }
                }))
            }
        }
    }
}

/// How the binary serves `kind` (its registry entry's [`Serving`]); `None`
/// for a kind this build does not know.
fn serving(kind: &str) -> Option<Serving> {
    schema::lookup(kind).map(|s| s.serving)
}

/// The class name of a kind (`linear_model.Ridge` → `Ridge`), as Python's
/// messages name the estimator.
pub fn class_name(kind: &str) -> &str {
    kind.rsplit('.').next().unwrap_or(kind)
}

/// Checks the input's column names (a CSV header) against those estimator
/// `est` was fitted with (`fitted`), as scikit-learn's
/// `_check_feature_names` does: different names or order are an error
/// (with scikit-learn's message); names on one side only give its
/// warning, returned.
pub fn check_feature_names(
    est: &str,
    fitted: Option<&[String]>,
    names: Option<&[String]>,
) -> Result<Option<String>, String> {
    match (fitted, names) {
        (None, None) => Ok(None),
        (None, Some(_)) => Ok(Some(format!(
            "X has feature names, but {est} was fitted without feature names"
        ))),
        (Some(_), None) => Ok(Some(format!(
            "X does not have valid feature names, but {est} was fitted with feature names"
        ))),
        (Some(fitted), Some(given)) if fitted == given => Ok(None),
        (Some(fitted), Some(given)) => {
            use std::collections::BTreeSet;
            let f: BTreeSet<&String> = fitted.iter().collect();
            let g: BTreeSet<&String> = given.iter().collect();
            let list = |names: Vec<&&String>| {
                let mut out = String::new();
                for (i, name) in names.iter().enumerate() {
                    if i >= 5 {
                        out.push_str("- ...\n");
                        break;
                    }
                    out.push_str(&format!("- {name}\n"));
                }
                out
            };
            let unexpected: Vec<_> = g.difference(&f).collect();
            let missing: Vec<_> = f.difference(&g).collect();
            let mut msg =
                "The feature names should match those that were passed during fit.\n".to_owned();
            if !unexpected.is_empty() {
                msg.push_str("Feature names unseen at fit time:\n");
                msg.push_str(&list(unexpected.clone()));
            }
            if !missing.is_empty() {
                msg.push_str("Feature names seen at fit time, yet now missing:\n");
                msg.push_str(&list(missing.clone()));
            }
            if unexpected.is_empty() && missing.is_empty() {
                msg.push_str("Feature names must be in the same order as they were in fit.\n");
            }
            Err(msg)
        }
    }
}

/// Python's load checks a file's parameters against scikit-learn's
/// `_parameter_constraints` and refuses it as corrupt; the binary refuses
/// the same kNN files with the same words (the parameters it reads).
fn check_knn_params(header: &Header) -> Result<(), String> {
    let class = header.kind.rsplit('.').next().unwrap_or(&header.kind);
    let refuse = |name: &str, constraint: &str, got: &serde_json::Value| {
        let got = match got {
            serde_json::Value::String(s) => format!("'{s}'"),
            serde_json::Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
            other => other.to_string(),
        };
        Err(format!(
            "The '{name}' parameter of {class} must be {constraint}. Got {got} instead.;              the model data is corrupt"
        ))
    };
    let int_at_least_1 = |v: &serde_json::Value| v.as_u64().is_some_and(|n| n >= 1);
    for (name, value) in &header.params {
        match name.as_str() {
            "n_neighbors" if !(value.is_null() || int_at_least_1(value)) => {
                return refuse(name, "an int in the range [1, inf) or None", value)
            }
            "leaf_size" if !int_at_least_1(value) => {
                return refuse(name, "an int in the range [1, inf)", value)
            }
            "p" if value.as_f64().is_some_and(|p| p <= 0.0) => {
                return refuse(name, "a float in the range (0.0, inf] or None", value)
            }
            "algorithm"
                if !value
                    .as_str()
                    .is_some_and(|a| ["auto", "ball_tree", "kd_tree", "brute"].contains(&a)) =>
            {
                return refuse(
                    name,
                    "a str among {'auto', 'ball_tree', 'brute', 'kd_tree'}",
                    value,
                )
            }
            _ => {}
        }
    }
    Ok(())
}

/// scikit-learn's refusal of `k` neighbours from `n_fit` samples, for a
/// query of `n_samples` rows.
fn rows_error_k(k: usize, n_fit: usize, n_samples: usize) -> Option<String> {
    (k > n_fit).then(|| {
        format!(
            "Expected n_neighbors <= n_samples_fit, but n_neighbors = {k}, \
             n_samples_fit = {n_fit}, n_samples = {n_samples}"
        )
    })
}

/// The novelty-scoring state of a LocalOutlierFactor file: Python scores
/// float64 models with the same core function; float32 ones and
/// `novelty=False` (no predict) are refused.
fn lof_target(
    header: &Header,
    arrays: &[ArrayView<'_>],
    n: usize,
    k: usize,
    refuse: &dyn Fn(String) -> String,
) -> Result<KnnTarget, String> {
    let kind = &header.kind;
    if setting(header, "novelty").and_then(|v| v.as_bool()) != Some(true) {
        return Err(format!(
            "{kind} has no predict: it was fitted with novelty=False (fit_predict labels \
             the training data, whose scores are in the file as negative_outlier_factor_)"
        ));
    }
    let get = |name: &str| arrays.iter().find(|a| a.name == name);
    let (Some(dist), Some(lrd)) = (get("_distances_fit_X_"), get("_lrd")) else {
        return Err(format!("{kind}: _distances_fit_X_ or _lrd is missing"));
    };
    if lrd.dtype != DType::Float64 || dist.dtype != DType::Float64 {
        return Err(refuse("the model is float32".into()));
    }
    if dist.shape != [n as u64, k as u64] || lrd.shape != [n as u64] || k == 0 {
        return Err(format!(
            "{kind}: _distances_fit_X_ or _lrd does not match _fit_X"
        ));
    }
    let offset = setting(header, "offset_")
        .and_then(|v| v.as_f64())
        .ok_or_else(|| format!("{kind}: attrs.offset_ is missing or not a number"))?;
    Ok(KnnTarget::Outliers {
        kth_fit: floats(dist).chunks_exact(k).map(|r| r[k - 1]).collect(),
        lrd_fit: floats(lrd),
        offset,
    })
}

fn check_features(cols: usize, p: usize) -> Result<(), String> {
    if cols != p {
        return Err(format!(
            "X has {cols} features, but the model expects {p} (n_features_in_)"
        ));
    }
    Ok(())
}

/// The class labels of a kNN classifier: the `classes_` array, or the
/// header attributes `_classes_list` and `_classes_dtype` (labels with no
/// array dtype, e.g. strings), read through the format's label validation.
fn knn_labels(header: &Header, arrays: &[ArrayView<'_>]) -> Result<Labels, String> {
    if let (Some(list), Some(dtype)) = (
        header.attrs.get("_classes_list"),
        header.attrs.get("_classes_dtype"),
    ) {
        let n = list.as_array().map_or(0, |l| l.len());
        let mut h = header.clone();
        h.attrs.insert(
            "classes_".into(),
            serde_json::json!({"__ndarray__": list, "dtype": dtype, "shape": [n]}),
        );
        return Labels::read(&h, arrays, "classes_").map_err(|e| e.to_string());
    }
    Labels::read(header, arrays, "classes_").map_err(|e| e.to_string())
}

/// `KMeans.transform`: the euclidean distance of each row to each centre,
/// the same kernel as Python's (float32 when the input and centres are).
fn kmeans_distances(x: &Matrix, centers: &[f64], k: usize, f32: bool) -> Result<Matrix, String> {
    let (rows, cols) = (x.rows(), x.cols());
    let p = centers.len() / k.max(1);
    check_features(cols, p)?;
    let c = MatRef::from_row_major_slice(centers, k, p);
    let mut out = vec![0f64; rows * k];
    with_view!(x, |xm| transform_kmeans(xm, c, 0, &mut out)).map_err(|e| e.to_string())?;
    Ok(match x {
        Matrix::F32 { .. } if f32 => Matrix::F32 {
            rows,
            cols: k,
            data: out.iter().map(|&v| v as f32).collect(),
            one_dim: false,
        },
        _ => Matrix::F64 {
            rows,
            cols: k,
            data: out,
            one_dim: false,
        },
    })
}

/// `KMeans.predict`: the nearest centre, ties to the lowest index, with the
/// same kernel (and so the same labels) as Python.
fn kmeans_labels(x: &Matrix, centers: &[f64], k: usize) -> Result<Labels, String> {
    let p = centers.len() / k.max(1);
    check_features(x.cols(), p)?;
    let c = MatRef::from_row_major_slice(centers, k, p);
    let mut out = vec![0i32; x.rows()];
    with_view!(x, |xm| predict_kmeans(xm, c, 0, &mut out)).map_err(|e| e.to_string())?;
    Ok(Labels::Int {
        values: out.into_iter().map(i64::from).collect(),
        descr: "<i4".into(),
    })
}

impl Trees {
    /// The forest arrays of a (validated) model file. Multi-output
    /// classifiers are refused: the binary writes one label per row.
    fn load(header: &Header, arrays: &[ArrayView<'_>]) -> Result<Trees, String> {
        let kind = &header.kind;
        let need = |name: &str| {
            arrays
                .iter()
                .find(|a| a.name == name)
                .ok_or_else(|| format!("{kind}: the {name} array is missing"))
        };
        let value = need("value")?;
        let (n_outputs, max_n_classes) = match value.shape[..] {
            [_, o, c] => (o as usize, c as usize),
            _ => return Err(format!("{kind}: value is not three-dimensional")),
        };
        let i32s = |name: &str| -> Result<Vec<i32>, String> {
            Ok(ints_of(need(name)?).into_iter().map(|v| v as i32).collect())
        };
        let classes = if kind.ends_with("Classifier") {
            if n_outputs != 1 {
                return Err(format!(
                    "{kind}: the classifier has several outputs ({n_outputs}); the binary \
                     writes one label per row (predict in Python)"
                ));
            }
            Some(Labels::read(header, arrays, "classes_").map_err(|e| e.to_string())?)
        } else {
            None
        };
        let mut trees = Trees {
            n_features: header.n_features_in.unwrap_or(0) as usize,
            n_outputs,
            max_n_classes,
            offsets: ints_of(need("tree_offsets")?),
            feature: i32s("feature")?,
            threshold: floats(need("threshold")?),
            left: i32s("children_left")?,
            right: i32s("children_right")?,
            value: floats(value),
            classes,
            go_left: Vec::new(),
            packed: None,
        };
        // Validates, as predict_forest would at every call.
        let packed = PackedForest::new(&trees.view()).map_err(|e| e.to_string())?;
        trees.packed = Some(packed);
        let stored = arrays.iter().find(|a| a.name == "missing_go_to_left");
        trees.go_left = missing_go_to_left(
            &trees.view(),
            &ints_of(need("n_node_samples")?),
            stored.map(|a| a.data),
        )
        .map_err(|e| e.to_string())?;
        Ok(trees)
    }

    fn view(&self) -> ForestRef<'_> {
        ForestRef {
            n_features: self.n_features,
            n_outputs: self.n_outputs,
            max_n_classes: self.max_n_classes,
            tree_offsets: &self.offsets,
            feature: &self.feature,
            threshold: &self.threshold,
            left: &self.left,
            right: &self.right,
            value: &self.value,
        }
    }

    /// The mean of the trees' leaf values, `rows × value_stride`: the same
    /// core function as Python's `_raw_predict`, so the same bits.
    fn raw(&self, x: &Matrix) -> Result<Vec<f64>, String> {
        check_features(x.cols(), self.n_features)?;
        let fr = self.view();
        // Input with NaN is predicted as Python predicts it: all of it with
        // scikit-learn's trees and arithmetic (NaN routed per node).
        let missing = x.has_nan();
        with_view!(x, |xm| if missing {
            predict_forest_missing(&fr, &self.go_left, xm)
        } else {
            predict_forest_with(&fr, self.packed.as_ref(), xm)
        })
        .map_err(|e| e.to_string())
    }

    /// A (single-output) classifier's `predict_proba`: the first
    /// `n_classes` columns of the mean leaf values.
    fn predict_proba(&self, x: &Matrix) -> Result<Matrix, String> {
        let c = self.classes.as_ref().map_or(0, |l| l.len());
        let stride = self.view().value_stride().max(1);
        let raw = self.raw(x)?;
        Ok(Matrix::F64 {
            rows: x.rows(),
            cols: c,
            data: raw
                .chunks_exact(stride)
                .flat_map(|row| &row[..c.min(row.len())])
                .copied()
                .collect(),
            one_dim: false,
        })
    }

    /// As Python's `predict`: the mean of the trees' leaf values, then for
    /// a classifier the first class of largest mean probability.
    fn predict(&self, x: &Matrix) -> Result<Prediction, String> {
        let raw = self.raw(x)?;
        let rows = x.rows();
        let stride = self.view().value_stride().max(1);
        match &self.classes {
            Some(classes) => {
                let c = classes.len();
                // numpy's argmax over the first c entries.
                let idx: Vec<usize> = raw
                    .chunks_exact(stride)
                    .map(|row| first_argmax(&row[..c.min(row.len())]))
                    .collect();
                classes
                    .take(&idx)
                    .map(Prediction::Labels)
                    .ok_or_else(|| "a predicted class index is out of range".into())
            }
            None => Ok(Prediction::Values(Matrix::F64 {
                rows,
                cols: self.n_outputs,
                data: raw,
                one_dim: self.n_outputs == 1,
            })),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn model(names: Option<&[&str]>) -> Model {
        Model {
            kind: Kind::KMeans {
                centers: vec![0.0, 0.0],
                k: 1,
                f32: false,
            },
            class_name: "KMeans".into(),
            feature_names: names.map(|n| n.iter().map(|s| s.to_string()).collect()),
            n_features: Some(2),
            transformer: false,
        }
    }

    #[test]
    fn every_kind_is_served_or_refused_by_its_registry_entry() {
        use crate::pipeline::served_here;
        use oxlearn_format::schema::{kinds_of, Origin};

        // oxlearn's estimators: served here, or refused with their reason.
        for kind in kinds_of(Origin::Oxlearn) {
            assert!(!served_here(kind), "{kind}");
            match serving(kind) {
                None | Some(Serving::Step) => panic!("{kind}: an estimator must be served"),
                Some(Serving::Refused(why)) => {
                    assert!(why.starts_with("has no predict"), "{kind}: {why}")
                }
                Some(_) => {}
            }
        }
        // scikit-learn's classes and the markers: pipeline.rs builds them.
        for kind in kinds_of(Origin::Stock)
            .into_iter()
            .chain(kinds_of(Origin::Marker))
        {
            assert!(served_here(kind), "{kind}");
            assert_eq!(serving(kind), Some(Serving::Step), "{kind}");
        }
        assert_eq!(serving("builtins.eval"), None);
        assert!(!served_here("builtins.eval"));
    }

    fn owned(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn feature_names_are_checked_as_scikit_learn_does() {
        let m = model(Some(&["a", "b"]));
        assert_eq!(m.check_feature_names(Some(&owned(&["a", "b"]))), Ok(None));
        assert_eq!(
            m.check_feature_names(Some(&owned(&["b", "a"])))
                .unwrap_err(),
            "The feature names should match those that were passed during fit.\n\
             Feature names must be in the same order as they were in fit.\n"
        );
        assert_eq!(
            m.check_feature_names(Some(&owned(&["a", "c"])))
                .unwrap_err(),
            "The feature names should match those that were passed during fit.\n\
             Feature names unseen at fit time:\n- c\n\
             Feature names seen at fit time, yet now missing:\n- b\n"
        );
        let many: Vec<String> = (0..7).map(|i| format!("z{i}")).collect();
        let e = m.check_feature_names(Some(&many)).unwrap_err();
        assert!(e.contains("- z4\n- ...\nFeature names seen"), "{e}");
        assert!(m
            .check_feature_names(None)
            .unwrap()
            .unwrap()
            .starts_with("X does not have valid feature names, but KMeans"));
        let unnamed = model(None);
        assert_eq!(unnamed.check_feature_names(None), Ok(None));
        assert!(unnamed
            .check_feature_names(Some(&owned(&["a", "b"])))
            .unwrap()
            .unwrap()
            .starts_with("X has feature names, but KMeans was fitted without"));
    }

    #[test]
    fn zero_rows_and_non_finite_input_are_refused_before_predicting() {
        let m = model(None);
        let empty = Matrix::F64 {
            rows: 0,
            cols: 2,
            data: vec![],
            one_dim: false,
        };
        assert_eq!(
            m.predict(&empty).err().unwrap(),
            "Found array with 0 sample(s) (shape=(0, 2)) while a minimum of 1 is required \
             by KMeans."
        );
        let nan = Matrix::F64 {
            rows: 1,
            cols: 2,
            data: vec![0.0, f64::NAN],
            one_dim: false,
        };
        // KMeans's kernel reports it, with the position, as in Python.
        let e = m.predict(&nan).err().unwrap();
        assert!(e.starts_with("Input X contains NaN. The first one is at row 0, column 1."));
    }
}
