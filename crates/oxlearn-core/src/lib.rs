//! oxlearn's algorithms.
//!
//! Each algorithm has a params struct, a `fit` that returns a plain-data fitted
//! model, and the model's `predict`. Nothing here knows about Python: the PyO3
//! adapter (`oxlearn-python`) and the `oxlearn` binary both call into this crate.
//!
//! Parallel work is split into fixed-size row chunks whose partial results are
//! combined in chunk order, so every result is bit-identical whatever the
//! number of threads.

// Tests may unwrap: a panic there is a test failure with a backtrace.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod basic_statistics;
pub mod cluster;
pub mod covariance;
pub mod decomposition;
pub mod ensemble;
pub mod error;
#[cfg(feature = "cuda")]
pub mod gpu;
pub mod linalg;
pub mod linear_model;
pub mod manifold;
pub mod metrics;
pub mod neighbors;
pub mod optimize;
pub mod preprocessing;
pub mod real;
pub mod rows;
pub mod simd;
mod special;
pub mod spmd;
pub mod svm;
pub mod threads;
pub mod validation;

pub use error::{Error, Result};
pub use real::Real;
