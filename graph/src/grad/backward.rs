//! The reverse pass: walks the forward nodes backwards, asks each node's rule for the
//! gradients of its inputs, and sums the contributions of tensors used several times.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::opset::{normalise, twin_shapes, REWRITTEN_OPS};
use super::rule_context::Ctx;
use super::rules::{rule_for, straight_through_reason};
use super::GradError;
use crate::onnx::{Attr, ConstTensor, Dim, GraphBuilder, GraphView, Node, OnnxModel, OPSET};

/// Name of the VJP graph's seed input, `[batch, classes]`: d loss / d logits, or its part
/// that does not depend on the logits (see [`vjp_graph`]).
pub const SEED: &str = "vjp.seed";
/// Name of the VJP graph's input `[batch, 1]`: the weight of `softmax(logits) -
/// SEED_SOFTMAX_CLASS` in the seed.
pub const SEED_SOFTMAX_WEIGHT: &str = "vjp.seed_softmax_weight";
/// Name of the VJP graph's input `[batch, classes]`: a one-hot class (or zero) subtracted
/// from the softmax.
pub const SEED_SOFTMAX_CLASS: &str = "vjp.seed_softmax_class";
/// Name of the VJP graph's input `[batch, 1]`: the weight of the top class's one-hot vector
/// in the seed.
pub const SEED_TOP_WEIGHT: &str = "vjp.seed_top_weight";
/// Name of the VJP graph's input `[batch, classes]`, added to the logits before the top
/// class is chosen: 0, or minus infinity on a class to skip.
pub const SEED_TOP_MASK: &str = "vjp.seed_top_mask";
/// Metadata key of a VJP graph whose gradients are straight-through estimates (quantized
/// models); its value says why. See [`straight_through`].
pub const STRAIGHT_THROUGH: &str = "vjp_straight_through";
/// Name of the VJP graph's output holding `seed^T · d logits / d x`, shaped like `x`.
pub const GRAD_INPUT: &str = "vjp.grad_input";

/// Builds the VJP graph of `model` (see the module docs). It is written next to the model
/// as `<model>.vjp.onnx` if saved; nothing is written here.
///
/// The seed the backward pass starts from is computed in the graph from the model's own
/// logits `z`, so that losses whose gradient depends on `z` need no forward query first:
/// `SEED + SEED_SOFTMAX_WEIGHT * (softmax(z) - SEED_SOFTMAX_CLASS) + SEED_TOP_WEIGHT *
/// onehot(argmax(z + SEED_TOP_MASK))` (a fixed seed has both weights 0; see
/// `crate::model::LogitSeeds`).
pub fn vjp_graph(model: &OnnxModel) -> Result<OnnxModel, GradError> {
    let view = model.view()?;
    let path = model.path().to_path_buf();
    let nodes = forward_nodes(&view, &path)?;
    let signature = &view.signature;
    let input = &signature.input;
    let classes = view
        .shape(&signature.logits)
        .and_then(|s| {
            s.iter()
                .skip(1)
                .map(|d| d.fixed())
                .product::<Option<usize>>()
        })
        .ok_or_else(|| GradError::Node {
            path: path.clone(),
            index: nodes.len().saturating_sub(1),
            op: "logits".into(),
            reason: format!("logits '{}' have no fixed class count", signature.logits),
        })?;
    let image_dims = model_layout_dims(&view);
    let mut b = GraphBuilder::from_model(model);
    // Backward rules need opset 17 (ScatterElements with reduction, ReduceSum axes as an
    // input); newer models keep their own opset, older ones are normalised up to 17.
    let opset = view.opset.max(OPSET);
    b.set_opset(opset);
    b.input(&input.name, &image_dims);
    b.input(SEED, &[None, Some(classes)]);
    b.input(SEED_SOFTMAX_WEIGHT, &[None, Some(1)]);
    b.input(SEED_SOFTMAX_CLASS, &[None, Some(classes)]);
    b.input(SEED_TOP_WEIGHT, &[None, Some(1)]);
    b.input(SEED_TOP_MASK, &[None, Some(classes)]);
    for node in &nodes {
        b.add(node.clone());
    }
    let seed = append_seed(
        &mut b,
        opset,
        &signature.logits,
        classes,
        view.shape(&signature.logits),
    );
    let seeds = [(signature.logits.clone(), seed)];
    let grads = append_backward(
        &mut b,
        &view,
        &nodes,
        &seeds,
        std::slice::from_ref(&input.name),
        &path,
    )?;
    b.add(Node::new("Identity", &[&grads[0]], &[GRAD_INPUT], vec![]));
    b.output(&signature.logits, &[None, Some(classes)]);
    b.output(GRAD_INPUT, &image_dims);
    b.metadata("vjp_of", &model.path().display().to_string());
    let needs = depends_on(&nodes, std::slice::from_ref(&input.name));
    if let Some(reason) = straight_through_reason(&nodes, &needs) {
        b.metadata(STRAIGHT_THROUGH, &reason);
    }
    Ok(b.finish(vjp_path(model.path()))?)
}

/// Appends the nodes that compute the backward pass's seed from the graph's inputs and the
/// logits `logits` (see [`vjp_graph`]) in a graph of `opset`, and returns the seed's name,
/// shaped like the logits.
fn append_seed(
    b: &mut GraphBuilder,
    opset: i64,
    logits: &str,
    classes: usize,
    logits_shape: Option<&[Dim]>,
) -> String {
    let classes_i64 = i64::try_from(classes).unwrap_or(i64::MAX);
    b.node("Flatten", &[logits], &["vjp.z"], &[("axis", Attr::Int(1))]);
    // softmax(z) spelled out, its sums products with a vector of ones: tract's Softmax and
    // ReduceSum give a row different last bits depending on its position in the batch, so a
    // row's seed would depend on the batch; its matrix products compute every row the same.
    if opset >= 18 {
        // ReduceMax takes its axes as an input from opset 18 on.
        b.constant("vjp.max_axes", &ConstTensor::i64(&[1], vec![1]));
        b.node(
            "ReduceMax",
            &["vjp.z", "vjp.max_axes"],
            &["vjp.z_max"],
            &[("keepdims", Attr::Int(1))],
        );
    } else {
        b.node(
            "ReduceMax",
            &["vjp.z"],
            &["vjp.z_max"],
            &[("axes", Attr::Ints(vec![1])), ("keepdims", Attr::Int(1))],
        );
    }
    b.node("Sub", &["vjp.z", "vjp.z_max"], &["vjp.z_shifted"], &[]);
    b.node("Exp", &["vjp.z_shifted"], &["vjp.z_exp"], &[]);
    b.constant(
        "vjp.ones",
        &ConstTensor::f32(&[classes, 1], vec![1.0; classes]),
    );
    b.node(
        "MatMul",
        &["vjp.z_exp", "vjp.ones"],
        &["vjp.z_exp_sum"],
        &[],
    );
    // softmax(z) - h for a one-hot (or zero) h: (exp ⊙ (1 - h) - h * sum(exp ⊙ (1 - h))) /
    // sum(exp), so that h's entry is minus the sum of the other probabilities rather than
    // 1 - p_h, which rounds to 0 in f32 once the model is confident.
    b.constant("vjp.one", &ConstTensor::f32(&[], vec![1.0]));
    b.node(
        "Sub",
        &["vjp.one", SEED_SOFTMAX_CLASS],
        &["vjp.not_class"],
        &[],
    );
    b.node("Mul", &["vjp.z_exp", "vjp.not_class"], &["vjp.others"], &[]);
    b.node(
        "MatMul",
        &["vjp.others", "vjp.ones"],
        &["vjp.others_sum"],
        &[],
    );
    b.node(
        "Mul",
        &[SEED_SOFTMAX_CLASS, "vjp.others_sum"],
        &["vjp.class_part"],
        &[],
    );
    b.node(
        "Sub",
        &["vjp.others", "vjp.class_part"],
        &["vjp.numerator"],
        &[],
    );
    b.node(
        "Div",
        &["vjp.numerator", "vjp.z_exp_sum"],
        &["vjp.softmax"],
        &[],
    );
    b.node(
        "Mul",
        &[SEED_SOFTMAX_WEIGHT, "vjp.softmax"],
        &["vjp.softmax_term"],
        &[],
    );
    b.node("Add", &["vjp.z", SEED_TOP_MASK], &["vjp.z_masked"], &[]);
    b.node(
        "ArgMax",
        &["vjp.z_masked"],
        &["vjp.top"],
        &[("axis", Attr::Int(1)), ("keepdims", Attr::Int(1))],
    );
    b.constant(
        "vjp.class_indices",
        &ConstTensor::i64(&[1, classes], (0..classes_i64).collect()),
    );
    b.node(
        "Equal",
        &["vjp.class_indices", "vjp.top"],
        &["vjp.is_top"],
        &[],
    );
    // 1 = FLOAT in ONNX's TensorProto.DataType.
    b.node(
        "Cast",
        &["vjp.is_top"],
        &["vjp.top_onehot"],
        &[("to", Attr::Int(1))],
    );
    b.node(
        "Mul",
        &[SEED_TOP_WEIGHT, "vjp.top_onehot"],
        &["vjp.top_term"],
        &[],
    );
    b.node(
        "Sum",
        &[SEED, "vjp.softmax_term", "vjp.top_term"],
        &["vjp.seed_total"],
        &[],
    );
    if logits_shape.is_some_and(|dims| dims.len() == 2) {
        return "vjp.seed_total".into();
    }
    b.node("Shape", &[logits], &["vjp.logits_shape"], &[]);
    b.node(
        "Reshape",
        &["vjp.seed_total", "vjp.logits_shape"],
        &["vjp.seed_shaped"],
        &[],
    );
    "vjp.seed_shaped".into()
}

/// Why the gradients of VJP graph `vjp` are straight-through estimates rather than exact,
/// or `None` when they are exact.
pub fn straight_through(vjp: &OnnxModel) -> Option<&str> {
    vjp.metadata_value(STRAIGHT_THROUGH)
}

fn vjp_path(model: &Path) -> PathBuf {
    let mut name = model.file_stem().unwrap_or_default().to_os_string();
    name.push(".vjp.onnx");
    model.with_file_name(name)
}

/// The image input's dims in the model's own layout, batch symbolic.
fn model_layout_dims(view: &GraphView) -> Vec<Option<usize>> {
    let input = &view.signature.input;
    match view.shape(&input.name) {
        Some(dims) => dims.iter().map(|d| d.fixed()).collect(),
        None => {
            let [c, h, w] = input.chw();
            vec![None, Some(c), Some(h), Some(w)]
        }
    }
}

/// The logits graph's nodes in the gradient graph's opset. Every node on a path from the
/// image input to the logits must have a rule (or be rewritten into ops that have one, as
/// QOperator convolutions are); nodes that only compute shapes need none.
pub(super) fn forward_nodes(view: &GraphView, path: &Path) -> Result<Vec<Node>, GradError> {
    let needs = depends_on(
        &view.nodes,
        std::slice::from_ref(&view.signature.input.name),
    );
    let mut missing: Vec<String> = view
        .nodes
        .iter()
        .filter(|n| {
            let on_path =
                !SHAPE_OPS.contains(&n.op.as_str()) && n.inputs.iter().any(|i| needs.contains(i));
            on_path && rule_for(&n.op).is_none() && !REWRITTEN_OPS.contains(&n.op.as_str())
        })
        .map(|n| n.op.clone())
        .collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        return Err(GradError::Unsupported {
            path: path.to_path_buf(),
            ops: missing,
        });
    }
    let mut nodes = Vec::with_capacity(view.nodes.len());
    for (index, node) in view.nodes.iter().enumerate() {
        let normalised = normalise(node, view).map_err(|reason| GradError::Node {
            path: path.to_path_buf(),
            index,
            op: node.op.clone(),
            reason,
        })?;
        nodes.extend(normalised);
    }
    Ok(nodes)
}

/// Appends the backward nodes of `nodes` to `b`, given the gradients `seeds`
/// (`(tensor, its gradient)` pairs), and returns the gradient of each tensor of `wrt`.
pub(super) fn append_backward(
    b: &mut GraphBuilder,
    view: &GraphView,
    nodes: &[Node],
    seeds: &[(String, String)],
    wrt: &[String],
    path: &Path,
) -> Result<Vec<String>, GradError> {
    let needs = depends_on(nodes, wrt);
    // Constants the normalisation added (e.g. Slice's starts before opset 10).
    let constants = nodes
        .iter()
        .filter(|n| n.op == "Constant")
        .filter_map(|n| match (n.attr("value"), n.outputs.first()) {
            (Some(Attr::Tensor(t)), Some(out)) => Some((out.clone(), t.clone())),
            _ => None,
        })
        .collect();
    let mut ctx = Ctx::new(b, view, needs, constants, twin_shapes(nodes, view));
    let mut contributions: HashMap<String, Vec<String>> = HashMap::new();
    for (tensor, grad) in seeds {
        contributions
            .entry(tensor.clone())
            .or_default()
            .push(grad.clone());
    }
    for (index, node) in nodes.iter().enumerate().rev() {
        let wanted = node.inputs.iter().any(|i| !i.is_empty() && ctx.needs(i));
        if !wanted {
            continue;
        }
        let out_grads: Vec<Option<String>> = node
            .outputs
            .iter()
            .map(|o| contributions.remove(o).map(|parts| ctx.sum(parts)))
            .collect();
        if out_grads.iter().all(Option::is_none) {
            continue;
        }
        let rule = rule_for(&node.op).ok_or_else(|| GradError::Unsupported {
            path: path.to_path_buf(),
            ops: vec![node.op.clone()],
        })?;
        let in_grads = rule(&mut ctx, node, &out_grads).map_err(|reason| GradError::Node {
            path: path.to_path_buf(),
            index,
            op: node.op.clone(),
            reason,
        })?;
        for (input, grad) in node.inputs.iter().zip(in_grads) {
            if let Some(grad) = grad.filter(|_| ctx.needs(input)) {
                contributions.entry(input.clone()).or_default().push(grad);
            }
        }
    }
    Ok(wrt
        .iter()
        .map(|t| match contributions.remove(t) {
            Some(parts) => ctx.sum(parts),
            // The output does not depend on this tensor: its gradient is zero.
            None => {
                let zero = ctx.scalar(0.0);
                ctx.emit("Mul", &[t, &zero], vec![])
            }
        })
        .collect())
}

/// Ops whose outputs are shapes, booleans or indices, not values a gradient can flow
/// through (e.g. the mask of a `Where`).
const SHAPE_OPS: &[&str] = &[
    "Shape",
    "Size",
    "Greater",
    "GreaterOrEqual",
    "Less",
    "LessOrEqual",
    "Equal",
    "Not",
    "And",
    "Or",
    "Xor",
    "IsNaN",
    "IsInf",
    "ArgMax",
    "ArgMin",
];

/// Tensors whose values depend on one of `wrt` (including `wrt` themselves).
fn depends_on(nodes: &[Node], wrt: &[String]) -> HashSet<String> {
    let mut needs: HashSet<String> = wrt.iter().cloned().collect();
    for node in nodes {
        if !SHAPE_OPS.contains(&node.op.as_str()) && node.inputs.iter().any(|i| needs.contains(i)) {
            needs.extend(node.outputs.iter().cloned());
        }
    }
    needs
}
