//! `oxlearn`: inspect and serve oxlearn model files without Python.
//!
//! The command line lives in this library, [`run`], so that the `oxlearn`
//! binary and the Python extension's `oxlearn` command (`pip install
//! oxlearn`) are one program: the same parsing, messages and exit codes.
//!
//! ```text
//! oxlearn --version
//! oxlearn inspect MODEL
//! oxlearn predict MODEL --input X.npy|X.csv --output Y.npy|Y.csv
//! oxlearn serve MODEL... [--host 127.0.0.1] [--port 8080]
//! ```
//!
//! Regressors write their predicted values; classifiers write one class
//! label per row, in the labels' own dtype (`.npy`) or one per line (`.csv`).

// Serving rests on oxlearn-format's checked reader, never on unsafe code.
#![forbid(unsafe_code)]

mod frame;
mod model;
mod npy;
mod pipeline;
mod serve;
mod stream;
mod text;

pub use serve::Servable;

use clap::{Parser, Subcommand};
use oxlearn_format::parse_file;
use pipeline::Served;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use text::{escape, escape_keep_lines};

/// Inspect and serve oxlearn model files (written by `oxlearn.save`)
/// without Python.
///
/// OXLEARN_SIMD=auto|portable|avx2|avx512 forces the SIMD level of the
/// kernels (predictions are bit-identical at every level); a level the CPU
/// lacks is refused.
#[derive(Parser)]
#[command(name = "oxlearn", disable_version_flag = true)]
struct Cli {
    /// Print the version, the model format version and the SIMD level.
    #[arg(short = 'V', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print a model file's header, its checksum verdict, and whether this
    /// binary can load it (and why not). Exits 1 when it cannot.
    Inspect {
        /// The model file.
        model: PathBuf,
    },
    /// Predict with a model file: regressors and transformers write values,
    /// classifiers one label per row.
    ///
    /// Input: `.npy` (float, integer or bool; 1-D or 2-D; C or Fortran
    /// order) or `.csv` (comma-separated numbers; a first line of
    /// non-numeric column names is a header). A header is checked against
    /// the names the model was fitted with, as scikit-learn does; without
    /// one, columns are taken by position.
    ///
    /// Pipelines and column transformers also read text: CSV columns of
    /// strings (categories for encoders and imputers), as pandas'
    /// `read_csv` reads them (an empty field, `nan`, `NaN`, `NA`, `NULL`,
    /// `None` are missing; a column whose other fields are all numbers is
    /// numeric), and `.npy` arrays of numpy strings (`<U`). A column
    /// transformer fitted on a data frame takes its columns by name from
    /// the header (extra columns ignored, as scikit-learn does).
    Predict {
        /// The model file.
        model: PathBuf,
        /// Samples, one per row: `.npy` or `.csv`.
        #[arg(short, long)]
        input: PathBuf,
        /// Where to write the predictions: `.npy` or `.csv`.
        #[arg(short, long)]
        output: PathBuf,
        /// Rows per chunk (default: about 8 MiB of input a chunk; also
        /// OXLEARN_CHUNK_ROWS). For tests: results do not depend on it.
        #[arg(long, hide = true)]
        chunk_rows: Option<usize>,
    },
    /// Serve model files over HTTP until SIGTERM or SIGINT.
    ///
    /// POST /v1/models/NAME/METHOD (predict, transform, predict_proba,
    /// decision_function or kneighbors, as the model has them) with a JSON
    /// body {"instances": [[...], ...]} (or rows as objects by
    /// feature name) or a .npy body (Content-Type application/x-npy);
    /// GET /v1/models, /healthz, /metrics; POST /v1/admin/reload or SIGHUP
    /// re-reads every file (a file that fails to verify keeps the previous
    /// model). The first line of stdout is `listening on http://ADDR`.
    Serve {
        /// Model files: PATH (named by its file stem, `ridge.oxl` is
        /// `ridge`) or NAME=PATH.
        #[arg(required = true)]
        models: Vec<String>,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The port to listen on (0: any free port).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Larger request bodies are refused (413).
        #[arg(long, default_value_t = 64 << 20)]
        max_body_bytes: usize,
    },
}

/// Runs the command line `args` (the first is the program's name) and
/// returns the process exit status: 0 success, 1 a failure (its message on
/// stderr), 2 a usage error. Standard output is flushed before returning,
/// as a process exit would: a host process (Python) may not exit at once.
pub fn run(args: Vec<OsString>) -> u8 {
    let code = run_inner(args);
    let _ = std::io::stdout().flush();
    code
}

fn run_inner(args: Vec<OsString>) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        // --help prints to stdout and exits 0; a usage error to stderr, 2.
        Err(e) => {
            let _ = e.print();
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    // Before any work: a SIMD level this CPU cannot run (or a misspelt one)
    // is refused, as the Python extension refuses it at import.
    let level = match oxlearn_core::simd::configured() {
        Ok(level) => level,
        Err(message) => {
            eprintln!("oxlearn: {message}");
            return 2;
        }
    };
    let result = match (cli.version, cli.command) {
        (true, _) => {
            println!(
                "oxlearn {} (model format {}, SIMD level {})",
                env!("CARGO_PKG_VERSION"),
                oxlearn_format::FORMAT_VERSION,
                level.name()
            );
            Ok(())
        }
        (false, Some(Command::Inspect { model })) => inspect(&model),
        (
            false,
            Some(Command::Predict {
                model,
                input,
                output,
                chunk_rows,
            }),
        ) => {
            // All cores, on oxlearn's capped pool rather than rayon's global one.
            oxlearn_core::threads::run(None, usize::MAX, || {
                predict(&model, &input, &output, chunk_rows)
            })
        }
        (
            false,
            Some(Command::Serve {
                models,
                host,
                port,
                max_body_bytes,
            }),
        ) => serve::run(serve::Options {
            models,
            host,
            port,
            max_body_bytes,
        }),
        (false, None) => Err("no command given; see oxlearn --help".into()),
    };
    match result {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("oxlearn: {message}");
            1
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Prints the metadata, the checksum verdict, and whether this binary can
/// load the model (and why not). Fails (exit 1) when it cannot. Every
/// string from the file is escaped: a forged header cannot print lines or
/// terminal control sequences of its own.
fn inspect(path: &Path) -> Result<(), String> {
    let bytes = read(path)?;
    let shown = escape(&path.display().to_string());
    match parse_file(&bytes) {
        Ok(f) => {
            let h = &f.header;
            println!("file: {shown} ({} bytes)", bytes.len());
            println!("kind: {} (schema {})", escape(&h.kind), h.schema_version);
            println!("format: {}", escape(&h.format_version));
            println!(
                "written by: oxlearn {}, scikit-learn {}, numpy {}, Python {}",
                escape(&h.oxlearn_version),
                escape(&h.sklearn_version),
                escape(&h.numpy_version),
                escape(&h.python_version)
            );
            // An array API model's arrays are stored as host bytes: the
            // binary serves it from them, whatever its device.
            let placement = match &h.array_namespace {
                Some(ns) => format!(
                    "{} device {} (array API; served here from its host copy)",
                    escape(ns),
                    escape(&h.device)
                ),
                None => escape(&h.device),
            };
            println!(
                "fitted: {} on {}; dtype {}; n_features_in {}",
                h.fitted,
                placement,
                h.dtype.map_or("-", |d| d.name()),
                h.n_features_in.map_or("-".to_owned(), |n| n.to_string())
            );
            if let Some(names) = &h.feature_names_in {
                let names: Vec<String> = names.iter().map(|n| escape(n)).collect();
                println!("feature_names_in: {}", names.join(", "));
            }
            // serde_json escapes control characters inside JSON strings;
            // escape() also catches the bidirectional overrides.
            let json = |m: &serde_json::Map<String, serde_json::Value>| {
                escape(&serde_json::Value::Object(m.clone()).to_string())
            };
            println!("params: {}", json(&h.params));
            println!("attrs: {}", json(&h.attrs));
            if !h.parts.is_empty() {
                println!("parts (index name: kind, n_features_in -> output width):");
                for (depth, line) in pipeline::describe_parts(h, &f.arrays(), 0) {
                    println!("{}{}", "  ".repeat(depth + 1), escape(&line));
                }
            }
            for a in &h.arrays {
                println!(
                    "array {}: {} {:?} xxh3 {}",
                    escape(&a.name),
                    a.dtype.name(),
                    a.shape,
                    escape(&a.xxh3)
                );
            }
            let header_ok = h.verify_checksum(f.header_json);
            let data_ok = header_ok
                .clone()
                .and_then(|()| h.verify_digests(&f.arrays()));
            match &data_ok {
                Ok(()) => println!("checksum: ok ({})", escape(&h.checksum)),
                Err(e) => println!("checksum: FAILED: {}", escape(&e.to_string())),
            }
        }
        Err(e) => println!(
            "file: {shown} ({} bytes): unreadable: {}",
            bytes.len(),
            escape(&e.to_string())
        ),
    }
    match Served::load(&bytes) {
        Ok((_, warnings)) => {
            for w in warnings {
                println!("warning: {}", escape(&w));
            }
            println!("loadable by this binary: yes");
            Ok(())
        }
        Err(e) => {
            println!("loadable by this binary: no: {}", escape(&e));
            Err("the model cannot be loaded".into())
        }
    }
}

/// Loads the model, shows its warnings, and predicts `input` into
/// `output` a chunk of rows at a time ([`stream::predict`]).
fn predict(
    path: &Path,
    input: &Path,
    output: &Path,
    chunk_rows: Option<usize>,
) -> Result<(), String> {
    let shown = escape(&path.display().to_string());
    let (served, warnings) =
        Served::load(&read(path)?).map_err(|e| format!("{shown}: {}", escape_keep_lines(&e)))?;
    for w in warnings {
        eprintln!("oxlearn: warning: {}", escape(&w));
    }
    if let Served::Model(m) = &served {
        if let Some(why) = m.no_predict() {
            return Err(format!("{shown}: {}", escape_keep_lines(why)));
        }
    }
    stream::predict(&served, input, output, stream::chunk_rows(chunk_rows)?)
}
