//! Pipelines and column transformers served without Python: scikit-learn's
//! `Pipeline`, `ColumnTransformer` and the preprocessing, imputation and
//! selection transformers they hold, run in Rust in the order Python runs
//! them (`oxlearn_core::preprocessing`), then the final estimator through
//! the single-model code ([`Model`]).
//!
//! A composite file is verified and validated as a whole by
//! `oxlearn-format` (each part against its kind, widths chained); the
//! steps here are built from that validated header and only read it.
//! Every input a step cannot take is an error with scikit-learn's words
//! where it has some: unknown categories, missing columns, a wrong number
//! of columns, text in a numeric column.

use crate::frame::Frame;
use crate::model::{check_feature_names, class_name, Method, Model, Prediction};
use crate::npy::Matrix;
use oxlearn_core::preprocessing::{
    k_best_mask, max_abs_scale, min_max_scale, normalize_batch_rows, py_str_repr, robust_scale,
    select_columns, standard_scale, variance_mask, Categories, Cell, CellImputer, Column,
    HandleUnknown, Infrequent, MissingCategory, MissingValues, Norm, NumericImputer, NumpyOrder,
    OneHotEncoder, OrdinalEncoder, PolynomialFeatures, UnknownWarning,
};
use oxlearn_core::validation::{check_finite, InputRule};
use oxlearn_format::{
    open_checked, parse_file, part_arrays, schema, ArrayView, DType, Header, Runtime,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What a model file serves: one estimator, or a composite (a pipeline, a
/// column transformer, or a lone preprocessing transformer).
pub enum Served {
    /// A single estimator.
    Model(Model),
    /// A pipeline, a column transformer or a transformer.
    Pipeline(Pipeline),
}

impl Served {
    /// Loads a model file: layout, checksums, compatibility (no Python
    /// rows), schema validation (of every part of a composite). Returns the
    /// warnings to show.
    pub fn load(bytes: &[u8]) -> Result<(Served, Vec<String>), String> {
        let file = parse_file(bytes).map_err(|e| e.to_string())?;
        let arrays = file.arrays();
        let (header, warnings) = open_checked(file.header_json, &arrays, &Runtime::native(), false)
            .map_err(|e| e.to_string())?;
        if !header.fitted {
            return Err("the model is not fitted: there is nothing to predict with".into());
        }
        let served = if served_here(&header.kind) {
            Served::Pipeline(Pipeline::from_header(&header, &arrays)?)
        } else {
            Served::Model(Model::from_header(&header, &arrays)?)
        };
        Ok((served, warnings.iter().map(|w| w.to_string()).collect()))
    }
}

impl Served {
    /// The methods the binary computes for this model ([`Model::methods`];
    /// a pipeline: its `predict` or `transform`).
    pub fn methods(&self) -> Vec<Method> {
        match self {
            Served::Model(m) => m.methods(),
            Served::Pipeline(p) if p.is_transformer() => vec![Method::Transform],
            Served::Pipeline(_) => vec![Method::Predict],
        }
    }

    /// The width of string labels in a `.npy` output: the longest class
    /// label's (see [`Model::label_width`]).
    pub fn label_width(&self) -> Option<usize> {
        match self {
            Served::Model(m) => m.label_width(),
            Served::Pipeline(p) => p.label_width(),
        }
    }
}

/// Kinds this module builds: scikit-learn's own classes and the
/// passthrough/drop markers (oxlearn's estimators are `model.rs`'s).
pub(crate) fn served_here(kind: &str) -> bool {
    schema::lookup(kind).is_some_and(|s| s.origin != schema::Origin::Oxlearn)
}

/// The warnings of a prediction, keyed by where they arise: the step (its
/// place in the model, in the order Python runs the steps) and which of its
/// checks. A table predicted in chunks thus gathers the warnings the whole
/// table would give: each once, in Python's order, an encoder's unknown
/// categories with the columns of every chunk.
#[derive(Default)]
pub struct Warnings {
    by_place: BTreeMap<(usize, u8), Warning>,
}

enum Warning {
    Text(String),
    Unknown(UnknownWarning),
}

/// Which check of a step a warning comes from, in the order they run.
const SPARSE: u8 = 0;
const NAMES: u8 = 1;
const OWN: u8 = 2;

impl Warnings {
    fn text(&mut self, step: usize, check: u8, w: String) {
        self.by_place
            .entry((step, check))
            .or_insert(Warning::Text(w));
    }

    fn unknown(&mut self, step: usize, w: UnknownWarning) {
        match self.by_place.get_mut(&(step, OWN)) {
            Some(Warning::Unknown(seen)) => seen.merge(&w),
            _ => {
                self.by_place.insert((step, OWN), Warning::Unknown(w));
            }
        }
    }

    /// The messages, in the order Python gives them.
    pub fn messages(&self) -> Vec<String> {
        self.by_place
            .values()
            .map(|w| match w {
                Warning::Text(t) => t.clone(),
                Warning::Unknown(u) => u.to_string(),
            })
            .collect()
    }
}

/// What one prediction carries through the steps: the warnings, the
/// number of its first row in the whole input (for messages naming a row)
/// and the whole input's rows (numpy's arithmetic on a one-row matrix
/// differs, and messages give the count).
struct Ctx<'a> {
    warnings: &'a mut Warnings,
    first_row: usize,
    batch_rows: usize,
}

/// A composite model, ready to predict.
pub struct Pipeline {
    root: Step,
    /// A column transformer outputs a sparse matrix in Python
    /// (`sparse_output_`), which the binary computes densely.
    sparse: bool,
}

/// Whether a column transformer of `h` (or of its parts) outputs a sparse
/// matrix in Python.
fn any_sparse(h: &Header) -> bool {
    h.attrs.get("sparse_output_") == Some(&Value::Bool(true))
        || (0..h.parts.len()).any(|i| h.part(i).is_some_and(|p| any_sparse(&p)))
}

/// One component: a pipeline step, a column transformer's transformer, or
/// the whole model.
struct Step {
    /// Its place in the model, counted in the order Python runs the steps
    /// (depth first); it keys the step's warnings.
    id: usize,
    /// Its name in its composite (`""` for the whole model).
    name: String,
    /// Its class name, as scikit-learn's messages name it.
    class: String,
    /// `n_features_in_`.
    n_in: usize,
    /// `feature_names_in_`.
    names: Option<Vec<String>>,
    op: Op,
}

enum Op {
    /// Steps in order; the last may predict.
    Pipeline(Vec<Step>),
    /// Transformers over column subsets, outputs side by side.
    Columns(Vec<Part>),
    /// `"passthrough"`: the input.
    Passthrough,
    /// `"drop"`: nothing.
    Drop,
    Standard {
        mean: Option<Vec<f64>>,
        scale: Option<Vec<f64>>,
    },
    Robust {
        center: Option<Vec<f64>>,
        scale: Option<Vec<f64>>,
    },
    MinMax {
        scale: Vec<f64>,
        min: Vec<f64>,
        clip: Option<(f64, f64)>,
    },
    MaxAbs {
        scale: Vec<f64>,
        clip: bool,
    },
    Normalize(Norm),
    OneHot(OneHotEncoder),
    Ordinal(OrdinalEncoder),
    ImputeNumbers {
        imputer: NumericImputer,
        strategy: String,
    },
    ImputeCells(CellImputer),
    Polynomial(PolynomialFeatures),
    /// The kept columns of a selector; `finite`: non-finite values refused
    /// (SelectKBest), else anything passes (VarianceThreshold).
    Select {
        mask: Vec<bool>,
        finite: bool,
    },
    /// A single estimator: the final step, or a transformer the model code
    /// serves (PCA).
    Model(Box<Model>),
}

/// A column transformer's transformer: the input columns it reads and the
/// weight its output is multiplied by.
struct Part {
    step: Step,
    columns: Vec<usize>,
    weight: Option<f64>,
    /// Its columns were selected by a slice: on a numpy array, a view in
    /// the array's own order (other selections copy, in F order).
    slice: bool,
}

/// Data between steps: a numeric matrix, or a table (the input, or the
/// output of steps that keep text).
enum Data {
    Dense(Dense),
    Frame(Frame),
}

/// Row-major float64, and the order Python holds the same values in.
struct Dense {
    rows: usize,
    cols: usize,
    x: Vec<f64>,
    order: NumpyOrder,
}

impl Dense {
    /// Values a transformer wrote row by row (numpy's C order).
    fn c(rows: usize, cols: usize, x: Vec<f64>) -> Self {
        Dense {
            rows,
            cols,
            x,
            order: NumpyOrder::C,
        }
    }
}

/// The order of a frame's values in Python.
fn order_of(column_major: bool) -> NumpyOrder {
    if column_major {
        NumpyOrder::F
    } else {
        NumpyOrder::C
    }
}

impl Data {
    fn rows(&self) -> usize {
        match self {
            Data::Dense(d) => d.rows,
            Data::Frame(f) => f.rows,
        }
    }

    fn cols(&self) -> usize {
        match self {
            Data::Dense(d) => d.cols,
            Data::Frame(f) => f.columns.len(),
        }
    }

    fn names(&self) -> Option<&[String]> {
        match self {
            Data::Dense(_) => None,
            Data::Frame(f) => f.names.as_deref(),
        }
    }

    /// The data as numbers, for a step of class `class`; a column holding
    /// text is an error naming it.
    /// `first_row`: the number of the data's first row in the whole input.
    fn dense(self, class: &str, first_row: usize) -> Result<Dense, String> {
        let f = match self {
            Data::Dense(d) => return Ok(d),
            Data::Frame(f) => f,
        };
        let (rows, cols) = (f.rows, f.columns.len());
        let mut x = vec![0.0; rows * cols];
        for (j, c) in f.columns.iter().enumerate() {
            let v = c.numbers().map_err(|(row, text)| {
                let column = match (f.names.as_ref(), f.labels.as_ref()) {
                    (Some(n), _) if j < n.len() => format!("column {}", py_str_repr(&n[j])),
                    (_, Some(l)) if j < l.len() => format!("column {}", l[j]),
                    _ => format!("column {j}"),
                };
                format!(
                    "{column} holds text ({} in row {}), but {class} needs numbers: \
                     could not convert string to float: {}",
                    py_str_repr(text),
                    first_row + row,
                    py_str_repr(text)
                )
            })?;
            for (i, &value) in v.iter().enumerate().take(rows) {
                x[i * cols + j] = value;
            }
        }
        Ok(Dense {
            rows,
            cols,
            x,
            order: order_of(f.column_major),
        })
    }

    /// The data as columns, their names, and whether Python holds them
    /// column-major.
    fn columns(self) -> (usize, Vec<Column>, Option<Vec<String>>, bool) {
        match self {
            Data::Frame(f) => (f.rows, f.columns, f.names, f.column_major),
            Data::Dense(d) => {
                let cols = (0..d.cols)
                    .map(|j| Column::Numbers((0..d.rows).map(|i| d.x[i * d.cols + j]).collect()))
                    .collect();
                (d.rows, cols, None, d.order == NumpyOrder::F)
            }
        }
    }
}

/// scikit-learn's rule for a scaler's input: NaN passes, infinity does not.
fn allow_nan(class: &str) -> InputRule<'_> {
    InputRule {
        allow_nan: true,
        input_name: "X",
        estimator: Some(class),
        dtype: None,
        locate: false,
    }
}

/// scikit-learn's default rule: NaN and infinity are refused, NaN with the
/// advice naming the estimator.
fn finite(class: &str) -> InputRule<'_> {
    InputRule {
        allow_nan: false,
        ..allow_nan(class)
    }
}

impl Pipeline {
    /// The composite of a verified and validated header.
    pub fn from_header(h: &Header, arrays: &[ArrayView<'_>]) -> Result<Pipeline, String> {
        let mut root = build(h, arrays, "")?;
        root.number(&mut 0);
        Ok(Pipeline {
            root,
            sparse: any_sparse(h),
        })
    }

    /// Whether [`Pipeline::predict`] computes Python's `transform` (the
    /// last step is a transformer) rather than `predict`.
    pub fn is_transformer(&self) -> bool {
        self.root.ends_in_transform()
    }

    /// Predicts (or transforms, when the last step is a transformer) a
    /// table; returns the warnings scikit-learn would give.
    pub fn predict(&self, input: Frame) -> Result<(Prediction, Vec<String>), String> {
        let mut warnings = Warnings::default();
        let rows = input.rows;
        let y = self.predict_rows(input, 0, rows, &mut warnings)?;
        Ok((y, warnings.messages()))
    }

    /// [`Pipeline::predict`] on rows of an input of `batch_rows` rows, the
    /// first being row `first_row` of it (which messages name), gathering
    /// the warnings into `warnings`.
    pub fn predict_rows(
        &self,
        input: Frame,
        first_row: usize,
        batch_rows: usize,
        warnings: &mut Warnings,
    ) -> Result<Prediction, String> {
        if self.sparse {
            warnings.text(
                0,
                SPARSE,
                "a ColumnTransformer of this model outputs a sparse matrix in Python \
                 (sparse_output_ is true), which the binary computes densely: the next \
                 step's values may differ from Python's in the last bits (scipy sums a sparse \
                 product in another order); fit with sparse_output=False on the encoders, \
                 or sparse_threshold=0, for identical results"
                    .into(),
            );
        }
        if input.rows == 0 {
            let (class, n) = self.root.first_leaf();
            return Err(format!(
                "Found array with 0 sample(s) (shape=(0, {n})) while a minimum of 1 is \
                 required by {class}."
            ));
        }
        let mut ctx = Ctx {
            warnings,
            first_row,
            batch_rows,
        };
        self.root.predict(Data::Frame(input), true, &mut ctx)
    }

    /// The width of the longest class label of the final estimator (what
    /// Python's `predict` returns string labels as), if it has classes.
    pub fn label_width(&self) -> Option<usize> {
        let mut step = &self.root;
        loop {
            match &step.op {
                Op::Pipeline(steps) => step = steps.last()?,
                Op::Model(m) => return m.label_width(),
                _ => return None,
            }
        }
    }
}

impl Step {
    /// Numbers the step and those inside it depth first, from `next`: the
    /// order Python runs them in.
    fn number(&mut self, next: &mut usize) {
        self.id = *next;
        *next += 1;
        match &mut self.op {
            Op::Pipeline(steps) => steps.iter_mut().for_each(|s| s.number(next)),
            Op::Columns(parts) => parts.iter_mut().for_each(|p| p.step.number(next)),
            _ => {}
        }
    }

    /// Whether the step's end is a transformer (its output is Python's
    /// `transform`), not an estimator's `predict`.
    fn ends_in_transform(&self) -> bool {
        match &self.op {
            Op::Pipeline(steps) => steps.last().is_none_or(Step::ends_in_transform),
            Op::Model(m) => m.is_transformer(),
            _ => true,
        }
    }

    /// The class and input width of the first transformer or estimator
    /// the input reaches.
    fn first_leaf(&self) -> (&str, usize) {
        match &self.op {
            Op::Pipeline(steps) => steps
                .first()
                .map_or((&self.class, self.n_in), Step::first_leaf),
            Op::Columns(parts) => parts
                .iter()
                .find(|p| !matches!(p.step.op, Op::Drop) && !p.columns.is_empty())
                .map_or((&self.class, self.n_in), |p| p.step.first_leaf()),
            _ => (&self.class, self.n_in),
        }
    }

    /// What scikit-learn's `validate_data` checks first: the feature names
    /// (only where the input's own columns arrive), then the number of
    /// columns.
    fn check_input(&self, data: &Data, at_input: bool, ctx: &mut Ctx<'_>) -> Result<(), String> {
        if at_input {
            if let Some(w) = check_feature_names(&self.class, self.names.as_deref(), data.names())?
            {
                ctx.warnings.text(self.id, NAMES, w);
            }
        }
        let c = data.cols();
        if c != self.n_in {
            return Err(format!(
                "X has {c} features, but {} is expecting {} features as input.",
                self.class, self.n_in
            ));
        }
        Ok(())
    }

    /// Runs the step on `data` to its end: the last step's prediction, or
    /// a transformer's output as values.
    fn predict(&self, data: Data, at_input: bool, ctx: &mut Ctx<'_>) -> Result<Prediction, String> {
        match &self.op {
            Op::Pipeline(steps) => {
                let Some((last, init)) = steps.split_last() else {
                    return Err("a pipeline without steps".into());
                };
                let mut data = data;
                for (i, s) in init.iter().enumerate() {
                    data = s.transform(data, at_input && i == 0, ctx)?;
                }
                last.predict(data, at_input && init.is_empty(), ctx)
            }
            Op::Model(m) => {
                self.check_input(&data, at_input, ctx)?;
                let d = data.dense(&self.class, ctx.first_row)?;
                m.predict_rows(
                    &Matrix::F64 {
                        rows: d.rows,
                        cols: d.cols,
                        data: d.x,
                        one_dim: false,
                    },
                    ctx.first_row,
                    Some(ctx.batch_rows),
                )
            }
            _ => {
                let d = self.transform(data, at_input, ctx)?;
                let d = d
                    .dense("the output of the last step", ctx.first_row)
                    .map_err(|e| {
                        format!("{e}; the binary writes numbers (the pipeline outputs text)")
                    })?;
                Ok(Prediction::Values(Matrix::F64 {
                    rows: d.rows,
                    cols: d.cols,
                    data: d.x,
                    one_dim: false,
                }))
            }
        }
    }

    /// The step's `transform`.
    fn transform(&self, data: Data, at_input: bool, ctx: &mut Ctx<'_>) -> Result<Data, String> {
        let class = self.class.as_str();
        let err = |e: oxlearn_core::Error| e.to_string();
        match &self.op {
            Op::Pipeline(steps) => {
                let mut data = data;
                for (i, s) in steps.iter().enumerate() {
                    data = s.transform(data, at_input && i == 0, ctx)?;
                }
                Ok(data)
            }
            Op::Columns(parts) => self.columns(parts, data, at_input, ctx),
            Op::Model(_) => match self.predict(data, at_input, ctx)? {
                Prediction::Values(Matrix::F64 {
                    rows, cols, data, ..
                }) => Ok(Data::Dense(Dense::c(rows, cols, data))),
                Prediction::Values(Matrix::F32 {
                    rows, cols, data, ..
                }) => Ok(Data::Dense(Dense::c(
                    rows,
                    cols,
                    data.into_iter().map(f64::from).collect(),
                ))),
                Prediction::Labels(_) => Err(format!(
                    "step {:?} ({class}) predicts labels: it cannot feed a later step",
                    self.name
                )),
            },
            Op::Passthrough => {
                self.check_input(&data, at_input, ctx)?;
                Ok(data)
            }
            Op::Drop => Ok(Data::Dense(Dense::c(data.rows(), 0, Vec::new()))),
            Op::OneHot(enc) => {
                self.check_input(&data, at_input, ctx)?;
                let (rows, cols, _, _) = data.columns();
                check_numbers_finite(&cols)?;
                let refs: Vec<&Column> = cols.iter().collect();
                let (x, warning) = enc.transform(&refs, rows).map_err(err)?;
                if let Some(w) = warning {
                    ctx.warnings.unknown(self.id, w);
                }
                let width = enc.n_features_outs.iter().sum();
                Ok(Data::Dense(Dense::c(rows, width, x)))
            }
            Op::Ordinal(enc) => {
                self.check_input(&data, at_input, ctx)?;
                let (rows, cols, _, _) = data.columns();
                check_numbers_finite(&cols)?;
                let refs: Vec<&Column> = cols.iter().collect();
                let x = enc.transform(&refs, rows).map_err(err)?;
                Ok(Data::Dense(Dense::c(rows, refs.len(), x)))
            }
            Op::ImputeCells(imp) => {
                self.check_input(&data, at_input, ctx)?;
                let (rows, cols, names, column_major) = data.columns();
                let refs: Vec<&Column> = cols.iter().collect();
                let out = imp.transform(&refs).map_err(err)?;
                let kept = imp.kept();
                self.warn_skipped(&kept, "most_frequent", ctx);
                let labels = names.map(|n| {
                    n.iter()
                        .zip(&kept)
                        .filter(|(_, &k)| k)
                        .map(|(n, _)| py_str_repr(n))
                        .collect()
                });
                Ok(Data::Frame(Frame {
                    rows,
                    columns: out,
                    names: None,
                    column_major,
                    labels,
                }))
            }
            _ => {
                self.check_input(&data, at_input, ctx)?;
                let mut d = data.dense(class, ctx.first_row)?;
                self.numeric(&mut d, ctx)?;
                Ok(Data::Dense(d))
            }
        }
    }

    /// The transformers on numbers, in place or into a new matrix.
    fn numeric(&self, d: &mut Dense, ctx: &mut Ctx<'_>) -> Result<(), String> {
        let class = self.class.as_str();
        let err = |e: oxlearn_core::Error| e.to_string();
        let cols = d.cols;
        let replace = |d: &mut Dense, x: Vec<f64>, cols: usize, order: NumpyOrder| {
            d.cols = cols;
            d.x = x;
            d.order = order;
        };
        match &self.op {
            Op::Standard { mean, scale } => {
                check_finite(&d.x, cols, &allow_nan(class))?;
                standard_scale(&mut d.x, cols, mean.as_deref(), scale.as_deref()).map_err(err)
            }
            Op::Robust { center, scale } => {
                check_finite(&d.x, cols, &allow_nan(class))?;
                robust_scale(&mut d.x, cols, center.as_deref(), scale.as_deref()).map_err(err)
            }
            Op::MinMax { scale, min, clip } => {
                check_finite(&d.x, cols, &allow_nan(class))?;
                min_max_scale(&mut d.x, cols, scale, min, *clip).map_err(err)
            }
            Op::MaxAbs { scale, clip } => {
                check_finite(&d.x, cols, &allow_nan(class))?;
                max_abs_scale(&mut d.x, cols, scale, *clip).map_err(err)
            }
            Op::Normalize(norm) => {
                check_finite(&d.x, cols, &finite(class))?;
                normalize_batch_rows(&mut d.x, cols, *norm, d.order, ctx.batch_rows).map_err(err)
            }
            Op::Polynomial(p) => {
                check_finite(&d.x, cols, &finite(class))?;
                let x = p.transform(&d.x).map_err(err)?;
                replace(d, x, p.n_output_features, NumpyOrder::C);
                Ok(())
            }
            Op::Select { mask, finite: f } => {
                if *f {
                    check_finite(&d.x, cols, &finite(class))?;
                }
                let x = select_columns(&d.x, mask).map_err(err)?;
                let kept = mask.iter().filter(|&&m| m).count();
                if kept == 0 {
                    ctx.warnings.text(
                        self.id,
                        OWN,
                        "No features were selected: either the data is too noisy or the \
                         selection test too strict."
                            .into(),
                    );
                }
                // numpy's `X[:, indices]` is F-ordered, whatever X's order.
                replace(d, x, kept, NumpyOrder::F);
                Ok(())
            }
            Op::ImputeNumbers { imputer, strategy } => {
                let rule = if imputer.missing_values == MissingValues::NaN {
                    allow_nan(class)
                } else {
                    finite(class)
                };
                check_finite(&d.x, cols, &rule)?;
                let x = imputer.transform(&d.x).map_err(err)?;
                let kept = imputer.kept();
                self.warn_skipped(&kept, strategy, ctx);
                let order = d.order;
                replace(d, x, kept.iter().filter(|&&k| k).count(), order);
                Ok(())
            }
            _ => Err(format!("{class} is not a numeric transformer")),
        }
    }

    /// SimpleImputer's warning about columns it drops.
    fn warn_skipped(&self, kept: &[bool], strategy: &str, ctx: &mut Ctx<'_>) {
        let skipped: Vec<String> = kept
            .iter()
            .enumerate()
            .filter(|(_, &k)| !k)
            .map(|(j, _)| match self.names.as_ref().and_then(|n| n.get(j)) {
                Some(name) => py_str_repr(name),
                None => j.to_string(),
            })
            .collect();
        if !skipped.is_empty() {
            ctx.warnings.text(
                self.id,
                OWN,
                format!(
                    "Skipping features without any observed values: [{}]. At least one \
                 non-missing value is needed for imputation with strategy='{strategy}'.",
                    skipped.join(" ")
                ),
            );
        }
    }

    /// `ColumnTransformer.transform`: fitted on a table and given one, the
    /// columns are taken by name (extra columns ignored, missing ones an
    /// error); otherwise by position, and the number of columns must match.
    fn columns(
        &self,
        parts: &[Part],
        data: Data,
        at_input: bool,
        ctx: &mut Ctx<'_>,
    ) -> Result<Data, String> {
        let by_name = match (&self.names, data.names()) {
            (Some(fitted), Some(given)) => {
                let have: HashSet<&str> = given.iter().map(String::as_str).collect();
                let mut missing: Vec<&str> = Vec::new();
                for p in parts.iter().filter(|p| !matches!(p.step.op, Op::Drop)) {
                    for &i in &p.columns {
                        let name = fitted.get(i).map_or("", String::as_str);
                        if !have.contains(name) && !missing.contains(&name) {
                            missing.push(name);
                        }
                    }
                }
                if !missing.is_empty() {
                    let shown: Vec<String> = missing.iter().map(|m| py_str_repr(m)).collect();
                    return Err(format!("columns are missing: {{{}}}", shown.join(", ")));
                }
                // The first column of each name, as pandas selects it.
                let mut at: HashMap<&str, usize> = HashMap::new();
                for (j, n) in given.iter().enumerate() {
                    at.entry(n.as_str()).or_insert(j);
                }
                Some(
                    fitted
                        .iter()
                        .map(|n| at.get(n.as_str()).copied().unwrap_or(usize::MAX))
                        .collect::<Vec<usize>>(),
                )
            }
            _ => {
                let c = data.cols();
                if c != self.n_in {
                    return Err(format!(
                        "X has {c} features, but ColumnTransformer is expecting {} features \
                         as input.",
                        self.n_in
                    ));
                }
                None
            }
        };
        let dataframe = matches!(&data, Data::Frame(f) if f.names.is_some());
        let input_f = match &data {
            Data::Dense(d) => d.order == NumpyOrder::F,
            Data::Frame(f) => f.column_major,
        };
        let (rows, mut columns, names, _) = data.columns();
        // Each input column goes to the parts that read it: moved to the
        // last one, copied to the others.
        let mut uses = vec![0usize; columns.len()];
        let mut selections = Vec::with_capacity(parts.len());
        for p in parts {
            let sel: Vec<usize> = if matches!(p.step.op, Op::Drop) || p.columns.is_empty() {
                Vec::new()
            } else {
                match &by_name {
                    Some(at) => p
                        .columns
                        .iter()
                        .map(|&i| at.get(i).copied().unwrap_or(usize::MAX))
                        .collect(),
                    None => p.columns.clone(),
                }
            };
            for &j in &sel {
                if let Some(u) = uses.get_mut(j) {
                    *u += 1;
                }
            }
            selections.push(sel);
        }
        let mut outputs = Vec::new();
        for (p, sel) in parts.iter().zip(selections) {
            if sel.is_empty() {
                continue;
            }
            let mut picked = Vec::with_capacity(sel.len());
            for &j in &sel {
                let (Some(c), Some(u)) = (columns.get_mut(j), uses.get_mut(j)) else {
                    return Err(format!("column {j} of the input is missing"));
                };
                *u -= 1;
                picked.push(if *u == 0 {
                    std::mem::replace(c, Column::Numbers(Vec::new()))
                } else {
                    c.clone()
                });
            }
            let sub = Frame {
                rows,
                columns: picked,
                names: names.as_ref().map(|n| {
                    sel.iter()
                        .map(|&j| n.get(j).cloned().unwrap_or_default())
                        .collect()
                }),
                // A data frame's columns, or numpy's `X[:, indices]`: F
                // order; a slice of an array: a view, in its order.
                column_major: dataframe || !p.slice || input_f,
                labels: None,
            };
            let mut out = p.step.transform(Data::Frame(sub), at_input, ctx)?;
            if let Some(w) = p.weight {
                let mut d = out.dense(&p.step.class, ctx.first_row)?;
                d.x.iter_mut().for_each(|v| *v *= w);
                out = Data::Dense(d);
            }
            outputs.push((p.step.name.as_str(), out));
        }
        hstack(rows, outputs)
    }
}

/// The outputs side by side (`numpy.hstack`): numbers when every output
/// is numeric, else a table of all their columns. numpy's result is
/// F-ordered when every output is (a one-column output is both), else C.
fn hstack(rows: usize, outputs: Vec<(&str, Data)>) -> Result<Data, String> {
    if let Some((part, o)) = outputs.iter().find(|(_, o)| o.rows() != rows) {
        return Err(format!(
            "transformer {part:?} returned {} rows for {rows}",
            o.rows()
        ));
    }
    let numeric = outputs.iter().all(|(_, o)| match o {
        Data::Dense(_) => true,
        Data::Frame(f) => f.columns.iter().all(|c| c.numbers().is_ok()),
    });
    let column_major = outputs.iter().all(|(_, o)| match o {
        Data::Dense(d) => d.order == NumpyOrder::F || d.cols == 1,
        Data::Frame(f) => f.column_major || f.columns.len() == 1,
    }) && !outputs.is_empty();
    if numeric {
        let dense: Vec<Dense> = outputs
            .into_iter()
            .filter_map(|(_, o)| o.dense("", 0).ok())
            .collect();
        let width: usize = dense.iter().map(|d| d.cols).sum();
        let mut x = Vec::with_capacity(rows * width);
        for i in 0..rows {
            for d in &dense {
                x.extend_from_slice(&d.x[i * d.cols..(i + 1) * d.cols]);
            }
        }
        return Ok(Data::Dense(Dense {
            rows,
            cols: width,
            x,
            order: order_of(column_major),
        }));
    }
    // Text in the output: a table, each column labelled for messages by
    // the input column it passes through, else by its part.
    let mut columns = Vec::new();
    let mut labels = Vec::new();
    for (part, o) in outputs {
        let (_, cols, names, _) = o.columns();
        for j in 0..cols.len() {
            labels.push(match names.as_ref().and_then(|n| n.get(j)) {
                Some(name) => py_str_repr(name),
                None => format!("{j} of {part:?}'s output"),
            });
        }
        columns.extend(cols);
    }
    Ok(Data::Frame(Frame {
        rows,
        columns,
        names: None,
        column_major,
        labels: Some(labels),
    }))
}

/// The encoders' check of number columns (`check_array` with
/// `ensure_all_finite="allow-nan"`, no input name).
fn check_numbers_finite(cols: &[Column]) -> Result<(), String> {
    let rule = InputRule {
        allow_nan: true,
        input_name: "",
        estimator: None,
        dtype: None,
        locate: false,
    };
    for c in cols {
        if let Column::Numbers(v) = c {
            check_finite(v, 1, &rule)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Building steps from a validated header.

/// Why a (validated) header cannot be served; the format's validation makes
/// these unreachable for files it accepted, so they name the field only.
fn bad(h: &Header, what: &str) -> String {
    format!("{}: {what} is missing or malformed", h.kind)
}

fn param<'a>(h: &'a Header, name: &str) -> Option<&'a Value> {
    h.params.get(name).filter(|v| !v.is_null())
}

fn flag(h: &Header, name: &str) -> bool {
    param(h, name).and_then(Value::as_bool) == Some(true)
}

/// A JSON number, or a tagged non-finite float.
fn json_f64(v: &Value) -> Option<f64> {
    if let Some(x) = v.as_f64() {
        return Some(x);
    }
    match v.get("__float__").and_then(Value::as_str)? {
        "nan" => Some(f64::NAN),
        "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// The elements of a tagged array, or of a plain list.
fn items(v: &Value) -> Option<&Vec<Value>> {
    v.get("__ndarray__")
        .and_then(Value::as_array)
        .or_else(|| v.as_array())
}

fn usize_of(v: &Value) -> Option<usize> {
    v.as_u64().and_then(|x| usize::try_from(x).ok())
}

/// A list of indices, or of null-or-index.
fn opt_indices(v: &Value) -> Option<Vec<Option<usize>>> {
    items(v)?
        .iter()
        .map(|x| {
            if x.is_null() {
                Some(None)
            } else {
                usize_of(x).map(Some)
            }
        })
        .collect()
}

/// A list of null-or-index-array (`_infrequent_indices`, mappings).
fn opt_index_lists(v: Option<&Value>, n: usize) -> Option<Vec<Option<Vec<usize>>>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Some(vec![None; n]);
    };
    items(v)?
        .iter()
        .map(|x| {
            if x.is_null() {
                Some(None)
            } else {
                items(x)?
                    .iter()
                    .map(usize_of)
                    .collect::<Option<Vec<_>>>()
                    .map(Some)
            }
        })
        .collect()
}

/// A float array by name (float32 widened).
fn floats(arrays: &[ArrayView<'_>], name: &str) -> Option<Vec<f64>> {
    let a = arrays.iter().find(|a| a.name == name)?;
    match a.dtype {
        DType::Float64 => Some(
            a.data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ),
        DType::Float32 => Some(
            a.data
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        ),
        _ => None,
    }
}

/// `categories_`: one tagged array per column, numbers or strings; or a
/// plain list of strings ending in a missing category (`null` for `None`,
/// NaN).
fn categories(h: &Header) -> Result<Vec<Categories>, String> {
    let list = h
        .attrs
        .get("categories_")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(h, "attrs.categories_"))?;
    list.iter()
        .map(|v| {
            let dtype = v.get("dtype").and_then(Value::as_str).unwrap_or("");
            let values = items(v).ok_or_else(|| bad(h, "attrs.categories_"))?;
            let strings: Vec<String> = values
                .iter()
                .map_while(|s| s.as_str().map(str::to_owned))
                .collect();
            let rest = &values[strings.len()..];
            if !strings.is_empty() || (v.get("__ndarray__").is_none() && rest.len() == 1) {
                let missing = match rest {
                    [] => None,
                    [Value::Null] => Some(MissingCategory::None),
                    [x] if json_f64(x).is_some_and(f64::is_nan) => Some(MissingCategory::NaN),
                    _ => {
                        return Err(bad(
                            h,
                            "attrs.categories_ (strings, then one missing value)",
                        ))
                    }
                };
                return Ok(Categories::Strings {
                    values: strings,
                    missing,
                });
            }
            let integer =
                dtype.contains('i') || dtype.contains('u') || dtype.contains('b') || dtype == "|O";
            let numbers = values
                .iter()
                .map(|x| json_f64(x).or_else(|| x.as_bool().map(|b| f64::from(u8::from(b)))))
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| bad(h, "attrs.categories_ (numbers or strings)"))?;
            Ok(Categories::Numbers {
                values: numbers,
                integer,
            })
        })
        .collect()
}

/// `missing_values` of an imputer.
fn missing_values(h: &Header) -> MissingValues {
    match h.params.get("missing_values") {
        None | Some(Value::Null) => MissingValues::None,
        Some(Value::String(s)) => MissingValues::Text(s.clone()),
        Some(v) => match json_f64(v) {
            Some(x) if x.is_nan() => MissingValues::NaN,
            Some(x) => MissingValues::Number(x),
            None => MissingValues::None,
        },
    }
}

/// The step of a header (a whole file's or a part's).
fn build(h: &Header, arrays: &[ArrayView<'_>], name: &str) -> Result<Step, String> {
    let class = match h.kind.as_str() {
        "compose.passthrough" => "passthrough",
        "compose.drop" => "drop",
        k => class_name(k),
    }
    .to_owned();
    let n_in = h.n_features_in.unwrap_or(0) as usize;
    let need = |name: &str| floats(arrays, name).ok_or_else(|| bad(h, name));
    let op = match h.kind.as_str() {
        "pipeline.Pipeline" | "compose.ColumnTransformer" => {
            let steps = (0..h.parts.len())
                .map(|i| {
                    let sub = h.part(i).ok_or_else(|| bad(h, "parts"))?;
                    build(&sub, &part_arrays(arrays, i), &h.parts[i].name)
                })
                .collect::<Result<Vec<Step>, String>>()?;
            if h.kind == "pipeline.Pipeline" {
                Op::Pipeline(steps)
            } else {
                column_parts(h, steps)?
            }
        }
        "compose.passthrough" => Op::Passthrough,
        "compose.drop" => Op::Drop,
        "preprocessing.StandardScaler" => Op::Standard {
            mean: if flag(h, "with_mean") {
                Some(need("mean_")?)
            } else {
                None
            },
            scale: if flag(h, "with_std") {
                floats(arrays, "scale_")
            } else {
                None
            },
        },
        "preprocessing.RobustScaler" => Op::Robust {
            center: if flag(h, "with_centering") {
                Some(need("center_")?)
            } else {
                None
            },
            scale: if flag(h, "with_scaling") {
                Some(need("scale_")?)
            } else {
                None
            },
        },
        "preprocessing.MinMaxScaler" => {
            let range = param(h, "feature_range")
                .and_then(|v| v.get("__tuple__"))
                .and_then(Value::as_array)
                .and_then(|v| Some((json_f64(v.first()?)?, json_f64(v.get(1)?)?)))
                .ok_or_else(|| bad(h, "params.feature_range"))?;
            Op::MinMax {
                scale: need("scale_")?,
                min: need("min_")?,
                clip: flag(h, "clip").then_some(range),
            }
        }
        "preprocessing.MaxAbsScaler" => Op::MaxAbs {
            scale: need("scale_")?,
            clip: flag(h, "clip"),
        },
        "preprocessing.Normalizer" => {
            Op::Normalize(match param(h, "norm").and_then(Value::as_str) {
                Some("l1") => Norm::L1,
                Some("l2") => Norm::L2,
                Some("max") => Norm::Max,
                _ => return Err(bad(h, "params.norm")),
            })
        }
        "preprocessing.OneHotEncoder" => Op::OneHot(one_hot(h)?),
        "preprocessing.OrdinalEncoder" => Op::Ordinal(ordinal(h)?),
        "impute.SimpleImputer" => imputer(h, arrays)?,
        "preprocessing.PolynomialFeatures" => {
            let get = |n: &str| {
                h.attrs
                    .get(n)
                    .and_then(usize_of)
                    .ok_or_else(|| bad(h, &format!("attrs.{n}")))
            };
            Op::Polynomial(PolynomialFeatures {
                n_features_in: n_in,
                min_degree: get("_min_degree")?,
                max_degree: get("_max_degree")?,
                interaction_only: flag(h, "interaction_only"),
                include_bias: flag(h, "include_bias"),
                n_output_features: get("n_output_features_")?,
            })
        }
        "feature_selection.VarianceThreshold" => {
            let threshold = param(h, "threshold")
                .and_then(json_f64)
                .ok_or_else(|| bad(h, "params.threshold"))?;
            Op::Select {
                mask: variance_mask(&need("variances_")?, threshold),
                finite: false,
            }
        }
        "feature_selection.SelectKBest" => {
            let k = match param(h, "k") {
                Some(Value::String(s)) if s == "all" => None,
                Some(v) => Some(usize_of(v).ok_or_else(|| bad(h, "params.k"))?),
                None => return Err(bad(h, "params.k")),
            };
            let f32_scores = arrays
                .iter()
                .any(|a| a.name == "scores_" && a.dtype == DType::Float32);
            Op::Select {
                mask: k_best_mask(&need("scores_")?, k, f32_scores),
                finite: true,
            }
        }
        "preprocessing.LabelEncoder" => {
            return Err(format!(
                "{}: a LabelEncoder encodes targets (y), not samples; there is nothing for \
                 the binary to serve",
                h.kind
            ))
        }
        _ => {
            let m = Model::from_header(h, arrays)?;
            // A step without predict or transform (NearestNeighbors) leaves
            // the pipeline nothing to answer: refused at load, as before.
            if let Some(why) = m.no_predict() {
                return Err(why.to_owned());
            }
            Op::Model(Box::new(m))
        }
    };
    Ok(Step {
        id: 0,
        name: name.to_owned(),
        class,
        n_in,
        names: h.feature_names_in.clone(),
        op,
    })
}

/// A column transformer's parts: each step with its input columns
/// (`_transformer_to_input_indices`) and weight (`transformer_weights`).
fn column_parts(h: &Header, steps: Vec<Step>) -> Result<Op, String> {
    let map = h
        .attrs
        .get("_transformer_to_input_indices")
        .and_then(|v| v.get("__dict__"))
        .and_then(Value::as_object)
        .ok_or_else(|| bad(h, "attrs._transformer_to_input_indices"))?;
    let weights = param(h, "transformer_weights")
        .and_then(|v| v.get("__dict__"))
        .and_then(Value::as_object);
    let specs = h.attrs.get("_columns").and_then(Value::as_array);
    steps
        .into_iter()
        .enumerate()
        .map(|(i, step)| {
            let columns = map
                .get(&step.name)
                .and_then(Value::as_array)
                .and_then(|l| l.iter().map(usize_of).collect::<Option<Vec<usize>>>())
                .ok_or_else(|| {
                    bad(
                        h,
                        &format!("attrs._transformer_to_input_indices[{:?}]", step.name),
                    )
                })?;
            let weight = weights.and_then(|w| w.get(&step.name)).and_then(json_f64);
            let slice = specs
                .and_then(|s| s.get(i))
                .and_then(|s| s.get("__tuple__"))
                .and_then(|t| t.get(0))
                .is_some_and(|t| t == "__slice__");
            Ok(Part {
                step,
                columns,
                weight,
                slice,
            })
        })
        .collect::<Result<Vec<Part>, String>>()
        .map(Op::Columns)
}

fn one_hot(h: &Header) -> Result<OneHotEncoder, String> {
    let cats = categories(h)?;
    let n = cats.len();
    let handle_unknown = match param(h, "handle_unknown").and_then(Value::as_str) {
        Some("error") => HandleUnknown::Error,
        Some("ignore") => HandleUnknown::Ignore,
        Some("infrequent_if_exist") => HandleUnknown::InfrequentIfExist,
        Some("warn") => HandleUnknown::Warn,
        _ => return Err(bad(h, "params.handle_unknown")),
    };
    let drop_idx_after_grouping = match h.attrs.get("_drop_idx_after_grouping") {
        None | Some(Value::Null) => None,
        Some(v) => Some(opt_indices(v).ok_or_else(|| bad(h, "attrs._drop_idx_after_grouping"))?),
    };
    let infrequent = if h.attrs.get("_infrequent_enabled") == Some(&Value::Bool(true)) {
        Some(Infrequent {
            indices: opt_index_lists(h.attrs.get("_infrequent_indices"), n)
                .ok_or_else(|| bad(h, "attrs._infrequent_indices"))?,
            mappings: opt_index_lists(h.attrs.get("_default_to_infrequent_mappings"), n)
                .ok_or_else(|| bad(h, "attrs._default_to_infrequent_mappings"))?,
        })
    } else {
        None
    };
    let n_features_outs = h
        .attrs
        .get("_n_features_outs")
        .and_then(items)
        .and_then(|l| l.iter().map(usize_of).collect::<Option<Vec<usize>>>())
        .ok_or_else(|| bad(h, "attrs._n_features_outs"))?;
    Ok(OneHotEncoder {
        categories: cats,
        handle_unknown,
        drop_set: param(h, "drop").is_some(),
        drop_idx_after_grouping,
        infrequent,
        n_features_outs,
    })
}

fn ordinal(h: &Header) -> Result<OrdinalEncoder, String> {
    let unknown_value = match param(h, "handle_unknown").and_then(Value::as_str) {
        Some("error") => None,
        Some("use_encoded_value") => Some(
            param(h, "unknown_value")
                .and_then(json_f64)
                .ok_or_else(|| bad(h, "params.unknown_value"))?,
        ),
        _ => return Err(bad(h, "params.handle_unknown")),
    };
    // {"__items__": [[column, index], ...]}, or string keys.
    let mut missing_indices = Vec::new();
    match h.attrs.get("_missing_indices") {
        None | Some(Value::Null) => {}
        Some(v) => {
            if let Some(pairs) = v.get("__items__").and_then(Value::as_array) {
                for p in pairs {
                    let (Some(k), Some(i)) =
                        (p.get(0).and_then(usize_of), p.get(1).and_then(usize_of))
                    else {
                        return Err(bad(h, "attrs._missing_indices"));
                    };
                    missing_indices.push((k, i));
                }
            } else if let Some(d) = v
                .get("__dict__")
                .and_then(Value::as_object)
                .or(v.as_object())
            {
                for (k, i) in d {
                    let (Ok(k), Some(i)) = (k.parse::<usize>(), usize_of(i)) else {
                        return Err(bad(h, "attrs._missing_indices"));
                    };
                    missing_indices.push((k, i));
                }
            } else {
                return Err(bad(h, "attrs._missing_indices"));
            }
        }
    }
    let encoded_missing_value = match h.params.get("encoded_missing_value") {
        None | Some(Value::Null) => f64::NAN,
        Some(v) => json_f64(v).ok_or_else(|| bad(h, "params.encoded_missing_value"))?,
    };
    Ok(OrdinalEncoder {
        categories: categories(h)?,
        unknown_value,
        missing_indices,
        encoded_missing_value,
    })
}

fn imputer(h: &Header, arrays: &[ArrayView<'_>]) -> Result<Op, String> {
    let missing_values = missing_values(h);
    let keep_empty_features = flag(h, "keep_empty_features");
    if let Some(statistics) = floats(arrays, "statistics_") {
        return Ok(Op::ImputeNumbers {
            imputer: NumericImputer {
                statistics,
                missing_values,
                keep_empty_features,
            },
            strategy: param(h, "strategy")
                .and_then(Value::as_str)
                .unwrap_or("mean")
                .to_owned(),
        });
    }
    let stats = h
        .attrs
        .get("statistics_")
        .and_then(items)
        .ok_or_else(|| bad(h, "statistics_"))?;
    let statistics = stats
        .iter()
        .map(|v| match v {
            Value::Null => None,
            Value::String(s) => Some(Cell::Text(s.clone())),
            v => json_f64(v).map(Cell::Number),
        })
        .collect();
    Ok(Op::ImputeCells(CellImputer {
        statistics,
        missing_values,
        keep_empty_features,
    }))
}

// ---------------------------------------------------------------------------
// `oxlearn inspect`: the components of a composite.

/// One line per component of `h` (recursively, indented): its index,
/// name, kind, `n_features_in` and output width (or "predicts" for a final
/// estimator), and for a column transformer's parts the columns they
/// read. Strings from the file are returned raw: the caller escapes them.
pub fn describe_parts(h: &Header, arrays: &[ArrayView<'_>], depth: usize) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let selected = h
        .attrs
        .get("_transformer_to_input_indices")
        .and_then(|v| v.get("__dict__"))
        .and_then(Value::as_object);
    for (i, part) in h.parts.iter().enumerate() {
        let sub_arrays = part_arrays(arrays, i);
        let sub = h.part(i);
        let width = match sub.as_ref().map(|s| schema::width(s, &sub_arrays)) {
            Some(Ok(Some(w))) => format!("{w}"),
            Some(Ok(None)) => "predicts".into(),
            _ => "?".into(),
        };
        let n_in = part.n_features_in.map_or("-".to_owned(), |n| n.to_string());
        let mut line = format!(
            "{i} {}: {}, n_features_in {n_in} -> {width}",
            part.name, part.kind
        );
        if let Some(cols) = selected
            .and_then(|m| m.get(&part.name))
            .and_then(Value::as_array)
        {
            let shown: Vec<String> = cols
                .iter()
                .map(|c| match (c.as_u64(), &h.feature_names_in) {
                    (Some(j), Some(names)) => names
                        .get(j as usize)
                        .cloned()
                        .unwrap_or_else(|| j.to_string()),
                    (Some(j), None) => j.to_string(),
                    _ => c.to_string(),
                })
                .collect();
            line.push_str(&format!(" (columns: {})", shown.join(", ")));
        }
        out.push((depth, line));
        if let Some(sub) = sub {
            if depth < schema::MAX_PART_DEPTH {
                out.extend(describe_parts(&sub, &sub_arrays, depth + 1));
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::frame::read_frame;
    use crate::npy::read_npy;
    use oxlearn_format::forge::{seal, split};
    use oxlearn_format::{write_file, Labels};
    use serde_json::json;
    use std::path::PathBuf;

    fn golden(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../python/oxlearn/tests/golden/1.3")
            .join(name)
    }

    fn values(y: &Prediction) -> Vec<f64> {
        match y {
            Prediction::Values(Matrix::F64 { data, .. }) => data.clone(),
            Prediction::Values(Matrix::F32 { data, .. }) => {
                data.iter().map(|&v| f64::from(v)).collect()
            }
            Prediction::Labels(Labels::Int { values, .. }) => {
                values.iter().map(|&v| v as f64).collect()
            }
            Prediction::Labels(_) => panic!("numeric labels expected"),
        }
    }

    #[test]
    fn golden_pipelines_predict_their_recorded_values() {
        for name in [
            "Pipeline-scalers-ridge",
            "Pipeline-impute-poly-select-logistic",
            "Pipeline-normalizer-pca-kmeans",
            "ColumnTransformer-onehot-ordinal-forest",
            "ColumnTransformer-passthrough-remainder",
        ] {
            let bytes = std::fs::read(golden(&format!("{name}.oxl"))).unwrap();
            let (served, _) = Served::load(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            let Served::Pipeline(p) = served else {
                panic!("{name}: not a composite")
            };
            let (x, _) =
                Frame::from_npy(&std::fs::read(golden(&format!("{name}.X.npy"))).unwrap()).unwrap();
            let want =
                read_npy(&std::fs::read(golden(&format!("{name}.pred.npy"))).unwrap()).unwrap();
            let (y, _) = p.predict(x).unwrap_or_else(|e| panic!("{name}: {e}"));
            let want = match want {
                Matrix::F64 { data, .. } => data,
                Matrix::F32 { data, .. } => data.iter().map(|&v| f64::from(v)).collect(),
            };
            let got = values(&y);
            assert_eq!(got.len(), want.len(), "{name}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.to_bits(), w.to_bits(), "{name}");
            }
        }
    }

    /// A pipeline fitted on a data frame with columns `city` (strings) and
    /// `age`: one-hot city (Lyon, Paris; unknown ones refused), age passed
    /// through, then `y = 1·Lyon + 2·Paris + 0.5·age + 10`.
    fn city_pipeline() -> Vec<u8> {
        let names = json!(["city", "age"]);
        let one_hot = json!({
            "name": "oh", "kind": "preprocessing.OneHotEncoder",
            "schema_version": 1, "fitted": true, "dtype": null,
            "n_features_in": 1, "feature_names_in": ["city"],
            "params": {"categories": "auto", "drop": null,
                       "dtype": "float64", "feature_name_combiner": "concat",
                       "handle_unknown": "error", "max_categories": null,
                       "min_frequency": null, "sparse_output": false},
            "attrs": {
                "categories_": [{"__ndarray__": ["Lyon", "Paris"],
                                 "dtype": "|O", "shape": [2]}],
                "drop_idx_": null, "_infrequent_enabled": false,
                "_drop_idx_after_grouping": null, "_n_features_outs": [2],
            },
        });
        let remainder = json!({
            "name": "remainder", "kind": "compose.passthrough",
            "schema_version": 1, "fitted": true, "dtype": null,
            "n_features_in": 1, "feature_names_in": null,
            "params": {}, "attrs": {},
        });
        let ct_attrs = json!({
            "_transformer_to_input_indices":
                {"__dict__": {"oh": [0], "remainder": [1]}},
            "_columns": [["city"], [1]],
            "sparse_output_": false,
            "_remainder": ["remainder", "passthrough", [1]],
            "output_indices_": {"__dict__": {"oh": [0, 2], "remainder": [2, 3]}},
        });
        let ct_params = json!({
            "n_jobs": null, "remainder": "passthrough", "sparse_threshold": 0.3,
            "transformer_weights": null, "verbose": false,
            "verbose_feature_names_out": true, "force_int_remainder_cols": "deprecated",
        });
        let ct = json!({
            "name": "ct", "kind": "compose.ColumnTransformer", "schema_version": 1,
            "fitted": true, "dtype": null, "n_features_in": 2,
            "feature_names_in": names, "params": ct_params, "attrs": ct_attrs,
            "parts": [one_hot, remainder],
        });
        let lr = json!({
            "name": "lr", "kind": "linear_model.LinearRegression", "schema_version": 1,
            "fitted": true, "dtype": "float64", "n_features_in": 3,
            "feature_names_in": null,
            "params": {"copy_X": true, "fit_intercept": true, "n_jobs": null,
                       "positive": false, "tol": 1e-6},
            "attrs": {"rank_": 3},
        });
        let header = json!({
            "format_version": "1.3", "kind": "pipeline.Pipeline", "schema_version": 1,
            "oxlearn_version": env!("CARGO_PKG_VERSION"), "sklearn_version": "1.9.1",
            "numpy_version": "2.4.6", "python_version": "3.11.7", "device": "cpu",
            "fitted": true, "dtype": null, "n_features_in": 2, "feature_names_in": names,
            "params": {"memory": null, "transform_input": null, "verbose": false},
            "attrs": {}, "parts": [ct, lr], "arrays": [], "checksum": "",
        });
        let header: Header = serde_json::from_value(header).unwrap();
        let coef: Vec<u8> = [1.0f64, 2.0, 0.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let intercept = 10.0f64.to_le_bytes();
        let views = [
            ArrayView {
                name: "1/coef_",
                dtype: DType::Float64,
                shape: &[3],
                data: &coef,
            },
            ArrayView {
                name: "1/intercept_",
                dtype: DType::Float64,
                shape: &[],
                data: &intercept,
            },
        ];
        let json = header.seal(&views, true).unwrap();
        let mut out = Vec::new();
        write_file(&mut out, &json, &views).unwrap();
        out
    }

    fn city(csv: &str) -> Result<Vec<f64>, String> {
        let (served, _) = Served::load(&city_pipeline()).unwrap();
        let Served::Pipeline(p) = served else {
            panic!("not a composite")
        };
        p.predict(read_frame(csv).unwrap()).map(|(y, _)| values(&y))
    }

    #[test]
    fn columns_by_name_in_any_order_extra_ones_ignored() {
        assert_eq!(
            city("age,note,city\n4,x,Paris\n2.5,,Lyon\n").unwrap(),
            [2.0 + 0.5 * 4.0 + 10.0, 1.0 + 0.5 * 2.5 + 10.0]
        );
    }

    #[test]
    fn what_python_refuses_is_refused_with_its_words() {
        assert_eq!(
            city("age\n4\n").unwrap_err(),
            "columns are missing: {'city'}"
        );
        assert_eq!(
            city("city,age\nNice,4\nParis,1\n").unwrap_err(),
            "Found unknown categories ['Nice'] in column 0 during transform"
        );
        assert_eq!(
            city("city,age\nParis,1\n,4\n").unwrap_err(),
            "Found unknown categories [nan] in column 0 during transform"
        );
        // A column of missing values only is numeric, as pandas reads it.
        assert_eq!(
            city("city,age\n,4\n").unwrap_err(),
            "Found unknown categories [np.float64(nan)] in column 0 during transform"
        );
        // Passed through to the final step, whose input column 2 it is.
        let e = city("city,age\nParis,old\n").unwrap_err();
        assert!(
            e.starts_with("column 'age' holds text ('old' in row 0), but LinearRegression"),
            "{e}"
        );
        let e = city("city,age\n").unwrap_err();
        assert!(e.starts_with("Found array with 0 sample(s)"), "{e}");
        // Without names: by position, and the count must match.
        let e = city("Paris,1,2\n").unwrap_err();
        assert_eq!(
            e,
            "X has 3 features, but ColumnTransformer is expecting 2 features as input."
        );
        assert_eq!(city("Paris,1\n").unwrap(), [12.5]);
    }

    #[test]
    fn forged_widths_are_refused_with_the_formats_message() {
        let path = golden("Pipeline-impute-poly-select-logistic.oxl");
        let mut parts = split(&std::fs::read(path).unwrap()).unwrap();
        parts.header.get_mut("parts").unwrap()[2]["params"]["threshold"] = json!(1e300);
        let e = Served::load(&seal(&parts)).err().unwrap();
        assert!(e.contains("outputs 0"), "{e}");
    }

    /// Forged composites (a forger's structural changes, re-sealed) load
    /// or are refused, and those that load predict or refuse: never a
    /// panic.
    #[test]
    fn forged_composites_never_panic() {
        use oxlearn_format::forge::{mutate, Rng};
        let mut files: Vec<(Vec<u8>, Frame)> = Vec::new();
        for name in [
            "Pipeline-scalers-ridge",
            "Pipeline-impute-poly-select-logistic",
            "ColumnTransformer-onehot-ordinal-forest",
            "Pipeline-onehot-strings-knn",
        ] {
            let bytes = std::fs::read(golden(&format!("{name}.oxl"))).unwrap();
            let x = std::fs::read(golden(&format!("{name}.X.npy"))).unwrap();
            files.push((bytes, Frame::from_npy(&x).unwrap().0));
        }
        let csv = "city,age\nParis,1\nLyon,\n";
        files.push((city_pipeline(), read_frame(csv).unwrap()));
        let (mut loaded, mut served) = (0, 0);
        for (bytes, x) in &files {
            let original = split(bytes).unwrap();
            for seed in 0..400 {
                let mut rng = Rng::new(seed);
                let mut parts = original.clone();
                for _ in 0..=rng.below(2) {
                    mutate(&mut parts, &mut rng);
                }
                if let Ok((Served::Pipeline(p), _)) = Served::load(&seal(&parts)) {
                    loaded += 1;
                    served += usize::from(p.predict(x.clone()).is_ok());
                }
            }
        }
        // Some forgeries are harmless (a parameter the binary does not read).
        eprintln!("forged composites: {loaded} loaded, {served} predicted");
        assert!(loaded > 0 && served > 0, "{loaded} {served}");
    }

    #[test]
    fn inspect_lines_name_every_part() {
        let bytes = city_pipeline();
        let f = parse_file(&bytes).unwrap();
        let lines: Vec<String> = describe_parts(&f.header, &f.arrays(), 0)
            .into_iter()
            .map(|(depth, line)| format!("{}{line}", "  ".repeat(depth)))
            .collect();
        assert_eq!(
            lines,
            [
                "0 ct: compose.ColumnTransformer, n_features_in 2 -> 3",
                "  0 oh: preprocessing.OneHotEncoder, n_features_in 1 -> 2 (columns: city)",
                "  1 remainder: compose.passthrough, n_features_in 1 -> 1 (columns: age)",
                "1 lr: linear_model.LinearRegression, n_features_in 3 -> predicts",
            ]
        );
    }
}
