//! `oxlearn serve` end to end: the binary started on an ephemeral loopback
//! port, spoken to over plain HTTP/1.1 (`std::net::TcpStream`). Answers are
//! compared bit for bit with `oxlearn predict` and with Python's
//! predictions stored next to the golden model files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_oxlearn");

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../python/oxlearn/tests/golden/1.3")
        .join(name)
}

fn temp_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oxlearn-serve-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A running `oxlearn serve`, killed when dropped (unless it has exited).
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(args)
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("first line: {line:?}"))
            .to_owned();
        Server { child, addr }
    }

    fn request(&self, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Reply {
        http(&self.addr, method, path, content_type, body)
    }

    fn json(&self, path: &str, body: &Value) -> Reply {
        self.request(
            "POST",
            path,
            Some("application/json"),
            body.to_string().as_bytes(),
        )
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits (at most 20 s) for the server to exit; its exit code and stderr.
    fn wait(mut self) -> (Option<i32>, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                return (status.code(), err);
            }
            assert!(start.elapsed() < Duration::from_secs(20), "did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn error(&self) -> String {
        assert_eq!(self.content_type, "application/json");
        self.json()["error"].as_str().unwrap().to_owned()
    }
}

/// One HTTP/1.1 request on its own connection.
fn http(addr: &str, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading a large body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no end of headers");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut body = raw[split + 4..].to_vec();
    let status = head[9..12].parse().unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    if header("transfer-encoding") == "chunked" {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let n = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + n]);
            rest = &rest[eol + 4 + n..];
        }
        body = out;
    }
    Reply {
        status,
        content_type: header("content-type"),
        body,
    }
}

/// A `.npy` file's dtype, shape and data bytes.
fn npy(bytes: &[u8]) -> (String, String, Vec<u8>) {
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + len]).unwrap();
    let field = |key: &str| {
        let at = header.find(&format!("'{key}':")).unwrap() + key.len() + 3;
        let rest = header[at..].trim_start();
        let end = if rest.starts_with('(') {
            rest.find(')').unwrap() + 1
        } else {
            rest.find(',').unwrap()
        };
        rest[..end].trim().trim_matches('\'').to_owned()
    };
    assert_eq!(field("fortran_order"), "False");
    (
        field("descr"),
        field("shape"),
        bytes[start + len..].to_vec(),
    )
}

/// The rows of a golden input (float64 or numpy strings) as JSON lists.
fn json_rows(x_npy: &[u8]) -> Value {
    let (descr, shape, data) = npy(x_npy);
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    let (n, p) = (dims[0], dims.get(1).copied().unwrap_or(1));
    let cells: Vec<Value> = match descr.as_str() {
        "<f8" => data
            .chunks_exact(8)
            .map(|c| {
                let v = f64::from_le_bytes(c.try_into().unwrap());
                if v.is_nan() {
                    Value::Null
                } else {
                    json!(v)
                }
            })
            .collect(),
        d if d.starts_with("<U") => {
            let w: usize = d[2..].parse().unwrap();
            data.chunks_exact(4 * w)
                .map(|c| {
                    let s: String = c
                        .chunks_exact(4)
                        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
                        .take_while(|&u| u != 0)
                        .map(|u| char::from_u32(u).unwrap())
                        .collect();
                    json!(s)
                })
                .collect()
        }
        other => panic!("no JSON for {other}"),
    };
    assert_eq!(cells.len(), n * p);
    json!({"instances": cells.chunks(p).map(|r| r.to_vec()).collect::<Vec<_>>()})
}

/// The JSON predictions as the bytes of a `.npy` of dtype `descr`.
fn json_as_npy_data(predictions: &Value, descr: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let flat: Vec<&Value> = predictions
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| match v {
            Value::Array(r) => r.iter().collect::<Vec<_>>(),
            v => vec![v],
        })
        .collect();
    for v in flat {
        match descr {
            "<f8" => out.extend_from_slice(&v.as_f64().unwrap().to_le_bytes()),
            "<f4" => out.extend_from_slice(&(v.as_f64().unwrap() as f32).to_le_bytes()),
            "<i8" => out.extend_from_slice(&v.as_i64().unwrap().to_le_bytes()),
            "<i4" => out.extend_from_slice(&(v.as_i64().unwrap() as i32).to_le_bytes()),
            d if d.starts_with("<U") => {
                let w: usize = d[2..].parse().unwrap();
                let s = v.as_str().unwrap();
                let mut n = 0;
                for c in s.chars() {
                    out.extend_from_slice(&u32::from(c).to_le_bytes());
                    n += 1;
                }
                out.extend(std::iter::repeat_n(0u8, 4 * (w - n)));
            }
            other => panic!("no comparison for {other}"),
        }
    }
    out
}

/// `oxlearn predict`'s `.npy` output for a golden model and input.
fn cli_predict(model: &str, dir: &Path) -> Vec<u8> {
    let out = dir.join(format!("{model}.y.npy"));
    let run = Command::new(BIN)
        .arg("predict")
        .arg(golden(&format!("{model}.oxl")))
        .arg("--input")
        .arg(golden(&format!("{model}.X.npy")))
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::read(out).unwrap()
}

/// Golden models whose answers are compared: a linear model, forests, kNN,
/// PCA (transform) and pipelines (one with string categories).
const MODELS: &[(&str, &str)] = &[
    ("LinearRegression", "predict"),
    ("LinearRegression-multi", "predict"),
    ("LinearRegression-float32", "predict"),
    ("RandomForestRegressor", "predict"),
    ("RandomForestClassifier", "predict"),
    ("RandomForestClassifier-sklearn-missing", "predict"),
    ("RandomForestClassifier-str-float32", "predict"),
    ("KNeighborsClassifier", "predict"),
    ("KNeighborsRegressor", "predict"),
    ("KNeighborsClassifier-distance-str-float32", "predict"),
    ("LogisticRegression", "predict"),
    ("KMeans", "predict"),
    ("PCA", "transform"),
    ("Pipeline-onehot-strings-knn", "predict"),
    ("ColumnTransformer-onehot-ordinal-forest", "predict"),
    ("Pipeline-scalers-ridge", "predict"),
];

#[test]
fn npy_and_json_answers_are_bit_identical_to_the_binary_and_python() {
    let dir = temp_dir("identical");
    let args: Vec<String> = MODELS
        .iter()
        .map(|(m, _)| golden(&format!("{m}.oxl")).display().to_string())
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args);
    for (model, method) in MODELS {
        let x = std::fs::read(golden(&format!("{model}.X.npy"))).unwrap();
        let python = npy(&std::fs::read(golden(&format!("{model}.pred.npy"))).unwrap());
        let path = format!("/v1/models/{model}/{method}");
        // .npy in, .npy out: the very bytes `oxlearn predict` writes, and
        // the values (dtype, shape, bits) Python predicted.
        let r = server.request("POST", &path, Some("application/x-npy"), &x);
        assert_eq!(
            r.status,
            200,
            "{model}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.content_type, "application/x-npy");
        assert_eq!(r.body, cli_predict(model, &dir), "{model}");
        let served = npy(&r.body);
        assert_eq!(served, python, "{model}");
        // JSON in, JSON out, for float64 and string inputs (JSON numbers
        // are float64: a float32 model given them computes as Python does
        // for float64 input, which is not the golden float32 run).
        let (x_descr, _, _) = npy(&x);
        if x_descr == "<f4" {
            continue;
        }
        let r = server.json(&path, &json_rows(&x));
        assert_eq!(
            r.status,
            200,
            "{model}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.content_type, "application/json");
        let answer = r.json();
        assert_eq!(
            json_as_npy_data(&answer["predictions"], &python.0),
            python.2,
            "{model}: {answer}"
        );
    }
}

#[test]
fn bad_requests_get_a_json_4xx_and_the_server_keeps_serving() {
    let lr = golden("LinearRegression.oxl").display().to_string();
    let pipe = golden("Pipeline-onehot-strings-knn.oxl")
        .display()
        .to_string();
    let forest = golden("RandomForestRegressor.oxl").display().to_string();
    let server = Server::start(&[
        &format!("lr={lr}"),
        &pipe,
        &forest,
        "--max-body-bytes",
        "4096",
    ]);
    let predict = "/v1/models/lr/predict";
    let cases: Vec<(Reply, u16, &str)> = vec![
        (
            server.json(predict, &json!({"instances": [[1.0, 2.0, 3.0]]})),
            422,
            "X has 3 features, but LinearRegression is expecting 4 features as input.",
        ),
        (
            server.json(predict, &json!({"instances": [[1.0, 2.0, null, 4.0]]})),
            422,
            "Input X contains NaN",
        ),
        (
            server.json(
                predict,
                &json!({"instances": [[1.0, 2.0, 3.0, 4.0], [1.0]]}),
            ),
            400,
            "ragged rows: row 1 has 1 values, row 0 has 4",
        ),
        (
            server.json(predict, &json!({"instances": []})),
            422,
            "Found array with 0 sample(s)",
        ),
        (
            server.json(predict, &json!({"instances": [[1, 2, 3, "x"]]})),
            400,
            "a string, but this model takes numbers",
        ),
        (
            server.json(predict, &json!({"instances": [{"a": 1}]})),
            400,
            "fitted without feature names",
        ),
        (
            server.json(predict, &json!({"rows": [[1, 2, 3, 4]]})),
            400,
            "\"instances\"",
        ),
        (
            server.request(
                "POST",
                predict,
                Some("application/json"),
                b"{\"instances\": [[1,",
            ),
            400,
            "malformed JSON",
        ),
        (
            server.request("POST", predict, Some("application/json"), b"[1e999]"),
            400,
            "malformed JSON",
        ),
        (
            server.request("POST", predict, Some("text/csv"), b"1,2,3,4\n"),
            415,
            "application/json",
        ),
        (
            server.request("POST", predict, None, b"{}"),
            415,
            "application/x-npy",
        ),
        (
            server.request(
                "POST",
                predict,
                Some("application/x-npy"),
                b"\x93NUMPY garbage",
            ),
            400,
            "",
        ),
        (
            server.request("POST", predict, Some("application/json"), &[b' '; 5000]),
            413,
            "--max-body-bytes",
        ),
        (
            server.json("/v1/models/nope/predict", &json!({"instances": [[1]]})),
            404,
            "no model named \"nope\"",
        ),
        (
            server.json("/v1/models/lr/predict_proba", &json!({"instances": [[1]]})),
            404,
            "model \"lr\": the binary does not serve predict_proba for \
             linear_model.LinearRegression: it serves predict",
        ),
        (
            server.json("/v1/models/lr/transform", &json!({"instances": [[1]]})),
            404,
            "the binary does not serve transform",
        ),
        (
            server.json("/v1/models/lr/fit", &json!({"instances": [[1]]})),
            404,
            "no method \"fit\"",
        ),
        (server.request("GET", predict, None, b""), 405, "POST"),
        (
            server.request("GET", "/nowhere", None, b""),
            404,
            "no such endpoint",
        ),
        (
            server.json(
                "/v1/models/Pipeline-onehot-strings-knn/predict",
                &json!({"instances": [["red"], [3]]}),
            ),
            400,
            "a number in a column of strings",
        ),
        (
            server.json(
                "/v1/models/RandomForestRegressor/predict",
                // Python's forest predicts this too (83.91021929165913).
                &json!({"instances": [[1, 2, 3, 1e39]]}),
            ),
            200,
            "",
        ),
    ];
    for (i, (reply, status, message)) in cases.iter().enumerate() {
        let body = String::from_utf8_lossy(&reply.body);
        assert_eq!(reply.status, *status, "case {i}: {body}");
        if *status != 200 {
            assert!(reply.error().contains(message), "case {i}: {body}");
        }
    }
    // scikit-learn's warnings come back with the answer (this encoder maps
    // unknown categories to the infrequent one).
    let r = server.json(
        "/v1/models/Pipeline-onehot-strings-knn/predict",
        &json!({"instances": [["mauve"]]}),
    );
    assert_eq!(r.status, 200);
    let warnings = r.json()["warnings"].to_string();
    assert!(
        warnings.contains("Found unknown categories in columns [0]"),
        "{warnings}"
    );
    // Still serving, and every refusal was counted.
    let ok = server.json(predict, &json!({"instances": [[1, 2, 3, 4]]}));
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["dtype"], "float64");
    let health = server.request("GET", "/healthz", None, b"");
    assert_eq!(health.json()["status"], "ok");
    let metrics = server.request("GET", "/metrics", None, b"");
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    for line in [
        "oxlearn_requests_total{model=\"lr\",route=\"predict\",status=\"422\"} 3",
        "oxlearn_requests_total{model=\"lr\",route=\"predict\",status=\"200\"} 1",
        "oxlearn_requests_total{model=\"_unknown\",route=\"predict\",status=\"404\"} 1",
        "oxlearn_request_duration_seconds_count{model=\"lr\",route=\"predict\"} 15",
        "oxlearn_models_loaded 3",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
    let (code, _) = {
        server.signal("-TERM");
        server.wait()
    };
    assert_eq!(code, Some(0));
}

#[test]
fn models_lists_what_inspect_shows() {
    let lr = golden("LinearRegression.oxl").display().to_string();
    let pca = golden("PCA.oxl").display().to_string();
    let dbscan = golden("DBSCAN.oxl").display().to_string();
    let server = Server::start(&[&lr, &pca, &dbscan]);
    let models = server.request("GET", "/v1/models", None, b"").json();
    let models = models["models"].as_array().unwrap();
    assert_eq!(models.len(), 3);
    let m = &models[0];
    assert_eq!(m["name"], "LinearRegression");
    assert_eq!(m["kind"], "linear_model.LinearRegression");
    assert_eq!(m["n_features_in"], 4);
    assert_eq!(m["dtype"], "float64");
    assert_eq!(m["methods"], json!(["predict"]));
    assert_eq!(m["loaded"], true);
    assert!(m["versions"]["scikit-learn"].is_string());
    assert!(m["checksum"].as_str().unwrap().starts_with("xxh3-64:"));
    assert_eq!(models[1]["methods"], json!(["transform"]));
    // A file the binary cannot serve is listed, with the reason, and
    // answers 503.
    assert_eq!(models[2]["loaded"], false);
    assert!(models[2]["error"].as_str().unwrap().contains("DBSCAN"));
    let r = server.json("/v1/models/DBSCAN/predict", &json!({"instances": [[1]]}));
    assert_eq!(r.status, 503);
    assert!(r.error().contains("not loaded"));
    let one = server.request("GET", "/v1/models/PCA", None, b"").json();
    assert_eq!(one["kind"], "decomposition.PCA");
}

#[test]
fn reload_keeps_the_old_model_on_a_bad_file_and_switches_on_a_good_one() {
    let dir = temp_dir("reload");
    let file = dir.join("m.oxl");
    std::fs::copy(golden("LinearRegression.oxl"), &file).unwrap();
    let server = Server::start(&[file.to_str().unwrap()]);
    let x = std::fs::read(golden("LinearRegression.X.npy")).unwrap();
    let predict = |server: &Server| {
        let r = server.request(
            "POST",
            "/v1/models/m/predict",
            Some("application/x-npy"),
            &x,
        );
        assert_eq!(r.status, 200);
        npy(&r.body)
    };
    let linear = npy(&std::fs::read(golden("LinearRegression.pred.npy")).unwrap());
    assert_eq!(predict(&server), linear);
    // A corrupted file (one data byte changed): the checksum fails, the
    // old model keeps serving, and the answer says why.
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x55;
    std::fs::write(&file, &bytes).unwrap();
    let r = server.request("POST", "/v1/admin/reload", None, b"");
    assert_eq!(r.status, 200);
    let outcome = &r.json()["models"][0];
    assert_eq!(outcome["status"], "kept previous", "{outcome}");
    assert!(
        outcome["error"].as_str().unwrap().contains("checksum"),
        "{outcome}"
    );
    assert_eq!(predict(&server), linear);
    let listed = server.request("GET", "/v1/models/m", None, b"").json();
    assert_eq!(listed["loaded"], true);
    assert!(listed["error"].as_str().unwrap().contains("checksum"));
    // A new valid file (a Ridge, same input width): served from now on.
    std::fs::copy(golden("Ridge.oxl"), &file).unwrap();
    let r = server.request("POST", "/v1/admin/reload", None, b"");
    assert_eq!(r.json()["models"][0]["status"], "reloaded");
    let ridge = npy(&std::fs::read(golden("Ridge.pred.npy")).unwrap());
    assert_eq!(predict(&server), ridge);
    // SIGHUP reloads too.
    std::fs::copy(golden("LinearRegression.oxl"), &file).unwrap();
    server.signal("-HUP");
    let start = Instant::now();
    loop {
        let kind = server.request("GET", "/v1/models/m", None, b"").json()["kind"].clone();
        if kind == "linear_model.LinearRegression" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "SIGHUP did not reload"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(predict(&server), linear);
    server.signal("-TERM");
    let (code, stderr) = server.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("m: reload failed, still serving the previous model"),
        "{stderr}"
    );
}

/// A `.npy` of `rows` × 4 float64 values.
fn big_npy(rows: usize) -> Vec<u8> {
    let mut x = b"\x93NUMPY\x01\x00".to_vec();
    let mut h = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, 4), }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    x.extend_from_slice(&(h.len() as u16).to_le_bytes());
    x.extend_from_slice(h.as_bytes());
    for i in 0..rows * 4 {
        x.extend_from_slice(&((i % 97) as f64 / 50.0 - 1.0).to_le_bytes());
    }
    x
}

#[test]
fn a_request_in_flight_during_a_reload_finishes_on_the_old_model() {
    let dir = temp_dir("inflight");
    let file = dir.join("m.oxl");
    std::fs::copy(golden("RandomForestRegressor.oxl"), &file).unwrap();
    let server = Server::start(&[file.to_str().unwrap()]);
    let x = big_npy(200_000);
    let path = "/v1/models/m/predict";
    let forest = server.request("POST", path, Some("application/x-npy"), &x);
    assert_eq!(forest.status, 200);
    // The same request again, and a reload to a LinearRegression while it
    // runs: whichever comes first, the answer is wholly one model's (the
    // request holds its model until it ends).
    std::fs::copy(golden("LinearRegression.oxl"), &file).unwrap();
    let addr = server.addr.clone();
    let body = x.clone();
    let client =
        std::thread::spawn(move || http(&addr, "POST", path, Some("application/x-npy"), &body));
    std::thread::sleep(Duration::from_millis(20));
    let r = server.request("POST", "/v1/admin/reload", None, b"");
    assert_eq!(r.json()["models"][0]["status"], "reloaded");
    let during = client.join().unwrap();
    assert_eq!(during.status, 200);
    let linear = server.request("POST", path, Some("application/x-npy"), &x);
    assert_ne!(linear.body, forest.body);
    assert!(during.body == forest.body || during.body == linear.body);
}

#[test]
fn sigint_stops_after_the_request_in_flight() {
    // A 200k-row forest request takes a while in a debug build; SIGINT
    // during it still gets its answer, then exit 0.
    let server = Server::start(&[golden("RandomForestRegressor.oxl").to_str().unwrap()]);
    let rows = 200_000;
    let x = big_npy(rows);
    let addr = server.addr.clone();
    let client = std::thread::spawn(move || {
        http(
            &addr,
            "POST",
            "/v1/models/RandomForestRegressor/predict",
            Some("application/x-npy"),
            &x,
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    server.signal("-INT");
    let reply = client.join().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(npy(&reply.body).1, format!("({rows},)"));
    let (code, _) = server.wait();
    assert_eq!(code, Some(0));
}

#[test]
fn start_up_fails_without_a_loadable_model_or_with_duplicate_names() {
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("serve")
            .args(args)
            .args(["--port", "0"])
            .output()
            .unwrap()
    };
    let out = run(&[golden("DBSCAN.oxl").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DBSCAN: not served"), "{err}");
    assert!(err.contains("no model could be loaded"), "{err}");
    let lr = golden("LinearRegression.oxl").display().to_string();
    let out = run(&[&lr, &format!("LinearRegression={lr}")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("two models are named"));
}
