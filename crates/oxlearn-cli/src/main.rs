//! The `oxlearn` binary: the command line of [`oxlearn_cli::run`].

// Serving rests on oxlearn-format's checked reader, never on unsafe code.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(oxlearn_cli::run(std::env::args_os().collect()))
}
