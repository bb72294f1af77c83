//! A read-only view of a classifier's logits graph for graph transformations (the autodiff):
//! its nodes in the project's terms and the shape of every tensor with a symbolic batch.

use std::collections::{HashMap, HashSet};

use super::ir::{node_from_proto, tensor_from_proto, Attr, ConstTensor, Dim, Node};
use super::signature::Signature;
use super::tract_plan::concrete_shapes;
use super::{OnnxError, OnnxModel};

/// The nodes that compute a classifier's logits from its image input.
#[derive(Clone, Debug)]
pub struct GraphView {
    /// The image input and logits tensor.
    pub signature: Signature,
    /// The default-domain opset the nodes follow.
    pub opset: i64,
    /// Nodes the logits depend on, in a valid evaluation order.
    pub nodes: Vec<Node>,
    /// Names of the initializers (constant tensors such as weights).
    pub initializers: HashSet<String>,
    /// Shape of every tensor the analysis could resolve.
    pub shapes: HashMap<String, Vec<Dim>>,
    /// Values of the small constants (initializers and `Constant` nodes of at most
    /// [`SMALL_CONSTANT`] elements): axes, starts, ends, indices, bounds and exponents that
    /// backward rules read.
    pub constants: HashMap<String, ConstTensor>,
}

/// The largest constant, in elements, that [`GraphView::constants`] keeps (weights are
/// larger and no rule reads them).
const SMALL_CONSTANT: usize = 4096;

impl GraphView {
    /// The shape of tensor `name`, if known.
    pub fn shape(&self, name: &str) -> Option<&[Dim]> {
        self.shapes.get(name).map(Vec::as_slice)
    }

    /// The value of constant `name`, if it is a small constant.
    pub fn constant(&self, name: &str) -> Option<&ConstTensor> {
        self.constants.get(name)
    }
}

/// The small constants of the graph: initializers and `Constant` nodes' values.
fn small_constants(
    graph: &tract_onnx::pb::GraphProto,
    nodes: &[Node],
) -> HashMap<String, ConstTensor> {
    let small = |t: &ConstTensor| t.dims.iter().product::<usize>() <= SMALL_CONSTANT;
    let mut constants: HashMap<String, ConstTensor> = graph
        .initializer
        .iter()
        .filter(|t| t.dims.iter().product::<i64>() <= SMALL_CONSTANT as i64)
        .filter_map(|t| Some((t.name.clone(), tensor_from_proto(t).ok()?)))
        .collect();
    for node in nodes.iter().filter(|n| n.op == "Constant") {
        let value = match (
            node.attr("value"),
            node.attr("value_ints"),
            node.attr("value_int"),
        ) {
            (Some(Attr::Tensor(t)), _, _) => t.clone(),
            (_, Some(Attr::Ints(v)), _) => ConstTensor::i64(&[v.len()], v.clone()),
            (_, _, Some(Attr::Int(v))) => ConstTensor::i64(&[], vec![*v]),
            _ => match (node.attr("value_float"), node.attr("value_floats")) {
                (Some(Attr::Float(v)), _) => ConstTensor::f32(&[], vec![*v]),
                (_, Some(Attr::Floats(v))) => ConstTensor::f32(&[v.len()], v.clone()),
                _ => continue,
            },
        };
        if let Some(out) = node.outputs.first().filter(|_| small(&value)) {
            constants.insert(out.clone(), value);
        }
    }
    constants
}

impl OnnxModel {
    /// The logits graph of this model: the nodes between the image input and the logits
    /// (a trailing softmax and unrelated outputs dropped), with tensor shapes.
    pub fn view(&self) -> Result<GraphView, OnnxError> {
        let signature = self.signature()?;
        let graph = self.graph();
        let malformed = |reason: String| OnnxError::Malformed {
            path: self.path().to_path_buf(),
            reason,
        };
        let mut needed: HashSet<&str> = HashSet::from([signature.logits.as_str()]);
        let mut keep = vec![false; graph.node.len()];
        for (i, node) in graph.node.iter().enumerate().rev() {
            if node.output.iter().any(|o| needed.contains(o.as_str())) {
                keep[i] = true;
                needed.extend(
                    node.input
                        .iter()
                        .map(String::as_str)
                        .filter(|s| !s.is_empty()),
                );
            }
        }
        let nodes = graph
            .node
            .iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(n, _)| node_from_proto(n).map_err(&malformed))
            .collect::<Result<Vec<_>, _>>()?;
        let shapes = symbolic_shapes(self, &signature)?;
        let constants = small_constants(graph, &nodes);
        Ok(GraphView {
            constants,
            opset: self.opset(),
            nodes,
            initializers: graph.initializer.iter().map(|t| t.name.clone()).collect(),
            shapes,
            signature,
        })
    }
}

/// Shapes with the batch dimension told apart: the graph is analysed for two batch sizes
/// and every dimension that scales with the batch becomes [`Dim::Batch`].
fn symbolic_shapes(
    model: &OnnxModel,
    signature: &Signature,
) -> Result<HashMap<String, Vec<Dim>>, OnnxError> {
    if let Some(batch) = signature.input.fixed_batch {
        let shapes = concrete_shapes(model, signature, batch)?;
        return Ok(shapes
            .into_iter()
            .map(|(name, dims)| (name, dims.into_iter().map(Dim::Fixed).collect()))
            .collect());
    }
    let (small, large) = (2, 3);
    let at_small = concrete_shapes(model, signature, small)?;
    let at_large = concrete_shapes(model, signature, large)?;
    Ok(at_small
        .into_iter()
        .filter_map(|(name, a)| {
            let b = at_large.get(&name)?;
            if a.len() != b.len() {
                return None;
            }
            let dims = a
                .iter()
                .zip(b)
                .map(|(&x, &y)| match (x == y, y.checked_sub(x)) {
                    (true, _) => Some(Dim::Fixed(x)),
                    (false, Some(k)) if k > 0 && x == k * small => Some(Dim::Batch(k)),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            Some((name, dims))
        })
        .collect())
}
