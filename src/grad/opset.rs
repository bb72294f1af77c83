//! Brings forward nodes to the form the gradient graph uses (opset [`crate::onnx::OPSET`]):
//! inference-only ops become identities, old softmax semantics are made explicit, and max
//! pools also output the indices their backward rule scatters through.

use crate::onnx::{Attr, GraphView, Node};

/// `node` rewritten for the gradient graph, or why it cannot be.
pub(super) fn normalise(node: &Node, view: &GraphView) -> Result<Node, String> {
    let mut node = node.clone();
    match node.op.as_str() {
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
    Ok(node)
}
