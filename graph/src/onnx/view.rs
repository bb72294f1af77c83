//! A read-only view of a classifier's logits graph for graph transformations (the autodiff):
//! its nodes in the project's terms and the shape of every tensor with a symbolic batch.

use std::collections::{HashMap, HashSet};

use super::ir::{node_from_proto, tensor_from_proto, Attr, ConstTensor, Dim, Node};
use super::probe_analysis::{concrete_facts, ConcreteFacts};
use super::signature::Signature;
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
    /// `SMALL_CONSTANT` elements): axes, starts, ends, indices, bounds and exponents that
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
        // The graph analysed at one batch size (the model's fixed batch) or at two, so that
        // the dimensions scaling with the batch can be told apart.
        let (shapes, ints) = match signature.input.fixed_batch {
            Some(batch) => fixed_batch_facts(concrete_facts(self, &signature, batch)?),
            None => {
                let small = concrete_facts(self, &signature, SMALL_BATCH)?;
                let large = concrete_facts(self, &signature, SMALL_BATCH + 1)?;
                (symbolic_shapes(&small, &large), resolved_ints(small, large))
            }
        };
        let mut constants = small_constants(graph, &nodes);
        for (name, value) in ints {
            constants.entry(name).or_insert(value);
        }
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

/// The smaller of the two batch sizes a graph with a symbolic batch is analysed at.
const SMALL_BATCH: usize = 2;

/// Shapes and integer constants of a graph whose batch size is fixed.
fn fixed_batch_facts(
    facts: ConcreteFacts,
) -> (HashMap<String, Vec<Dim>>, HashMap<String, ConstTensor>) {
    let shapes = facts
        .shapes
        .into_iter()
        .map(|(name, dims)| (name, dims.into_iter().map(Dim::Fixed).collect()))
        .collect();
    (shapes, facts.ints)
}

/// Integer tensors computed from shapes that tract resolves to the same value at both batch
/// sizes: constants for the backward rules.
fn resolved_ints(small: ConcreteFacts, mut large: ConcreteFacts) -> HashMap<String, ConstTensor> {
    small
        .ints
        .into_iter()
        .filter_map(|(name, v)| {
            let w = large.ints.remove(&name)?;
            (v == w).then_some((name, v))
        })
        .collect()
}

/// Shapes with the batch dimension told apart: every dimension that scales with the batch
/// between the analyses at `SMALL_BATCH` and `SMALL_BATCH + 1` becomes [`Dim::Batch`].
fn symbolic_shapes(small: &ConcreteFacts, large: &ConcreteFacts) -> HashMap<String, Vec<Dim>> {
    small
        .shapes
        .iter()
        .filter_map(|(name, a)| {
            let b = large.shapes.get(name)?;
            if a.len() != b.len() {
                return None;
            }
            let dims = a
                .iter()
                .zip(b)
                .map(|(&x, &y)| match (x == y, y.checked_sub(x)) {
                    (true, _) => Some(Dim::Fixed(x)),
                    (false, Some(k)) if k > 0 && x == k * SMALL_BATCH => Some(Dim::Batch(k)),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            Some((name.clone(), dims))
        })
        .collect()
}
