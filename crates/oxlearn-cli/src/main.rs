//! `oxlearn`: inspect and serve oxlearn model files without Python.
//!
//! ```text
//! oxlearn --version
//! oxlearn inspect MODEL
//! oxlearn predict MODEL --input X.npy|X.csv --output Y.npy|Y.csv
//! ```
//!
//! Regressors write their predicted values; classifiers write one class
//! label per row, in the labels' own dtype (`.npy`) or one per line (`.csv`).

mod model;
mod npy;

use model::{Model, Prediction};
use oxlearn_format::parse_file;
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage:
  oxlearn --version
  oxlearn inspect MODEL
  oxlearn predict MODEL --input X.npy|X.csv --output Y.npy|Y.csv";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["--version"] | ["-V"] => {
            println!(
                "oxlearn {} (model format {})",
                env!("CARGO_PKG_VERSION"),
                oxlearn_format::FORMAT_VERSION
            );
            Ok(())
        }
        ["inspect", path] => inspect(Path::new(path)),
        ["predict", path, "--input", input, "--output", output]
        | ["predict", path, "--output", output, "--input", input] => {
            // All cores, on oxlearn's capped pool rather than rayon's global one.
            oxlearn_core::threads::run(None, usize::MAX, || {
                predict(Path::new(path), Path::new(input), Path::new(output))
            })
        }
        ["--help"] | ["-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unrecognised arguments {args:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("oxlearn: {message}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Prints the metadata, the checksum verdict, and whether this binary can
/// load the model (and why not). Fails (exit 1) when it cannot.
fn inspect(path: &Path) -> Result<(), String> {
    let bytes = read(path)?;
    match parse_file(&bytes) {
        Ok(f) => {
            let h = &f.header;
            println!("file: {} ({} bytes)", path.display(), bytes.len());
            println!("kind: {} (schema {})", h.kind, h.schema_version);
            println!("format: {}", h.format_version);
            println!(
                "written by: oxlearn {}, scikit-learn {}, numpy {}, Python {}",
                h.oxlearn_version, h.sklearn_version, h.numpy_version, h.python_version
            );
            println!(
                "fitted: {} on {}; dtype {}; n_features_in {}",
                h.fitted,
                h.device,
                h.dtype.map_or("-", |d| d.name()),
                h.n_features_in.map_or("-".to_owned(), |n| n.to_string())
            );
            if let Some(names) = &h.feature_names_in {
                println!("feature_names_in: {}", names.join(", "));
            }
            println!("params: {}", serde_json::Value::Object(h.params.clone()));
            println!("attrs: {}", serde_json::Value::Object(h.attrs.clone()));
            for a in &h.arrays {
                println!(
                    "array {}: {} {:?} xxh3 {}",
                    a.name,
                    a.dtype.name(),
                    a.shape,
                    a.xxh3
                );
            }
            let header_ok = h.verify_checksum(f.header_json);
            let data_ok = header_ok
                .clone()
                .and_then(|()| h.verify_digests(&f.arrays()));
            match &data_ok {
                Ok(()) => println!("checksum: ok ({})", h.checksum),
                Err(e) => println!("checksum: FAILED: {e}"),
            }
        }
        Err(e) => println!(
            "file: {} ({} bytes): unreadable: {e}",
            path.display(),
            bytes.len()
        ),
    }
    match Model::load(&bytes) {
        Ok((_, warnings)) => {
            for w in warnings {
                println!("warning: {w}");
            }
            println!("loadable by this binary: yes");
            Ok(())
        }
        Err(e) => {
            println!("loadable by this binary: no: {e}");
            Err("the model cannot be loaded".into())
        }
    }
}

fn predict(path: &Path, input: &Path, output: &Path) -> Result<(), String> {
    let (model, warnings) =
        Model::load(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))?;
    for w in warnings {
        eprintln!("oxlearn: warning: {w}");
    }
    let ext = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
    };
    let x = match ext(input).as_deref() {
        Some("npy") => npy::read_npy(&read(input)?),
        Some("csv") => npy::read_csv(&String::from_utf8_lossy(&read(input)?)),
        _ => return Err(format!("{}: input must be .npy or .csv", input.display())),
    }
    .map_err(|e| format!("{}: {e}", input.display()))?;
    let y = model.predict(&x)?;
    let bytes = match (ext(output).as_deref(), &y) {
        (Some("npy"), Prediction::Values(m)) => npy::write_npy(m),
        (Some("csv"), Prediction::Values(m)) => npy::write_csv(m).into_bytes(),
        (Some("npy"), Prediction::Labels(l)) => npy::write_labels_npy(l),
        (Some("csv"), Prediction::Labels(l)) => npy::write_labels_csv(l).into_bytes(),
        _ => return Err(format!("{}: output must be .npy or .csv", output.display())),
    };
    std::fs::write(output, bytes).map_err(|e| format!("cannot write {}: {e}", output.display()))
}
