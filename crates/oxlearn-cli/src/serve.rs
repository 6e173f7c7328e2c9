//! `oxlearn serve`: model files served over HTTP (axum on tokio).
//!
//! Every answer goes through the code `oxlearn predict` runs
//! ([`Served::load`], [`Model::call`](crate::model::Model::call), which
//! `predict` shares, [`Pipeline::predict`](crate::pipeline::Pipeline::predict)),
//! so it is bit-identical to the binary's file output and to Python's
//! method of the same name; [`Servable`] answers the same in-process.
//!
//! Models are read into memory (the crate forbids unsafe code, so no
//! memory map), verified and decoded at start-up; the file bytes are then
//! dropped. A model is an `Arc` in its slot: reloading swaps the `Arc`, so
//! requests in flight finish on the model they started with.
//!
//! Request paths never panic on input: every failure is a 4xx (bad input)
//! or 5xx (an unexpected failure of ours) with a JSON `{"error": ...}`.

use crate::frame::Frame;
use crate::model::{Answer, Method, Prediction};
use crate::npy::{
    labels_width_for, npy_header, npy_shape, read_npy, write_labels_npy, write_npy, Matrix,
};
use crate::pipeline::{describe_parts, Served};
use crate::text::escape;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path as UrlPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use oxlearn_core::preprocessing::{Cells, Column};
use oxlearn_format::{parse_file, Labels};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What `oxlearn serve` was asked to do.
pub struct Options {
    /// `PATH` or `NAME=PATH`, one per model.
    pub models: Vec<String>,
    pub host: String,
    pub port: u16,
    pub max_body_bytes: usize,
}

/// A verified model and what `GET /v1/models` shows of it.
struct Loaded {
    served: Served,
    /// The methods the binary computes for `served` ([`Served::methods`]).
    methods: Vec<Method>,
    /// `feature_names_in_`: JSON objects are taken by these names.
    feature_names: Option<Vec<String>>,
    /// The model's description (header fields), without name and file.
    info: Map<String, Value>,
    /// The model file's size: no kind reads more than its arrays per row.
    bytes: usize,
}

impl Loaded {
    /// Why `method` gets a 404: what the binary serves for this model.
    fn not_served(&self, method: &str) -> String {
        let served: Vec<&str> = self.methods.iter().map(|m| m.name()).collect();
        let kind = self.info.get("kind").and_then(Value::as_str).unwrap_or("?");
        format!(
            "the binary does not serve {method} for {kind}: it serves {}",
            served.join(", ")
        )
    }
}

/// Requests whose body size times the model's size is at most this are
/// answered on the async worker that read them. That product bounds the
/// rows times each row's reads of the model (a JSON value takes a few
/// bytes), so such work takes at most a few milliseconds; handing it to the
/// blocking pool instead costs two thread switches, more than a small
/// model's prediction of a few rows.
const INLINE_COST: u64 = 1 << 31;

/// One model name on the command line: its file and the model last loaded
/// from it (none when it has never loaded).
struct Slot {
    name: String,
    path: PathBuf,
    current: Option<Arc<Loaded>>,
    /// Why the last load of the file failed (cleared by a good load).
    error: Option<String>,
}

struct App {
    slots: RwLock<Vec<Slot>>,
    /// One reload at a time: two would race to swap the same slots.
    reloading: tokio::sync::Mutex<()>,
    metrics: Metrics,
}

impl App {
    fn slots(&self) -> std::sync::RwLockReadGuard<'_, Vec<Slot>> {
        // A panic while the lock was held cannot leave a slot half written
        // (each write is one assignment): the data stays usable.
        self.slots.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The model names and files of the command line: `NAME=PATH`, or `PATH`
/// named by its file stem. Names go into URLs, so they are limited to
/// letters, digits, `_`, `-` and `.`; a duplicate is an error.
fn parse_specs(args: &[String]) -> Result<Vec<(String, PathBuf)>, String> {
    let valid = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for arg in args {
        let (name, path) = match arg.split_once('=') {
            Some((name, path)) if valid(name) => (name.to_owned(), PathBuf::from(path)),
            _ => {
                let path = PathBuf::from(arg);
                let stem = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_owned();
                if !valid(&stem) {
                    return Err(format!(
                        "{}: the file name is not a usable model name (letters, digits, \
                         '_', '-', '.'); name it with NAME=PATH",
                        escape(arg)
                    ));
                }
                (stem, path)
            }
        };
        if let Some((_, first)) = out.iter().find(|(n, _)| *n == name) {
            return Err(format!(
                "two models are named {name:?} ({} and {}); name them with NAME=PATH",
                escape(&first.display().to_string()),
                escape(&path.display().to_string())
            ));
        }
        out.push((name, path));
    }
    if out.is_empty() {
        return Err("no model file given".into());
    }
    Ok(out)
}

/// Reads, verifies (checksums, compatibility, structure: [`Served::load`])
/// and describes a model file.
fn load(path: &Path) -> Result<Loaded, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    load_bytes(&bytes)
}

/// [`load`] of a model file's bytes.
fn load_bytes(bytes: &[u8]) -> Result<Loaded, String> {
    let (served, warnings) = Served::load(bytes)?;
    // Served::load parsed and verified this very buffer: parsing it again
    // for the description cannot fail differently.
    let file = parse_file(bytes).map_err(|e| e.to_string())?;
    let h = &file.header;
    let methods = served.methods();
    let parts: Vec<String> = describe_parts(h, &file.arrays(), 0)
        .into_iter()
        .map(|(depth, line)| format!("{}{line}", "  ".repeat(depth)))
        .collect();
    let mut info = Map::new();
    info.insert("bytes".into(), json!(bytes.len()));
    info.insert("kind".into(), json!(h.kind));
    info.insert("schema_version".into(), json!(h.schema_version));
    info.insert("format_version".into(), json!(h.format_version));
    info.insert(
        "versions".into(),
        json!({
            "oxlearn": h.oxlearn_version,
            "scikit-learn": h.sklearn_version,
            "numpy": h.numpy_version,
            "python": h.python_version,
        }),
    );
    info.insert("fitted".into(), json!(h.fitted));
    info.insert("device".into(), json!(h.device));
    info.insert("array_namespace".into(), json!(h.array_namespace));
    info.insert("dtype".into(), json!(h.dtype.map(|d| d.name())));
    info.insert("n_features_in".into(), json!(h.n_features_in));
    info.insert("feature_names_in".into(), json!(h.feature_names_in));
    info.insert("checksum".into(), json!(h.checksum));
    info.insert(
        "methods".into(),
        json!(methods.iter().map(|m| m.name()).collect::<Vec<_>>()),
    );
    if !parts.is_empty() {
        info.insert("parts".into(), json!(parts));
    }
    info.insert("warnings".into(), json!(warnings));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    info.insert("loaded_at".into(), json!(now));
    Ok(Loaded {
        served,
        methods,
        feature_names: h.feature_names_in.clone(),
        info,
        bytes: bytes.len(),
    })
}

/// Runs the server until SIGTERM or SIGINT. Fails when no model loads or
/// the address cannot be bound.
pub fn run(opts: Options) -> Result<(), String> {
    let specs = parse_specs(&opts.models)?;
    let mut slots = Vec::new();
    for (name, path) in specs {
        let (current, error) = match load(&path) {
            Ok(l) => {
                for w in l.info["warnings"].as_array().into_iter().flatten() {
                    eprintln!(
                        "oxlearn: {name}: warning: {}",
                        escape(w.as_str().unwrap_or_default())
                    );
                }
                (Some(Arc::new(l)), None)
            }
            Err(e) => {
                eprintln!(
                    "oxlearn: {name}: not served: {}: {}",
                    escape(&path.display().to_string()),
                    escape(&e)
                );
                (None, Some(e))
            }
        };
        slots.push(Slot {
            name,
            path,
            current,
            error,
        });
    }
    if slots.iter().all(|s| s.current.is_none()) {
        return Err("no model could be loaded: nothing to serve".into());
    }
    let names: HashSet<String> = slots.iter().map(|s| s.name.clone()).collect();
    let app = Arc::new(App {
        slots: RwLock::new(slots),
        reloading: tokio::sync::Mutex::new(()),
        metrics: Metrics::new(names),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the server's runtime: {e}"))?;
    runtime.block_on(serve(app, &opts.host, opts.port, opts.max_body_bytes))
}

async fn serve(app: Arc<App>, host: &str, port: u16, max_body: usize) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    // The signals are ours before anyone is told the server is up: a
    // SIGHUP or SIGTERM sent right after the first line never meets the
    // default action (the end of the process).
    let signals = Signals::listen();
    // The first line of stdout: tests and scripts read the port from it
    // (port 0 binds an ephemeral one).
    println!("listening on http://{addr}");
    {
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    tokio::spawn(reload_on_sighup(app.clone(), signals.hup));
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{name}", get(one_model))
        .route("/v1/models/{name}/{method}", post(call))
        .route("/v1/admin/reload", post(admin_reload))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(app.clone(), record))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(app);
    // Answers are small writes on kept-alive connections: without
    // TCP_NODELAY, Nagle's algorithm and delayed ACKs add tens of
    // milliseconds to some of them.
    let listener = {
        use axum::serve::ListenerExt;
        listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                eprintln!("oxlearn: cannot set TCP_NODELAY: {e}");
            }
        })
    };
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal(signals.term, signals.int))
    .await
    .map_err(|e| format!("the server failed: {e}"))?;
    eprintln!("oxlearn: stopped");
    Ok(())
}

/// The signals the server handles, each listened for (or why it cannot
/// be: then it keeps its default action, and the server says so).
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn listen() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        let listen = |kind: SignalKind, name: &str, otherwise: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("oxlearn: cannot listen for {name}{otherwise}: {e}");
                None
            }
        };
        Signals {
            term: listen(SignalKind::terminate(), "SIGTERM", ""),
            int: listen(SignalKind::interrupt(), "SIGINT", ""),
            hup: listen(
                SignalKind::hangup(),
                "SIGHUP",
                " (reload with POST /v1/admin/reload)",
            ),
        }
    }
}

/// Resolves at the first SIGTERM or SIGINT; axum then stops accepting and
/// waits for the requests in flight.
async fn shutdown_signal(
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
) {
    async fn first(s: Option<tokio::signal::unix::Signal>) {
        match s {
            Some(mut s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
    tokio::select! {
        () = first(term) => {}
        () = first(int) => {}
    }
    eprintln!("oxlearn: shutting down: finishing the requests in flight");
}

async fn reload_on_sighup(app: Arc<App>, hup: Option<tokio::signal::unix::Signal>) {
    let Some(mut hup) = hup else {
        return;
    };
    while hup.recv().await.is_some() {
        eprintln!("oxlearn: SIGHUP: reloading every model file");
        reload(&app).await;
    }
}

/// Re-reads and verifies every file; a model is replaced only by a file
/// that loads, so a bad file leaves the previous model serving. Returns
/// one outcome per model.
async fn reload(app: &Arc<App>) -> Vec<Value> {
    let _one_at_a_time = app.reloading.lock().await;
    let files: Vec<(String, PathBuf)> = app
        .slots()
        .iter()
        .map(|s| (s.name.clone(), s.path.clone()))
        .collect();
    // Loading reads files and builds indexes: off the async workers.
    let loaded = tokio::task::spawn_blocking(move || {
        files
            .into_iter()
            .map(|(name, path)| {
                let result = load(&path);
                (name, result)
            })
            .collect::<Vec<_>>()
    })
    .await;
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            eprintln!("oxlearn: reload failed: {e}");
            return vec![json!({"error": format!("the reload failed: {e}")})];
        }
    };
    let mut outcomes = Vec::new();
    let mut slots = app.slots.write().unwrap_or_else(PoisonError::into_inner);
    for (name, result) in loaded {
        let Some(slot) = slots.iter_mut().find(|s| s.name == name) else {
            continue;
        };
        match result {
            Ok(l) => {
                eprintln!(
                    "oxlearn: {name}: reloaded from {}",
                    escape(&slot.path.display().to_string())
                );
                slot.current = Some(Arc::new(l));
                slot.error = None;
                outcomes.push(json!({"name": name, "status": "reloaded"}));
            }
            Err(e) => {
                let kept = slot.current.is_some();
                eprintln!(
                    "oxlearn: {name}: reload failed, {}: {}: {}",
                    if kept {
                        "still serving the previous model"
                    } else {
                        "not served"
                    },
                    escape(&slot.path.display().to_string()),
                    escape(&e)
                );
                outcomes.push(json!({
                    "name": name,
                    "status": if kept { "kept previous" } else { "not served" },
                    "error": e,
                }));
                slot.error = Some(e);
            }
        }
    }
    outcomes
}

/// A JSON error answer.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such endpoint: GET /healthz, GET /metrics, GET /v1/models, \
         GET /v1/models/{name}, POST /v1/models/{name}/{method}, POST /v1/admin/reload",
    )
}

async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "this HTTP method is not allowed here (predictions and reloads are POST, the rest GET)",
    )
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let slots = app.slots();
    let loaded = slots.iter().filter(|s| s.current.is_some()).count();
    axum::Json(json!({"status": "ok", "models_loaded": loaded, "models": slots.len()}))
        .into_response()
}

/// What `GET /v1/models` shows of one slot.
fn describe(slot: &Slot) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(slot.name));
    m.insert("file".into(), json!(slot.path.display().to_string()));
    m.insert("loaded".into(), json!(slot.current.is_some()));
    if let Some(e) = &slot.error {
        m.insert("error".into(), json!(e));
    }
    if let Some(l) = &slot.current {
        m.extend(l.info.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Value::Object(m)
}

async fn list_models(State(app): State<Arc<App>>) -> Response {
    let models: Vec<Value> = app.slots().iter().map(describe).collect();
    axum::Json(json!({"models": models})).into_response()
}

async fn one_model(State(app): State<Arc<App>>, UrlPath(name): UrlPath<String>) -> Response {
    match app.slots().iter().find(|s| s.name == name) {
        Some(slot) => axum::Json(describe(slot)).into_response(),
        None => unknown_model(&app, &name),
    }
}

fn unknown_model(app: &App, name: &str) -> Response {
    let names: Vec<String> = app.slots().iter().map(|s| s.name.clone()).collect();
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no model named {name:?}; this server serves {}",
            names.join(", ")
        ),
    )
}

async fn admin_reload(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    // Reloading costs a full load of every model: only from this machine.
    if !peer.ip().is_loopback() {
        return error(
            StatusCode::FORBIDDEN,
            "reload is only accepted from the loopback address (or send SIGHUP)",
        );
    }
    let outcomes = reload(&app).await;
    axum::Json(json!({"models": outcomes})).into_response()
}

/// The body formats: JSON or `.npy`, chosen by Content-Type.
#[derive(Clone, Copy, PartialEq)]
enum Format {
    Json,
    Npy,
}

fn format_of(headers: &HeaderMap) -> Option<Format> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mime = value.split(';').next()?.trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Some(Format::Json),
        "application/x-npy" => Some(Format::Npy),
        _ => None,
    }
}

/// A failed request: its status and message.
type Failure = (StatusCode, String);

fn bad(message: impl Into<String>) -> Failure {
    (StatusCode::BAD_REQUEST, message.into())
}

async fn call(
    State(app): State<Arc<App>>,
    UrlPath((name, method)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(method) = Method::from_name(&method) else {
        let all: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
        return error(
            StatusCode::NOT_FOUND,
            format!("no method {method:?}: the methods are {}", all.join(", ")),
        );
    };
    let model = match app.slots().iter().find(|s| s.name == name) {
        Some(Slot {
            current: Some(l), ..
        }) => l.clone(),
        Some(Slot { error: e, .. }) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "model {name:?} is not loaded: {}",
                    e.as_deref().unwrap_or("unknown reason")
                ),
            )
        }
        None => return unknown_model(&app, &name),
    };
    if !model.methods.contains(&method) {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "model {name:?}: {} (POST /v1/models/{name}/METHOD)",
                model.not_served(method.name())
            ),
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "the request body is larger than --max-body-bytes".to_owned()
            } else {
                rejection.body_text()
            };
            return error(status, message);
        }
    };
    let Some(format) = format_of(&headers) else {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be Content-Type application/json ({\"instances\": [...]}) or \
             application/x-npy (a .npy file)",
        );
    };
    if method == Method::Kneighbors && format == Format::Npy {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "kneighbors answers two arrays (distances and indices), which one .npy cannot \
             hold: send the rows as application/json",
        );
    }
    // Predicting is CPU work: off the async workers, unless it is small. A
    // panic there (a bug, never input) is caught and answered as a 500.
    let answer = if (body.len() as u64).saturating_mul(model.bytes as u64) <= INLINE_COST {
        std::panic::catch_unwind(AssertUnwindSafe(|| answer(&model, method, format, &body)))
            .map_err(|_| "a panic (its message is above)".to_owned())
    } else {
        tokio::task::spawn_blocking(move || answer(&model, method, format, &body))
            .await
            .map_err(|e| e.to_string())
    };
    match answer {
        Ok(Ok((bytes, content_type))) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            bytes,
        )
            .into_response(),
        Ok(Err((status, message))) => error(status, message),
        Err(e) => {
            eprintln!("oxlearn: {name}: internal error: {e}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error while predicting",
            )
        }
    }
}

/// The model's input, as the binary's `predict` reads it.
enum Input {
    /// For a single estimator: the matrix and its column names.
    Matrix(Matrix, Option<Vec<String>>),
    /// For a pipeline.
    Frame(Frame),
}

impl Input {
    fn values(&self) -> usize {
        match self {
            Input::Matrix(m, _) => m.rows().saturating_mul(m.cols()),
            Input::Frame(f) => f.rows.saturating_mul(f.columns.len()),
        }
    }
}

/// Reads the body, computes `method`, and writes the answer in the body's
/// format.
fn answer(
    model: &Loaded,
    method: Method,
    format: Format,
    body: &[u8],
) -> Result<(Vec<u8>, &'static str), Failure> {
    let (y, warnings) = respond(model, method, format, body, None)?;
    Ok(match format {
        Format::Npy => match npy_arrays(model, y)?.as_mut_slice() {
            [one] => (std::mem::take(one), "application/x-npy"),
            // `call` refuses kneighbors (two arrays) in .npy before predicting.
            _ => {
                return Err((
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error: several arrays in one .npy".into(),
                ))
            }
        },
        Format::Json => {
            let mut out = Map::new();
            match y {
                Answer::Array(y) => {
                    let (predictions, dtype) = prediction_json(&y);
                    out.insert("predictions".into(), predictions);
                    out.insert("dtype".into(), json!(dtype));
                }
                Answer::Neighbors { distances, indices } => {
                    let k = distances.cols().max(1);
                    let (d, dtype) = prediction_json(&Prediction::Values(distances));
                    out.insert("distances".into(), d);
                    out.insert(
                        "indices".into(),
                        json!(indices.chunks(k).collect::<Vec<_>>()),
                    );
                    out.insert("dtype".into(), json!(dtype));
                }
            }
            if !warnings.is_empty() {
                out.insert("warnings".into(), json!(warnings));
            }
            let bytes = serde_json::to_vec(&Value::Object(out))
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            (bytes, "application/json")
        }
    })
}

/// `method` on a body: the answer and every warning (reading, then
/// computing), for the HTTP handler and [`Servable`] alike.
fn respond(
    model: &Loaded,
    method: Method,
    format: Format,
    body: &[u8],
    names: Option<Vec<String>>,
) -> Result<(Answer, Vec<String>), Failure> {
    let (input, mut warnings) = read_input(model, format, body, names)?;
    let (y, more) = run_method(model, method, input)?;
    warnings.extend(more);
    Ok((y, warnings))
}

/// The model's input from a body, and the warnings reading it gave.
/// `names`: the column names of a `.npy` body (a data frame's, sent
/// in-process by [`Servable`]).
fn read_input(
    model: &Loaded,
    format: Format,
    body: &[u8],
    names: Option<Vec<String>>,
) -> Result<(Input, Vec<String>), Failure> {
    let pipeline = matches!(model.served, Served::Pipeline(_));
    Ok(match format {
        Format::Json => (
            json_input(body, pipeline, model.feature_names.as_deref())?,
            Vec::new(),
        ),
        Format::Npy if pipeline => {
            let (frame, warning) = Frame::from_npy(body).map_err(|e| bad(e.to_string()))?;
            (Input::Frame(frame), warning.into_iter().collect())
        }
        Format::Npy => (
            Input::Matrix(read_npy(body).map_err(|e| bad(e.to_string()))?, names),
            Vec::new(),
        ),
    })
}

/// `method` on `input`, with the warnings scikit-learn would give.
fn run_method(
    model: &Loaded,
    method: Method,
    input: Input,
) -> Result<(Answer, Vec<String>), Failure> {
    // Small requests (one or a few rows) are answered on this thread: a
    // hand-off to the pool costs more than the work. Larger ones use all
    // cores, as `oxlearn predict` does.
    let work = input.values().saturating_mul(256);
    let predict = || compute(&model.served, method, input);
    let result = if work < oxlearn_core::threads::INLINE_WORK {
        predict()
    } else {
        oxlearn_core::threads::run(None, work, predict)
    };
    result.map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e))
}

/// The answer's arrays as `.npy` files, as `oxlearn predict` writes them:
/// one, or the distances and indices of `kneighbors`.
fn npy_arrays(model: &Loaded, y: Answer) -> Result<Vec<Vec<u8>>, Failure> {
    Ok(match y {
        Answer::Array(Prediction::Values(m)) => vec![write_npy(&m)],
        Answer::Array(Prediction::Labels(l)) => {
            let width = labels_width_for(&l, model.served.label_width())
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))?;
            vec![write_labels_npy(&l, width)]
        }
        Answer::Neighbors { distances, indices } => {
            let shape = npy_shape(distances.rows(), distances.cols(), false);
            let mut ind = npy_header("<i8", &shape);
            for i in indices {
                ind.extend_from_slice(&i.to_le_bytes());
            }
            vec![write_npy(&distances), ind]
        }
    })
}

/// A model file loaded and verified as `oxlearn serve` loads one, answering
/// in-process what the server answers over HTTP (Python's
/// `oxlearn.serving.Servable` runs this very code).
pub struct Servable {
    loaded: Loaded,
}

impl Servable {
    /// Verifies (checksums, compatibility, structure) and loads a model
    /// file's bytes.
    pub fn load(bytes: &[u8]) -> Result<Servable, String> {
        Ok(Servable {
            loaded: load_bytes(bytes)?,
        })
    }

    /// What `GET /v1/models/{name}` shows of the model, as JSON text
    /// (without `name`, `file` and `loaded`).
    pub fn info(&self) -> String {
        Value::Object(self.loaded.info.clone()).to_string()
    }

    /// The methods served, as scikit-learn names them.
    pub fn methods(&self) -> Vec<&'static str> {
        self.loaded.methods.iter().map(|m| m.name()).collect()
    }

    /// `method` on a body: a `.npy` file (`names`: its columns' names, for
    /// a model fitted on a data frame) or, `json`, the server's JSON body.
    /// Returns the answer's arrays as `.npy` files (the distances and
    /// indices for `kneighbors`) and scikit-learn's warnings; an error is
    /// the server's status and message.
    #[allow(clippy::type_complexity)]
    pub fn call(
        &self,
        method: &str,
        body: &[u8],
        json: bool,
        names: Option<Vec<String>>,
    ) -> Result<(Vec<Vec<u8>>, Vec<String>), (u16, String)> {
        let fail = |(status, message): Failure| (status.as_u16(), message);
        let model = &self.loaded;
        let method = match Method::from_name(method) {
            Some(m) if model.methods.contains(&m) => m,
            _ => return Err((StatusCode::NOT_FOUND.as_u16(), model.not_served(method))),
        };
        let format = if json { Format::Json } else { Format::Npy };
        let (y, warnings) = respond(model, method, format, body, names).map_err(fail)?;
        Ok((npy_arrays(model, y).map_err(fail)?, warnings))
    }
}

/// [`Served`]'s answer to `method` and the warnings scikit-learn would give.
fn compute(served: &Served, method: Method, input: Input) -> Result<(Answer, Vec<String>), String> {
    match (served, input) {
        (Served::Model(m), Input::Matrix(x, names)) => {
            let warning = m.check_feature_names(names.as_deref())?;
            Ok((m.call(method, &x)?, warning.into_iter().collect()))
        }
        // A pipeline serves its one method (`Served::methods`).
        (Served::Pipeline(p), Input::Frame(f)) => p.predict(f).map(|(y, w)| (Answer::Array(y), w)),
        // json_input and answer build the input for the kind they are given.
        _ => Err("internal error: the input does not match the model".into()),
    }
}

/// One JSON cell of a request.
enum Cell<'a> {
    Number(f64),
    Text(&'a str),
}

fn cell<'a>(v: &'a Value, row: usize, col: &dyn Fn() -> String) -> Result<Cell<'a>, Failure> {
    match v {
        // JSON has no NaN: null is a missing value (NaN), which forests
        // route and imputers fill, as Python's predict does with NaN.
        Value::Null => Ok(Cell::Number(f64::NAN)),
        Value::Number(n) => n
            .as_f64()
            .map(Cell::Number)
            .ok_or_else(|| bad(format!("row {row}, {}: {n} is not a number", col()))),
        Value::String(s) => Ok(Cell::Text(s)),
        other => Err(bad(format!(
            "row {row}, {}: {other} is neither a number, a string nor null",
            col()
        ))),
    }
}

/// The `instances` of a JSON body: rows of values (by position), or
/// objects (by column name, for models fitted with feature names).
fn json_input(
    body: &[u8],
    pipeline: bool,
    feature_names: Option<&[String]>,
) -> Result<Input, Failure> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("malformed JSON: {e}")))?;
    let Some(Value::Array(rows)) = value.get("instances") else {
        return Err(bad(
            "the JSON body must be an object with \"instances\": a list of rows",
        ));
    };
    let objects = rows.first().is_some_and(Value::is_object);
    // Column names, and for each row its cells in that order.
    let (names, cells): (Option<Vec<String>>, Vec<Vec<&Value>>) = if objects {
        let Some(fitted) = feature_names else {
            return Err(bad(
                "this model was fitted without feature names: send each row as a list of \
                 values, in the fitted column order",
            ));
        };
        let first = rows[0]
            .as_object()
            .map(|o| o.keys().collect::<BTreeSet<_>>());
        let keys = first.unwrap_or_default();
        // The fitted order first (the order scikit-learn checks), then any
        // other keys (which a ColumnTransformer ignores and an estimator
        // refuses, with scikit-learn's message).
        let mut names: Vec<String> = fitted
            .iter()
            .filter(|n| keys.contains(n))
            .cloned()
            .collect();
        names.extend(
            keys.iter()
                .filter(|k| !fitted.contains(k))
                .map(|k| (*k).clone()),
        );
        let mut cells = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let Some(o) = row.as_object() else {
                return Err(bad(format!(
                    "row {i} is not an object, unlike row 0: send all rows as objects or all \
                     as lists"
                )));
            };
            if o.len() != names.len() || !o.keys().all(|k| keys.contains(k)) {
                return Err(bad(format!(
                    "row {i} has other keys than row 0: every row needs the same columns"
                )));
            }
            cells.push(names.iter().filter_map(|n| o.get(n)).collect());
        }
        (Some(names), cells)
    } else {
        let width = rows.first().and_then(Value::as_array).map_or(0, Vec::len);
        let mut cells = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let Some(r) = row.as_array() else {
                return Err(bad(format!(
                    "row {i} is not a list of values, unlike row 0: send all rows as lists \
                     or all as objects"
                )));
            };
            if r.len() != width {
                return Err(bad(format!(
                    "ragged rows: row {i} has {} values, row 0 has {width}",
                    r.len()
                )));
            }
            cells.push(r.iter().collect());
        }
        (None, cells)
    };
    let n = cells.len();
    let width = names
        .as_ref()
        .map_or_else(|| cells.first().map_or(0, Vec::len), Vec::len);
    let column_name = |j: usize| match &names {
        Some(names) => format!("column {:?}", names.get(j).map_or("", String::as_str)),
        None => format!("column {j}"),
    };
    if !pipeline {
        let mut data = Vec::with_capacity(n * width);
        for (i, row) in cells.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                match cell(v, i, &|| column_name(j))? {
                    Cell::Number(x) => data.push(x),
                    Cell::Text(_) => {
                        return Err(bad(format!(
                            "row {i}, {}: a string, but this model takes numbers (only \
                             pipelines with encoders take text)",
                            column_name(j)
                        )))
                    }
                }
            }
        }
        let x = Matrix::F64 {
            rows: n,
            cols: width,
            data,
            one_dim: false,
        };
        return Ok(Input::Matrix(x, names));
    }
    // A pipeline: a table whose columns are numbers, or text (with null
    // as missing), as pandas makes a data frame of the same rows.
    let mut columns = Vec::with_capacity(width);
    for j in 0..width {
        let col: Vec<Cell<'_>> = cells
            .iter()
            .enumerate()
            .map(|(i, row)| cell(row[j], i, &|| column_name(j)))
            .collect::<Result<_, _>>()?;
        let text = col.iter().any(|c| matches!(c, Cell::Text(_)));
        if !text {
            columns.push(Column::Numbers(
                col.iter()
                    .map(|c| match c {
                        Cell::Number(x) => *x,
                        Cell::Text(_) => f64::NAN,
                    })
                    .collect(),
            ));
            continue;
        }
        let mut texts = Vec::with_capacity(n);
        for (i, c) in col.iter().enumerate() {
            texts.push(match c {
                Cell::Text(s) => Some(*s),
                Cell::Number(x) if x.is_nan() => None,
                Cell::Number(_) => {
                    return Err(bad(format!(
                        "row {i}, {}: a number in a column of strings; send a category as \
                         a string",
                        column_name(j)
                    )))
                }
            });
        }
        columns.push(Column::Cells(Cells::from_texts(texts)));
    }
    Ok(Input::Frame(Frame {
        rows: n,
        columns,
        // Objects by name are a data frame (column-major in pandas); lists
        // of rows are a numpy array (row-major).
        column_major: names.is_some(),
        names,
        labels: None,
    }))
}

/// A float as JSON: its shortest round-trip text; NaN and infinities,
/// which JSON cannot hold, as null (the `.npy` answer keeps them).
fn float(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// The predictions as JSON values (one per row; a list per row for
/// several outputs) and their numpy dtype.
fn prediction_json(y: &Prediction) -> (Value, String) {
    match y {
        Prediction::Values(m) => {
            // float32 values are written as the float64 of the same value:
            // exact as either type.
            let (values, cols, one_dim, dtype): (Vec<Value>, usize, bool, &str) = match m {
                Matrix::F64 {
                    data,
                    cols,
                    one_dim,
                    ..
                } => (
                    data.iter().map(|&v| float(v)).collect(),
                    *cols,
                    *one_dim,
                    "float64",
                ),
                Matrix::F32 {
                    data,
                    cols,
                    one_dim,
                    ..
                } => (
                    data.iter().map(|&v| float(f64::from(v))).collect(),
                    *cols,
                    *one_dim,
                    "float32",
                ),
            };
            let out = if one_dim {
                Value::Array(values)
            } else {
                Value::Array(
                    values
                        .chunks(cols.max(1))
                        .map(|r| Value::Array(r.to_vec()))
                        .collect(),
                )
            };
            (out, dtype.to_owned())
        }
        Prediction::Labels(l) => match l {
            Labels::Int { values, descr } => (json!(values), descr.clone()),
            Labels::UInt { values, descr } => (json!(values), descr.clone()),
            Labels::Float { values, descr } => (
                Value::Array(values.iter().map(|&v| float(v)).collect()),
                descr.clone(),
            ),
            Labels::Bool(values) => (json!(values), "bool".into()),
            Labels::Str(values) => (json!(values), "str".into()),
        },
    }
}

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    /// Non-cumulative counts per bucket, the last for +Inf.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// Request counts by model, route and status, and latencies by model and
/// route. Model labels are the served names only (any other name in a URL
/// counts as `_unknown`), so a client cannot grow the label set.
struct Metrics {
    names: HashSet<String>,
    requests: Mutex<BTreeMap<(String, &'static str, u16), u64>>,
    latency: Mutex<BTreeMap<(String, &'static str), Histogram>>,
}

impl Metrics {
    fn new(names: HashSet<String>) -> Metrics {
        Metrics {
            names,
            requests: Mutex::new(BTreeMap::new()),
            latency: Mutex::new(BTreeMap::new()),
        }
    }

    /// The model and route labels of a request path.
    fn labels(&self, path: &str) -> (String, &'static str) {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["healthz"] => (String::new(), "healthz"),
            ["metrics"] => (String::new(), "metrics"),
            ["v1", "models"] => (String::new(), "models"),
            ["v1", "admin", "reload"] => (String::new(), "reload"),
            ["v1", "models", name, rest @ ..] => {
                let model = if self.names.contains(*name) {
                    (*name).to_owned()
                } else {
                    "_unknown".to_owned()
                };
                let route = match rest {
                    [] => "model",
                    [m] => Method::from_name(m).map_or("other", Method::name),
                    _ => "other",
                };
                (model, route)
            }
            _ => (String::new(), "other"),
        }
    }

    fn record(&self, model: String, route: &'static str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((model.clone(), route, status))
            .or_default() += 1;
        let mut latency = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        let h = latency.entry((model, route)).or_default();
        if h.counts.is_empty() {
            h.counts = vec![0; BUCKETS.len() + 1];
        }
        let bucket = BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(BUCKETS.len());
        h.counts[bucket] += 1;
        h.sum += seconds;
        h.count += 1;
    }

    /// The Prometheus text exposition (format 0.0.4).
    fn render(&self, loaded: usize) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP oxlearn_requests_total HTTP requests by model, route and status.\n\
             # TYPE oxlearn_requests_total counter"
        );
        for ((model, route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "oxlearn_requests_total{{model=\"{}\",route=\"{route}\",status=\"{status}\"}} {n}",
                label(model)
            );
        }
        let _ = writeln!(
            out,
            "# HELP oxlearn_request_duration_seconds Time to answer a request.\n\
             # TYPE oxlearn_request_duration_seconds histogram"
        );
        for ((model, route), h) in self
            .latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let m = label(model);
            let mut cumulative = 0;
            for (i, c) in h.counts.iter().enumerate() {
                cumulative += c;
                let le = BUCKETS.get(i).map_or("+Inf".to_owned(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "oxlearn_request_duration_seconds_bucket{{model=\"{m}\",route=\"{route}\",\
                     le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "oxlearn_request_duration_seconds_sum{{model=\"{m}\",route=\"{route}\"}} {}\n\
                 oxlearn_request_duration_seconds_count{{model=\"{m}\",route=\"{route}\"}} {}",
                h.sum, h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP oxlearn_models_loaded Models being served.\n\
             # TYPE oxlearn_models_loaded gauge\n\
             oxlearn_models_loaded {loaded}"
        );
        out
    }
}

/// A Prometheus label value: backslash, quote and line feed escaped.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware: counts every request and times it.
async fn record(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let (model, route) = app.metrics.labels(request.uri().path());
    let start = Instant::now();
    let response = next.run(request).await;
    app.metrics.record(
        model,
        route,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let loaded = app.slots().iter().filter(|s| s.current.is_some()).count();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        app.metrics.render(loaded),
    )
        .into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_come_from_stems_or_name_equals_path_and_must_be_unique() {
        let s = parse_specs(&args(&["dir/ridge.oxl", "fast=dir/ridge.oxl"])).unwrap();
        assert_eq!(s[0].0, "ridge");
        assert_eq!(
            (s[1].0.as_str(), s[1].1.as_path()),
            ("fast", Path::new("dir/ridge.oxl"))
        );
        let e = parse_specs(&args(&["a/ridge.oxl", "b/ridge.oxl"])).unwrap_err();
        assert!(e.contains("two models are named \"ridge\""), "{e}");
        assert!(parse_specs(&args(&["a/r idge.oxl"])).is_err());
        assert!(parse_specs(&[]).is_err());
    }

    #[test]
    fn metric_labels_are_bounded() {
        let m = Metrics::new(["ridge".to_owned()].into_iter().collect());
        assert_eq!(
            m.labels("/v1/models/ridge/predict"),
            ("ridge".into(), "predict")
        );
        assert_eq!(
            m.labels("/v1/models/x\"y/zzz"),
            ("_unknown".into(), "other")
        );
        m.record("ridge".into(), "predict", 200, 0.0007);
        let text = m.render(1);
        assert!(text.contains(
            "oxlearn_requests_total{model=\"ridge\",route=\"predict\",status=\"200\"} 1"
        ));
        assert!(text.contains("le=\"0.0005\"} 0\n"));
        assert!(text.contains("le=\"0.001\"} 1\n"));
        assert!(text.contains("le=\"+Inf\"} 1\n"));
    }

    #[test]
    fn json_rows_are_checked() {
        let e = |b: &str| json_input(b.as_bytes(), false, None).err().unwrap();
        assert_eq!(e("{").0, StatusCode::BAD_REQUEST);
        assert!(e(r#"{"instances": [[1, 2], [3]]}"#).1.contains("ragged"));
        assert!(e(r#"{"instances": [[1, "a"]]}"#).1.contains("a string"));
        assert!(e(r#"{"instances": [[1, true]]}"#).1.contains("neither"));
        assert!(e(r#"{"rows": []}"#).1.contains("instances"));
        assert!(e(r#"{"instances": [{"a": 1}]}"#)
            .1
            .contains("without feature names"));
        let names = ["b".to_owned(), "a".to_owned()];
        let Input::Matrix(x, n) =
            json_input(br#"{"instances": [{"a": 1, "b": 2}]}"#, false, Some(&names)).unwrap()
        else {
            panic!()
        };
        assert_eq!(n.unwrap(), names);
        let Matrix::F64 { data, .. } = x else {
            panic!()
        };
        assert_eq!(data, [2.0, 1.0]);
        let Input::Frame(f) =
            json_input(br#"{"instances": [["x", null], [null, 2.5]]}"#, true, None).unwrap()
        else {
            panic!()
        };
        assert_eq!((f.rows, f.columns.len()), (2, 2));
        assert!(matches!(&f.columns[0], Column::Cells(_)));
        assert!(matches!(&f.columns[1], Column::Numbers(v) if v[0].is_nan() && v[1] == 2.5));
    }

    #[test]
    fn json_floats_round_trip_and_non_finite_is_null() {
        let y = Prediction::Values(Matrix::F64 {
            rows: 3,
            cols: 1,
            data: vec![0.1, f64::NAN, -1.5e-300],
            one_dim: true,
        });
        let (v, dtype) = prediction_json(&y);
        assert_eq!(dtype, "float64");
        assert_eq!(v.to_string(), "[0.1,null,-1.5e-300]");
    }
}
