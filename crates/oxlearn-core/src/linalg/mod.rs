//! Building blocks shared by estimators: deterministic chunked reductions,
//! weighted centred moments, and dense solves.

pub mod chunks;
pub mod moments;
pub mod solve;
pub mod tsqr;

pub use chunks::{auto_chunk_rows, ChunkPlan};
pub use moments::Moments;
