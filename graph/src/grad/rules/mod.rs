//! The registry of backward rules, one file per op family.
//!
//! A rule receives the forward node and the gradient of each of its outputs (`None` where no
//! gradient flows) and returns the gradient of each input (`None` for inputs that need none,
//! such as shapes and, for input gradients, weights). Rules emit only standard ONNX ops.

mod activation;
mod axis_map;
mod broadcast;
mod conv;
mod conv_transpose;
mod einsum;
mod elementwise;
mod feature_norm;
mod linear;
mod normalization;
mod padding;
mod piecewise;
mod pool;
mod quantize;
mod reduce;
mod resize;
mod select;
mod shape;
mod shape_broadcast;
mod smooth;
mod softmax;
mod variadic;

pub(super) use quantize::straight_through_reason;

use super::rule_context::Ctx;
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
    ("ReduceSum", reduce::reduce_sum),
    ("ReduceMax", reduce::reduce_extreme),
    ("ReduceMin", reduce::reduce_extreme),
    ("Clip", piecewise::clip),
    ("HardSigmoid", piecewise::hard_sigmoid),
    ("HardSwish", piecewise::hard_swish),
    ("Abs", piecewise::abs),
    ("Exp", smooth::exp),
    ("Log", smooth::log),
    ("Neg", smooth::neg),
    ("Erf", smooth::erf),
    ("Gelu", smooth::gelu),
    ("Softplus", smooth::softplus),
    ("Pow", smooth::pow),
    ("LayerNormalization", feature_norm::layer_norm),
    ("InstanceNormalization", feature_norm::instance_norm),
    ("GroupNormalization", feature_norm::group_norm),
    ("Squeeze", shape::reshape),
    ("Unsqueeze", shape::reshape),
    ("Slice", select::slice),
    ("Split", select::split),
    ("Gather", select::gather),
    ("GatherElements", select::gather_elements),
    ("Max", variadic::extreme),
    ("Min", variadic::extreme),
    ("Sum", variadic::sum),
    ("Mean", variadic::mean),
    ("Where", variadic::where_),
    ("Cast", variadic::cast),
    ("Expand", shape_broadcast::expand),
    ("Tile", shape_broadcast::tile),
    ("Pad", padding::pad),
    ("Resize", resize::resize),
    ("Einsum", einsum::einsum),
    ("ConvTranspose", conv_transpose::conv_transpose),
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
mod conv_transpose_tests;
#[cfg(test)]
mod einsum_tests;
#[cfg(test)]
mod exporter_graph_tests;
#[cfg(test)]
mod feature_norm_tests;
#[cfg(test)]
mod padding_tests;
#[cfg(test)]
mod piecewise_tests;
#[cfg(test)]
mod quantize_tests;
#[cfg(test)]
mod reduce_tests;
#[cfg(test)]
mod resize_tests;
#[cfg(test)]
mod select_tests;
#[cfg(test)]
mod shape_broadcast_tests;
#[cfg(test)]
mod smooth_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod variadic_tests;
