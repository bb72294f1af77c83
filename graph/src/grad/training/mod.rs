//! One optimisation step as an ordinary ONNX graph, for ONNX Runtime to run once per batch.
//!
//! [`training_graph`] takes a classifier and returns a graph whose inputs are the batch
//! (the model's image input), the one-hot labels [`LABELS`], the soft labels
//! [`SOFT_LABELS`] (losses that use them), the temperature [`TEMPERATURE`], the learning
//! rate [`LEARNING_RATE`], every [`StateTensor`] (parameters, running statistics, optimiser
//! slots and the step counter [`STEP`]) and the dropout masks; its outputs are the mean loss
//! [`LOSS`], the count of correct predictions [`CORRECT`] and the next value of every state
//! tensor, named by [`next_name`]. Nothing about the update is computed outside the graph.
//!
//! The forward pass runs in training mode (`forward.rs`), the loss's gradient with respect to
//! the logits is written in closed form (`loss.rs`), the backward rules of the VJP carry it
//! to the parameters, and the optimiser (`optimizer.rs`) updates them.

mod emitter;
mod forward;
mod loss;
mod optimizer;

pub use forward::DropoutMask;
pub use loss::Loss;
pub use optimizer::Optimizer;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::backward::{append_backward, forward_nodes};
use super::GradError;
use crate::onnx::{ConstTensor, GraphBuilder, OnnxModel, OPSET};
use forward::training_forward;
use optimizer::{emit_update, Trainable};

/// One-hot labels `[batch, classes]`: the hard-label loss's target and what predictions
/// are counted against.
pub const LABELS: &str = "train.labels";
/// Soft labels `[batch, classes]`: a parent network's probabilities at the temperature.
pub const SOFT_LABELS: &str = "train.soft_labels";
/// The temperature `T`, a scalar.
pub const TEMPERATURE: &str = "train.temperature";
/// The base learning rate, a scalar (the optimiser decays it by the step counter).
pub const LEARNING_RATE: &str = "train.learning_rate";
/// The number of steps taken so far, a float scalar state tensor.
pub const STEP: &str = "train.step";
/// Output: the batch's mean loss.
pub const LOSS: &str = "train.loss";
/// Output: how many of the batch's predictions (before the update) match [`LABELS`].
pub const CORRECT: &str = "train.correct";

/// The output holding the next value of state tensor `name`.
pub fn next_name(name: &str) -> String {
    format!("next.{name}")
}

/// The output holding the gradient of tensor `name`, in graphs built with gradients.
pub fn gradient_name(name: &str) -> String {
    format!("grad.{name}")
}

/// What a state tensor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateRole {
    /// A trainable weight.
    Parameter,
    /// A batch normalization's running mean or variance.
    RunningStatistic,
    /// An optimiser's per-parameter slot (momentum, moments).
    OptimizerSlot,
    /// The step counter [`STEP`].
    Step,
}

/// A tensor carried from one step to the next: graph input `name`, output
/// `next_name(name)`.
#[derive(Clone, Debug, PartialEq)]
pub struct StateTensor {
    /// The input's name (for parameters and statistics, the model's initializer).
    pub name: String,
    /// Its dims (empty for a scalar).
    pub dims: Vec<usize>,
    /// What it is.
    pub role: StateRole,
    /// Its value before the first step, row-major.
    pub initial: Vec<f32>,
}

/// A training-step graph and what its caller needs to drive it.
#[derive(Clone, Debug)]
pub struct TrainingGraph {
    /// The step graph.
    pub model: OnnxModel,
    /// The image input's name.
    pub image: String,
    /// The image input's dims after the batch axis, in the model's layout.
    pub image_dims: Vec<usize>,
    /// Logits per sample.
    pub classes: usize,
    /// The loss the graph minimises.
    pub loss: Loss,
    /// The state tensors: parameters and running statistics in model order, then the
    /// optimiser's slots and the step counter.
    pub state: Vec<StateTensor>,
    /// The dropout masks to supply each step.
    pub masks: Vec<DropoutMask>,
    /// Whether the graph also outputs [`gradient_name`] of every parameter and of the image.
    pub gradients: bool,
}

impl TrainingGraph {
    /// The parameters (trainable weights), in model order.
    pub fn parameters(&self) -> impl Iterator<Item = &StateTensor> {
        self.state.iter().filter(|s| s.role == StateRole::Parameter)
    }
}

/// Builds the training-step graph of `model` for `loss` and `optimizer`. With `gradients`,
/// the graph also outputs the loss's gradient with respect to every parameter and to the
/// image (for checks). The trainable parameters are the float initializers the logits
/// depend on through differentiable ops; batch normalization's running statistics are
/// state but not trained.
pub fn training_graph(
    model: &OnnxModel,
    loss: Loss,
    optimizer: &Optimizer,
    gradients: bool,
) -> Result<TrainingGraph, GradError> {
    let path = model.path().to_path_buf();
    let mut view = model.view()?;
    let node_error = |reason: String| GradError::Node {
        path: path.clone(),
        index: 0,
        op: "training".into(),
        reason,
    };
    let forward = training_forward(&view).map_err(node_error)?;
    view.nodes = forward.nodes;
    view.shapes.extend(forward.shapes);
    let nodes = forward_nodes(&view, &path)?;
    let signature = view.signature.clone();
    let classes = logits_classes(&view, &path)?;
    let image_dims: Vec<usize> = match view.shape(&signature.input.name) {
        Some(dims) => dims.iter().skip(1).filter_map(|d| d.fixed()).collect(),
        None => signature.input.chw().to_vec(),
    };

    let mut state = Vec::new();
    let mut seen = HashSet::new();
    for node in &nodes {
        for input in &node.inputs {
            if !view.initializers.contains(input) || !seen.insert(input.clone()) {
                continue;
            }
            if let Some(tensor) = float_initializer(model, input) {
                state.push(StateTensor {
                    name: input.clone(),
                    dims: tensor.0,
                    role: StateRole::Parameter,
                    initial: tensor.1,
                });
            }
        }
    }
    for stat in &forward.statistics {
        let (dims, initial) = float_initializer(model, &stat.name).ok_or_else(|| {
            node_error(format!(
                "the running statistic '{}' is not a float initializer",
                stat.name
            ))
        })?;
        state.push(StateTensor {
            name: stat.name.clone(),
            dims,
            role: StateRole::RunningStatistic,
            initial,
        });
    }

    let mut b = GraphBuilder::from_model(model);
    b.set_opset(view.opset.max(OPSET));
    for s in &state {
        b.remove_initializer(&s.name);
    }
    for (name, tensor) in &forward.constants {
        b.constant(name, tensor);
    }
    let image = signature.input.name.clone();
    let mut image_input: Vec<Option<usize>> = vec![None];
    image_input.extend(image_dims.iter().map(|&d| Some(d)));
    b.input(&image, &image_input);
    b.input(LABELS, &[None, Some(classes)]);
    if loss.uses_soft_labels() {
        b.input(SOFT_LABELS, &[None, Some(classes)]);
    }
    b.input(TEMPERATURE, &[]);
    b.input(LEARNING_RATE, &[]);
    for mask in &forward.masks {
        let mut dims = vec![None];
        dims.extend(mask.sample_dims.iter().map(|&d| Some(d)));
        b.input(&mask.name, &dims);
    }
    for node in &nodes {
        b.add(node.clone());
    }
    for node in &forward.statistics_nodes {
        b.add(node.clone());
    }
    let seed = loss::emit_loss(&mut b, &signature.logits, loss);
    let params: Vec<&StateTensor> = state
        .iter()
        .filter(|s| s.role == StateRole::Parameter)
        .collect();
    let mut wrt: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
    if gradients {
        wrt.push(image.clone());
    }
    let grads = append_backward(
        &mut b,
        &view,
        &nodes,
        &[(signature.logits.clone(), seed)],
        &wrt,
        &path,
    )?;
    let trainables: Vec<Trainable> = params
        .iter()
        .zip(&grads)
        .map(|(p, g)| Trainable {
            name: &p.name,
            dims: &p.dims,
            grad: g,
        })
        .collect();
    let optimizer_state = emit_update(&mut b, optimizer, &trainables);
    for stat in &forward.statistics {
        b.add(crate::onnx::Node::new(
            "Identity",
            &[&stat.updated],
            &[&next_name(&stat.name)],
            vec![],
        ));
    }
    state.extend(optimizer_state);

    for s in &state {
        let dims: Vec<Option<usize>> = s.dims.iter().map(|&d| Some(d)).collect();
        b.input(&s.name, &dims);
    }
    b.output(LOSS, &[]);
    b.output(CORRECT, &[]);
    for s in &state {
        let dims: Vec<Option<usize>> = s.dims.iter().map(|&d| Some(d)).collect();
        b.output(&next_name(&s.name), &dims);
    }
    if gradients {
        for (name, g) in wrt.iter().zip(&grads) {
            let out = gradient_name(name);
            b.add(crate::onnx::Node::new("Identity", &[g], &[&out], vec![]));
            let dims: Vec<Option<usize>> = if *name == image {
                image_input.clone()
            } else {
                state
                    .iter()
                    .find(|s| &s.name == name)
                    .map(|s| s.dims.iter().map(|&d| Some(d)).collect())
                    .unwrap_or_default()
            };
            b.output(&out, &dims);
        }
    }
    b.metadata("training_loss", &format!("{loss:?}"));
    b.metadata("training_optimizer", &optimizer.describe());
    let model = b.finish(step_path(&path))?;
    Ok(TrainingGraph {
        model,
        image,
        image_dims,
        classes,
        loss,
        state,
        masks: forward.masks,
        gradients,
    })
}

/// `model` with its parameters and running statistics replaced by `values` (name, row-major
/// values): the trained inference graph.
pub fn with_state(
    model: &OnnxModel,
    values: &[(String, Vec<usize>, Vec<f32>)],
) -> Result<OnnxModel, GradError> {
    let mut trained = model.clone();
    for (name, dims, value) in values {
        trained.set_initializer(name, &ConstTensor::f32(dims, value.clone()))?;
    }
    Ok(trained)
}

fn float_initializer(model: &OnnxModel, name: &str) -> Option<(Vec<usize>, Vec<f32>)> {
    let tensor = model.initializer(name)?;
    let values = tensor.as_f32()?.to_vec();
    Some((tensor.dims, values))
}

fn logits_classes(view: &crate::onnx::GraphView, path: &Path) -> Result<usize, GradError> {
    view.shape(&view.signature.logits)
        .filter(|s| s.len() == 2)
        .and_then(|s| s[1].fixed())
        .ok_or_else(|| GradError::Node {
            path: path.to_path_buf(),
            index: view.nodes.len().saturating_sub(1),
            op: "logits".into(),
            reason: format!(
                "logits '{}' are not shaped [batch, classes]",
                view.signature.logits
            ),
        })
}

fn step_path(model: &Path) -> PathBuf {
    let mut name = model.file_stem().unwrap_or_default().to_os_string();
    name.push(".train.onnx");
    model.with_file_name(name)
}
