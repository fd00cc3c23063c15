//! gyre's learning engine. It takes data and returns data: no stores, no I/O.
//!
//! Today: evaluation metrics (checked against scikit-learn) and train/test splits. Feature
//! transforms, learners and the model artifact follow (issue 4).

pub mod learner;
pub mod linear;
pub mod metrics;
pub mod model;
pub mod split;
pub mod train;
pub mod transform;
pub mod trees;
pub mod tune;
