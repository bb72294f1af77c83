//! Brings forward nodes to the form the gradient graph uses (opset [`crate::onnx::OPSET`] or
//! the model's own, if newer): inference-only ops become identities, attributes that became
//! inputs (in opset 13, or earlier for Clip, Slice, Split and Pad) are turned into constant
//! inputs, old softmax semantics are made explicit, QOperator convolutions and matrix
//! products become their dequantized float twins, and max pools also output the indices their backward rule scatters through.

use std::collections::HashMap;

use crate::onnx::{Attr, ConstTensor, Dim, GraphView, Node};

/// Ops whose `axes` attribute became an input in opset 13.
const AXES_BECAME_INPUT: &[&str] = &["Squeeze", "Unsqueeze", "ReduceSum"];

/// `node` rewritten for the gradient graph (preceded by any constant it now needs), or why
/// it cannot be.
pub(super) fn normalise(node: &Node, view: &GraphView) -> Result<Vec<Node>, String> {
    let mut node = node.clone();
    let mut before = Vec::new();
    if view.opset < 13 && AXES_BECAME_INPUT.contains(&node.op.as_str()) {
        if let Some(axes) = node.ints("axes").map(<[i64]>::to_vec) {
            let name = format!("{}.axes", node.outputs[0]);
            before.push(constant(&name, ConstTensor::i64(&[axes.len()], axes)));
            node.attrs.retain(|(k, _)| k != "axes");
            node.inputs.truncate(1);
            node.inputs.push(name);
        }
    }
    match node.op.as_str() {
        // Clip's bounds became inputs in opset 11; Slice's starts, ends and axes in 10;
        // Split's sizes in 13.
        "Clip" if view.opset < 11 => {
            for (bound, default) in [("min", f32::MIN), ("max", f32::MAX)] {
                let name = format!("{}.{bound}", node.outputs[0]);
                let value = ConstTensor::f32(&[], vec![node.float(bound, default)]);
                before.push(constant(&name, value));
                node.inputs.push(name);
            }
            node.attrs.clear();
        }
        "Slice" if view.opset < 10 => {
            for key in ["starts", "ends", "axes"] {
                if let Some(values) = node.ints(key).map(<[i64]>::to_vec) {
                    let name = format!("{}.{key}", node.outputs[0]);
                    before.push(constant(&name, ConstTensor::i64(&[values.len()], values)));
                    node.inputs.push(name);
                }
            }
            node.attrs.clear();
        }
        "Split" if view.opset < 13 => {
            if let Some(sizes) = node.ints("split").map(<[i64]>::to_vec) {
                let name = format!("{}.split", node.outputs[0]);
                before.push(constant(&name, ConstTensor::i64(&[sizes.len()], sizes)));
                node.inputs.push(name);
                node.attrs.retain(|(k, _)| k != "split");
            }
        }
        // Pad's pads and value became inputs in opset 11.
        "Pad" if view.opset < 11 => {
            let pads = node.ints("pads").map(<[i64]>::to_vec).unwrap_or_default();
            let name = format!("{}.pads", node.outputs[0]);
            before.push(constant(&name, ConstTensor::i64(&[pads.len()], pads)));
            node.inputs.push(name);
            let name = format!("{}.value", node.outputs[0]);
            let value = ConstTensor::f32(&[], vec![node.float("value", 0.0)]);
            before.push(constant(&name, value));
            node.inputs.push(name);
            node.attrs.retain(|(k, _)| k == "mode");
        }
        // Resize 10 has no roi input and its own coordinate rule: its inputs would be read as
        // opset 11's.
        "Resize" if view.opset < 11 => {
            return Err("resize before opset 11 is not supported".into());
        }
        "QLinearConv" => return Ok(qlinear_twin(&node, "Conv", 0)),
        // Per-column weight scales of a `[K, N]` operand lie along its last axis.
        "QLinearMatMul" => return Ok(qlinear_twin(&node, "MatMul", -1)),
        "Dropout" => {
            if let Some(mask) = node.outputs.get(1).filter(|m| !m.is_empty()) {
                if view.nodes.iter().any(|n| n.inputs.contains(mask)) {
                    return Err("the dropout mask output is used by the graph".into());
                }
            }
            node = Node::new("Identity", &[&node.inputs[0]], &[&node.outputs[0]], vec![]);
        }
        "Softmax" | "LogSoftmax" if view.opset < 13 => {
            // Before opset 13 these flatten the input to 2-D at `axis` (default 1); that equals
            // the per-axis form only when `axis` is the last axis.
            let rank = view.shape(&node.inputs[0]).map_or(2, <[_]>::len) as i64;
            let axis = node.int("axis", 1);
            let axis = if axis < 0 { axis + rank } else { axis };
            if axis != rank - 1 {
                return Err(format!(
                    "a softmax over flattened axes {axis}.. of a rank-{rank} tensor (opset < 13) is not supported"
                ));
            }
            node.attrs.retain(|(k, _)| k != "axis");
            node.attrs.push(("axis".into(), Attr::Int(axis)));
        }
        "BatchNormalization" if node.int("training_mode", 0) != 0 => {
            return Err("batch normalization in training mode is not supported".into());
        }
        "MaxPool" if node.outputs.len() == 1 => {
            let indices = format!("{}.indices", node.outputs[0]);
            node.outputs.push(indices);
        }
        _ => {}
    }
    before.push(node);
    Ok(before)
}

/// A `Constant` node producing `value` as `name`.
fn constant(name: &str, value: ConstTensor) -> Node {
    Node::new(
        "Constant",
        &[],
        &[name],
        vec![("value", Attr::Tensor(value))],
    )
}

/// QOperator ops that [`normalise`] rewrites into ops with backward rules.
pub(super) const REWRITTEN_OPS: &[&str] = &["QLinearConv", "QLinearMatMul"];

/// The suffix of the float Conv or MatMul output in a QOperator twin (see [`qlinear_twin`]).
pub(super) const FLOAT_TWIN: &str = ".float_twin";

/// `QLinearConv` or `QLinearMatMul` as its QDQ twin: DequantizeLinear of the input and of
/// the (per-channel, along `weight_axis`) weight, QLinearConv's int32 bias times
/// `x_scale * w_scale`, the float `op` with the node's attributes, and a QuantizeLinear to
/// the output's scale and zero point. Its straight-through backward is then the QDQ one. The
/// twin's forward pass accumulates in f32 where the QOperator op does in int32, so an output
/// may land one quantization step apart at a rounding boundary; attacks re-verify every
/// success on the real model.
fn qlinear_twin(node: &Node, op: &str, weight_axis: i64) -> Vec<Node> {
    let y = &node.outputs[0];
    let input = |i: usize| node.inputs.get(i).map_or("", String::as_str);
    let name = |part: &str| format!("{y}.{part}");
    let (xf, wf, yf) = (name("x_float"), name("w_float"), format!("{y}{FLOAT_TWIN}"));
    let mut nodes = vec![
        Node::new(
            "DequantizeLinear",
            &[input(0), input(1), input(2)],
            &[&xf],
            vec![],
        ),
        Node::new(
            "DequantizeLinear",
            &[input(3), input(4), input(5)],
            &[&wf],
            vec![("axis", Attr::Int(weight_axis))],
        ),
    ];
    let mut conv_inputs = vec![xf.clone(), wf.clone()];
    if !input(8).is_empty() {
        let (scale, int, float) = (name("b_scale"), name("b_int"), name("b_float"));
        nodes.push(Node::new("Mul", &[input(1), input(4)], &[&scale], vec![]));
        nodes.push(Node::new(
            "Cast",
            &[input(8)],
            &[&int],
            vec![("to", Attr::Int(1))],
        ));
        nodes.push(Node::new("Mul", &[&int, &scale], &[&float], vec![]));
        conv_inputs.push(float);
    }
    let conv_inputs: Vec<&str> = conv_inputs.iter().map(String::as_str).collect();
    let attrs = node
        .attrs
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    nodes.push(Node::new(op, &conv_inputs, &[&yf], attrs));
    nodes.push(Node::new(
        "QuantizeLinear",
        &[&yf, input(6), input(7)],
        &[y],
        vec![],
    ));
    nodes
}

/// Shapes of the tensors the QOperator twins add, which the graph analysis of the original
/// model does not know: a dequantized input or weight is shaped like its integer tensor, the
/// float Conv's output like the quantized output it replaces.
pub(super) fn twin_shapes(nodes: &[Node], view: &GraphView) -> HashMap<String, Vec<Dim>> {
    let mut shapes: HashMap<String, Vec<Dim>> = HashMap::new();
    for node in nodes {
        let Some(out) = node.outputs.first().filter(|o| view.shape(o).is_none()) else {
            continue;
        };
        let like = match (node.op.as_str(), out.strip_suffix(FLOAT_TWIN)) {
            (_, Some(quantized)) => quantized,
            ("DequantizeLinear" | "Cast", None) => node.inputs[0].as_str(),
            _ => continue,
        };
        let shape = view.shape(like).map(<[Dim]>::to_vec);
        if let Some(shape) = shape.or_else(|| shapes.get(like).cloned()) {
            shapes.insert(out.clone(), shape);
        }
    }
    shapes
}
