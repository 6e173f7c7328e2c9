//! Clustering.

pub mod dbscan;

pub use dbscan::{dbscan_inner, fit_dbscan, DbscanFit, DbscanParams, Distances};
