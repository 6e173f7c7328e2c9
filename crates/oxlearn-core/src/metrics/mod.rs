//! Metrics on predictions: the area under the ROC curve.

mod ranking;

pub use ranking::{roc_auc, RocAuc};
