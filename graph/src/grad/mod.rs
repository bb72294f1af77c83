//! Reverse-mode differentiation of ONNX graphs into ordinary ONNX graphs that tract and
//! ONNX Runtime both run.
//!
//! [`vjp_graph`] turns a classifier into a graph with inputs `x` (the model's image input)
//! and the seed (d loss / d logits, `[batch, classes]`) and outputs the logits and
//! [`GRAD_INPUT`] = `seed^T · d logits / d x`. The seed is [`SEED`] plus two terms the
//! graph computes from its own logits, weighted per row by [`SEED_SOFTMAX_WEIGHT`] (with
//! [`SEED_SOFTMAX_CLASS`]) and [`SEED_TOP_WEIGHT`] (with [`SEED_TOP_MASK`]): cross-entropy's
//! and the logit margin's gradients, so one run of the graph gives their input gradient at the
//! logits it computes.
//!
//! Backward rules live in `rules/`, one file per op family, registered in `rules/mod.rs`.

mod backward;
mod error;
mod opset;
mod rule_context;
mod rules;
mod training;

pub use backward::{
    straight_through, vjp_graph, GRAD_INPUT, SEED, SEED_SOFTMAX_CLASS, SEED_SOFTMAX_WEIGHT,
    SEED_TOP_MASK, SEED_TOP_WEIGHT, STRAIGHT_THROUGH,
};
pub use error::GradError;
pub use rules::supported_ops;
pub use training::{
    gradient_name, next_name, training_graph, with_state, DropoutMask, Loss, Optimizer, StateRole,
    StateTensor, TrainingGraph, CORRECT, LABELS, LEARNING_RATE, LOSS, SOFT_LABELS, STEP,
    TEMPERATURE,
};

#[cfg(test)]
mod tests;
