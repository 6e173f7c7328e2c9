//! Clustering: DBSCAN (exact radius search) and k-means (Lloyd).

pub mod dbscan;
pub mod kmeans;

pub use dbscan::{dbscan_inner, fit_dbscan, DbscanFit, DbscanParams, Distances};
pub use kmeans::{
    fit_kmeans, fit_kmeans_distributed, inertia_kmeans, predict_kmeans, transform_kmeans,
    KMeansFit, KMeansInit, KMeansParams,
};
