//! gyre's learning engine. It takes data and returns data: no stores, no I/O.
//!
//! Evaluation metrics (checked against scikit-learn), train/test splits, feature transforms,
//! the batch learners and the model artifact; and online learners ([`online`]) that learn
//! one labelled row at a time.

pub mod import;
pub mod learner;
pub mod linear;
pub mod metrics;
pub mod model;
pub mod online;
pub mod onnx;
pub mod rng;
pub mod split;
pub mod train;
pub mod transform;
pub mod trees;
pub mod tune;
