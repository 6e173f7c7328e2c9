//! Clustering.

pub mod kmeans;

pub use kmeans::{
    fit_kmeans, inertia_kmeans, predict_kmeans, transform_kmeans, KMeansFit, KMeansInit,
    KMeansParams,
};
