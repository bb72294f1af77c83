//! The forward pass in training mode: dropout multiplies by a mask the caller draws, batch
//! normalization normalises with the batch's own statistics and updates its running ones.
//!
//! The rewritten nodes are ordinary ONNX ops with backward rules; the shapes of the tensors
//! they add are derived from the shapes the graph view already knows.

use std::collections::HashMap;

use crate::onnx::{Attr, ConstTensor, Dim, GraphView, Node, OPSET};

/// A dropout mask the caller supplies each step: a graph input shaped like the dropped
/// tensor, holding `0` (dropped) or `1 / (1 - rate)` (kept).
#[derive(Clone, Debug, PartialEq)]
pub struct DropoutMask {
    /// The graph input's name.
    pub name: String,
    /// The mask's dims after the batch axis.
    pub sample_dims: Vec<usize>,
    /// The probability that a unit is dropped.
    pub rate: f32,
}

/// A batch normalization's running statistic and the tensor holding its updated value.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct RunningStatistic {
    /// The initializer (the running mean or variance), an input of the training graph.
    pub name: String,
    /// The tensor computed from this step's batch.
    pub updated: String,
}

/// The forward graph rewritten for training.
#[derive(Debug, Default)]
pub(super) struct TrainingForward {
    /// The forward nodes, in order.
    pub nodes: Vec<Node>,
    /// Nodes that update running statistics: outside the differentiated pass.
    pub statistics_nodes: Vec<Node>,
    /// Constants the rewritten nodes read.
    pub constants: Vec<(String, ConstTensor)>,
    /// Shapes of the tensors the rewrite added.
    pub shapes: HashMap<String, Vec<Dim>>,
    /// The dropout masks, in node order.
    pub masks: Vec<DropoutMask>,
    /// The running statistics, in node order.
    pub statistics: Vec<RunningStatistic>,
}

/// Rewrites `view`'s dropout and batch normalization nodes for training.
pub(super) fn training_forward(view: &GraphView) -> Result<TrainingForward, String> {
    let mut forward = TrainingForward::default();
    for node in &view.nodes {
        match node.op.as_str() {
            "Dropout" => dropout(&mut forward, view, node)?,
            "BatchNormalization" => batch_norm(&mut forward, view, node)?,
            _ => forward.nodes.push(node.clone()),
        }
    }
    Ok(forward)
}

fn shape_of(view: &GraphView, tensor: &str) -> Result<Vec<Dim>, String> {
    view.shape(tensor)
        .map(<[Dim]>::to_vec)
        .ok_or_else(|| format!("the shape of '{tensor}' is unknown"))
}

/// `y = x * mask`; the mask is `0` or `1 / (1 - rate)`, drawn by the caller.
fn dropout(forward: &mut TrainingForward, view: &GraphView, node: &Node) -> Result<(), String> {
    let (x, y) = (&node.inputs[0], &node.outputs[0]);
    if let Some(mask) = node.outputs.get(1).filter(|m| !m.is_empty()) {
        if view.nodes.iter().any(|n| n.inputs.contains(mask)) {
            return Err("the dropout mask output is used by the graph".into());
        }
    }
    let rate = dropout_rate(view, node)?;
    if rate == 0.0 {
        forward
            .nodes
            .push(Node::new("Identity", &[x], &[y], vec![]));
        return Ok(());
    }
    if !(0.0..1.0).contains(&rate) {
        return Err(format!("dropout rate {rate} is outside [0, 1)"));
    }
    let shape = shape_of(view, x)?;
    let sample_dims = shape
        .get(1..)
        .unwrap_or_default()
        .iter()
        .map(|d| d.fixed())
        .collect::<Option<Vec<_>>>()
        .filter(|_| shape.first() == Some(&Dim::Batch(1)))
        .ok_or_else(|| format!("dropout input '{x}' is not shaped [batch, ...]"))?;
    let name = format!("dropout.{y}");
    forward.shapes.insert(name.clone(), shape);
    forward
        .nodes
        .push(Node::new("Mul", &[x, &name], &[y], vec![]));
    forward.masks.push(DropoutMask {
        name,
        sample_dims,
        rate,
    });
    Ok(())
}

/// The rate of a dropout node: the `ratio` attribute (opset < 12) or its constant input.
fn dropout_rate(view: &GraphView, node: &Node) -> Result<f32, String> {
    let Some(ratio) = node.inputs.get(1).filter(|r| !r.is_empty()) else {
        return Ok(node.float("ratio", 0.5));
    };
    view.nodes
        .iter()
        .find(|n| n.op == "Constant" && n.outputs.first() == Some(ratio))
        .and_then(|n| match n.attr("value") {
            Some(Attr::Tensor(t)) => t.as_f32().and_then(|v| v.first().copied()),
            _ => None,
        })
        .ok_or_else(|| format!("the dropout ratio '{ratio}' is not a constant"))
}

/// Batch normalization with the batch's statistics over every axis but 1:
/// `y = (x - mean_b) / sqrt(var_b + eps) * scale + bias`, written with ops that have
/// backward rules, plus the running-statistic update
/// `running = momentum * running + (1 - momentum) * batch` (the variance unbiased).
fn batch_norm(forward: &mut TrainingForward, view: &GraphView, node: &Node) -> Result<(), String> {
    if view.opset > OPSET {
        return Err(format!(
            "batch normalization is trained at opsets up to {OPSET}, this model has {}",
            view.opset
        ));
    }
    let [x, scale, bias, mean, var] = [0, 1, 2, 3, 4].map(|i| node.inputs[i].as_str());
    let y = node.outputs[0].as_str();
    let shape = shape_of(view, x)?;
    let rank = shape.len();
    let channels = shape
        .get(1)
        .and_then(|d| d.fixed())
        .filter(|_| rank >= 2)
        .ok_or_else(|| format!("batch normalization input '{x}' has no fixed channel axis"))?;
    let eps = node.float("epsilon", 1e-5);
    let momentum = node.float("momentum", 0.9);
    let axes: Vec<i64> = std::iter::once(0).chain(2..rank as i64).collect();
    let stat_shape: Vec<Dim> = (0..rank)
        .map(|i| Dim::Fixed(if i == 1 { channels } else { 1 }))
        .collect();
    let per_channel: Vec<Dim> = std::iter::once(Dim::Fixed(channels))
        .chain(std::iter::repeat_n(Dim::Fixed(1), rank - 2))
        .collect();
    let t = |suffix: &str| format!("{y}.train.{suffix}");
    let reduce = |input: &str, output: &str| {
        Node::new(
            "ReduceMean",
            &[input],
            &[output],
            vec![
                ("axes", Attr::Ints(axes.clone())),
                ("keepdims", Attr::Int(1)),
            ],
        )
    };
    let channel_dims: Vec<i64> = std::iter::once(channels as i64)
        .chain(std::iter::repeat_n(1, rank - 2))
        .collect();
    let constants = [
        (t("eps"), ConstTensor::f32(&[], vec![eps])),
        (
            t("channel_shape"),
            ConstTensor::i64(&[rank - 1], channel_dims),
        ),
        (t("vector_shape"), ConstTensor::i64(&[1], vec![-1])),
        (t("momentum"), ConstTensor::f32(&[], vec![momentum])),
        (t("update"), ConstTensor::f32(&[], vec![1.0 - momentum])),
        (t("channels"), ConstTensor::f32(&[], vec![channels as f32])),
        (t("one"), ConstTensor::f32(&[], vec![1.0])),
    ];
    forward.constants.extend(constants);
    let nodes = [
        reduce(x, &t("mean")),
        Node::new("Sub", &[x, &t("mean")], &[&t("centred")], vec![]),
        Node::new("Mul", &[&t("centred"), &t("centred")], &[&t("sq")], vec![]),
        reduce(&t("sq"), &t("var")),
        Node::new("Add", &[&t("var"), &t("eps")], &[&t("var_eps")], vec![]),
        Node::new("Sqrt", &[&t("var_eps")], &[&t("std")], vec![]),
        Node::new("Reciprocal", &[&t("std")], &[&t("inv_std")], vec![]),
        Node::new(
            "Mul",
            &[&t("centred"), &t("inv_std")],
            &[&t("x_hat")],
            vec![],
        ),
        Node::new(
            "Reshape",
            &[scale, &t("channel_shape")],
            &[&t("scale")],
            vec![],
        ),
        Node::new(
            "Reshape",
            &[bias, &t("channel_shape")],
            &[&t("bias")],
            vec![],
        ),
        Node::new("Mul", &[&t("x_hat"), &t("scale")], &[&t("scaled")], vec![]),
        Node::new("Add", &[&t("scaled"), &t("bias")], &[y], vec![]),
    ];
    forward.nodes.extend(nodes);
    for name in ["mean", "var", "var_eps", "std", "inv_std"] {
        forward.shapes.insert(t(name), stat_shape.clone());
    }
    for name in ["centred", "sq", "x_hat", "scaled"] {
        forward.shapes.insert(t(name), shape.clone());
    }
    for name in ["scale", "bias"] {
        forward.shapes.insert(t(name), per_channel.clone());
    }
    forward.shapes.insert(t("eps"), Vec::new());
    // Running statistics: the batch variance is made unbiased with n / (n - 1), where
    // n = size(x) / channels values were averaged per channel.
    let stats = [
        Node::new(
            "Reshape",
            &[&t("mean"), &t("vector_shape")],
            &[&t("batch_mean")],
            vec![],
        ),
        Node::new(
            "Reshape",
            &[&t("var"), &t("vector_shape")],
            &[&t("batch_var")],
            vec![],
        ),
        Node::new("Size", &[x], &[&t("size")], vec![]),
        Node::new(
            "Cast",
            &[&t("size")],
            &[&t("size_f")],
            vec![("to", Attr::Int(1))],
        ),
        Node::new("Div", &[&t("size_f"), &t("channels")], &[&t("n")], vec![]),
        Node::new("Sub", &[&t("n"), &t("one")], &[&t("n_minus_1")], vec![]),
        Node::new("Div", &[&t("n"), &t("n_minus_1")], &[&t("bessel")], vec![]),
        Node::new(
            "Mul",
            &[&t("batch_var"), &t("bessel")],
            &[&t("unbiased")],
            vec![],
        ),
        Node::new("Mul", &[mean, &t("momentum")], &[&t("kept_mean")], vec![]),
        Node::new(
            "Mul",
            &[&t("batch_mean"), &t("update")],
            &[&t("new_mean")],
            vec![],
        ),
        Node::new(
            "Add",
            &[&t("kept_mean"), &t("new_mean")],
            &[&t("running_mean")],
            vec![],
        ),
        Node::new("Mul", &[var, &t("momentum")], &[&t("kept_var")], vec![]),
        Node::new(
            "Mul",
            &[&t("unbiased"), &t("update")],
            &[&t("new_var")],
            vec![],
        ),
        Node::new(
            "Add",
            &[&t("kept_var"), &t("new_var")],
            &[&t("running_var")],
            vec![],
        ),
    ];
    forward.statistics_nodes.extend(stats);
    forward.statistics.push(RunningStatistic {
        name: mean.to_string(),
        updated: t("running_mean"),
    });
    forward.statistics.push(RunningStatistic {
        name: var.to_string(),
        updated: t("running_var"),
    });
    Ok(())
}
