//! The registry of backward rules, one file per op family.
//!
//! A rule receives the forward node and the gradient of each of its outputs (`None` where no
//! gradient flows) and returns the gradient of each input (`None` for inputs that need none,
//! such as shapes and, for input gradients, weights). Rules emit only standard ONNX ops.

mod activation;
mod broadcast;
mod conv;
mod elementwise;
mod linear;
mod normalization;
mod pool;
mod quantize;
mod reduce;
mod shape;
mod softmax;

pub(super) use quantize::straight_through_reason;

use super::backward::Ctx;
use crate::onnx::Node;

/// A backward rule: output gradients in, input gradients out, or why the node's form is
/// not covered.
pub(super) type Rule = fn(&mut Ctx, &Node, &[Option<String>]) -> Grads;

/// The gradient of each input of a node (`None` where none is needed), or why the node's
/// form is not covered.
pub(super) type Grads = Result<Vec<Option<String>>, String>;

const RULES: &[(&str, Rule)] = &[
    ("Relu", activation::relu),
    ("LeakyRelu", activation::leaky_relu),
    ("Sigmoid", activation::sigmoid),
    ("Tanh", activation::tanh),
    ("Sqrt", activation::sqrt),
    ("Reciprocal", activation::reciprocal),
    ("Identity", shape::identity),
    ("Dropout", shape::identity),
    ("Constant", shape::constant),
    ("Flatten", shape::reshape),
    ("Reshape", shape::reshape),
    ("Transpose", shape::transpose),
    ("Concat", shape::concat),
    ("Add", elementwise::add),
    ("Sub", elementwise::sub),
    ("Mul", elementwise::mul),
    ("Div", elementwise::div),
    ("Gemm", linear::gemm),
    ("MatMul", linear::matmul),
    ("BatchNormalization", normalization::batch_norm),
    ("Softmax", softmax::softmax),
    ("LogSoftmax", softmax::log_softmax),
    ("Conv", conv::conv),
    ("MaxPool", pool::max_pool),
    ("AveragePool", pool::average_pool),
    ("GlobalAveragePool", pool::global_average_pool),
    ("ReduceMean", reduce::reduce_mean),
    ("QuantizeLinear", quantize::quantize_linear),
    ("DequantizeLinear", quantize::dequantize_linear),
];

/// The rule for operator `op`, if there is one.
pub(super) fn rule_for(op: &str) -> Option<Rule> {
    RULES
        .iter()
        .find(|(name, _)| *name == op)
        .map(|(_, rule)| *rule)
}

/// The operators the autodiff can differentiate.
pub fn supported_ops() -> Vec<&'static str> {
    RULES.iter().map(|(name, _)| *name).collect()
}

/// The gradient of the node's only output, which the reverse pass guarantees is present
/// for single-output ops.
fn only(out_grads: &[Option<String>]) -> Result<&str, String> {
    out_grads
        .first()
        .and_then(|g| g.as_deref())
        .ok_or_else(|| "no gradient reaches the node's output".to_string())
}

#[cfg(test)]
mod quantize_tests;
#[cfg(test)]
mod tests;
