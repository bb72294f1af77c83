//! Robustness metrics, one file each: the distortion of an adversarial example, a model's
//! input-gradient sensitivity, and the statistics that summarise them.

mod distortion;
mod sensitivity;
mod statistics;

pub use distortion::Distortion;
pub use sensitivity::{mean_sensitivity, sensitivity, Sensitivity};
pub use statistics::{mean, median};
