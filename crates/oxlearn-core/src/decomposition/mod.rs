//! Principal component analysis: exact PCA (`full`, `covariance_eigh`) and
//! scikit-learn's incremental PCA.

mod incremental_pca;
pub(crate) mod pca;

pub use incremental_pca::{partial_fit_ipca, IpcaState, IpcaStep};
pub use pca::{
    fit_pca, pca_transform_map, sign_flip_rows, spectrum_from_moments, PcaSolver, PcaSpectrum,
};
