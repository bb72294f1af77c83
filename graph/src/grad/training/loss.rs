//! The losses on logits at temperature `T`, their mean over the batch, the count of correct
//! predictions, and the loss's gradient with respect to the logits in closed form (the seed
//! of the backward pass).

use super::emitter::Emitter;
use super::{CORRECT, LABELS, LOSS, SOFT_LABELS, TEMPERATURE};
use crate::onnx::{Attr, ConstTensor, GraphBuilder};

/// What a network is trained to match.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    /// Cross-entropy with the hard labels at temperature `T`:
    /// `-mean_i sum_k y_ik log softmax(z_i / T)_k` (a teacher, or an undistilled network).
    HardLabels,
    /// Cross-entropy with a parent's soft labels `p` at temperature `T`:
    /// `-mean_i sum_k p_ik log softmax(z_i / T)_k` (defensive distillation).
    SoftLabels,
    /// The teacher-assistant mix `(1 - lambda) CE(y, softmax(z)) + lambda T^2 KL(p ||
    /// softmax(z / T))`, averaged over the batch.
    Distillation {
        /// The weight of the soft-label term, in `[0, 1]`.
        lambda: f32,
    },
}

impl Loss {
    /// Whether the loss reads soft labels (the [`SOFT_LABELS`] input).
    pub fn uses_soft_labels(self) -> bool {
        !matches!(self, Loss::HardLabels)
    }
}

/// Emits the loss, the correct count and the seed `d loss / d logits`; returns the seed.
pub(super) fn emit_loss(b: &mut GraphBuilder, logits: &str, loss: Loss) -> String {
    let mut e = Emitter::new(b, "loss");
    let batch = batch_size(&mut e, logits);
    let scaled = e.node("Div", &[logits, TEMPERATURE], vec![]);
    let log_probs = e.node("LogSoftmax", &[&scaled], vec![("axis", Attr::Int(1))]);
    let probs = e.node("Softmax", &[&scaled], vec![("axis", Attr::Int(1))]);
    let (value, seed) = match loss {
        Loss::HardLabels | Loss::SoftLabels => {
            let target = if loss == Loss::HardLabels {
                LABELS
            } else {
                SOFT_LABELS
            };
            let ce = cross_entropy(&mut e, target, &log_probs);
            // (softmax(z / T) - target) / (T * batch)
            let diff = e.node("Sub", &[&probs, target], vec![]);
            let denominator = e.node("Mul", &[TEMPERATURE, &batch], vec![]);
            (ce, e.node("Div", &[&diff, &denominator], vec![]))
        }
        Loss::Distillation { lambda } => {
            let hard_weight = e.scalar(1.0 - lambda);
            let soft_weight = e.scalar(lambda);
            let plain_log_probs = e.node("LogSoftmax", &[logits], vec![("axis", Attr::Int(1))]);
            let plain_probs = e.node("Softmax", &[logits], vec![("axis", Attr::Int(1))]);
            let hard = cross_entropy(&mut e, LABELS, &plain_log_probs);
            // KL(p || q) = sum p log p - sum p log q, with 0 log 0 = 0.
            let soft_ce = cross_entropy(&mut e, SOFT_LABELS, &log_probs);
            let tiny = e.scalar(f32::MIN_POSITIVE);
            let floored = e.node("Max", &[SOFT_LABELS, &tiny], vec![]);
            let log_p = e.node("Log", &[&floored], vec![]);
            let neg_entropy = e.node("Mul", &[SOFT_LABELS, &log_p], vec![]);
            let neg_entropy = mean_of_row_sums(&mut e, &neg_entropy);
            let kl = e.node("Add", &[&soft_ce, &neg_entropy], vec![]);
            let t_squared = e.node("Mul", &[TEMPERATURE, TEMPERATURE], vec![]);
            let soft = e.node("Mul", &[&kl, &t_squared], vec![]);
            let soft = e.node("Mul", &[&soft, &soft_weight], vec![]);
            let hard = e.node("Mul", &[&hard, &hard_weight], vec![]);
            let value = e.node("Add", &[&hard, &soft], vec![]);
            // ((1 - lambda) (softmax(z) - y) + lambda T (softmax(z / T) - p)) / batch
            let hard_diff = e.node("Sub", &[&plain_probs, LABELS], vec![]);
            let hard_diff = e.node("Mul", &[&hard_diff, &hard_weight], vec![]);
            let soft_diff = e.node("Sub", &[&probs, SOFT_LABELS], vec![]);
            let soft_scale = e.node("Mul", &[&soft_weight, TEMPERATURE], vec![]);
            let soft_diff = e.node("Mul", &[&soft_diff, &soft_scale], vec![]);
            let sum = e.node("Add", &[&hard_diff, &soft_diff], vec![]);
            (value, e.node("Div", &[&sum, &batch], vec![]))
        }
    };
    e.node_into("Identity", &[&value], LOSS, vec![]);
    let predicted = e.node(
        "ArgMax",
        &[logits],
        vec![("axis", Attr::Int(1)), ("keepdims", Attr::Int(0))],
    );
    let truth = e.node(
        "ArgMax",
        &[LABELS],
        vec![("axis", Attr::Int(1)), ("keepdims", Attr::Int(0))],
    );
    let hits = e.node("Equal", &[&predicted, &truth], vec![]);
    let hits = e.node("Cast", &[&hits], vec![("to", Attr::Int(FLOAT))]);
    e.node_into(
        "ReduceSum",
        &[&hits],
        CORRECT,
        vec![("keepdims", Attr::Int(0))],
    );
    seed
}

/// ONNX's `to` value for 32-bit floats in `Cast`.
const FLOAT: i64 = 1;

/// The batch size of `logits` as a float scalar.
fn batch_size(e: &mut Emitter, logits: &str) -> String {
    let shape = e.node("Shape", &[logits], vec![]);
    let zero = e.constant(&ConstTensor::i64(&[], vec![0]));
    let batch = e.node("Gather", &[&shape, &zero], vec![]);
    e.node("Cast", &[&batch], vec![("to", Attr::Int(FLOAT))])
}

/// `mean_i sum_k rows_ik`, a scalar.
fn mean_of_row_sums(e: &mut Emitter, rows: &str) -> String {
    let axis = e.constant(&ConstTensor::i64(&[1], vec![1]));
    let per_sample = e.node(
        "ReduceSum",
        &[rows, &axis],
        vec![("keepdims", Attr::Int(0))],
    );
    e.node(
        "ReduceMean",
        &[&per_sample],
        vec![("axes", Attr::Ints(vec![0])), ("keepdims", Attr::Int(0))],
    )
}

/// `-mean_i sum_k target_ik log_probs_ik`.
fn cross_entropy(e: &mut Emitter, target: &str, log_probs: &str) -> String {
    let prod = e.node("Mul", &[target, log_probs], vec![]);
    let mean = mean_of_row_sums(e, &prod);
    e.node("Neg", &[&mean], vec![])
}
