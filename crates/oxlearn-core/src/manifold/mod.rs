//! Manifold learning: t-SNE (exact and Barnes–Hut), with scikit-learn's
//! affinities, optimisation schedule and reported attributes.

pub mod affinity;
mod barnes_hut;
mod lanes;
pub mod tsne;

pub use affinity::{
    conditional_probabilities, joint_probabilities, joint_probabilities_nn, knn_sqeuclidean,
    pairwise_sqeuclidean, SparseP,
};
pub use tsne::{optimize, Affinities, Check, Gradient, Stage, Stop, TsneFit, TsneParams};
