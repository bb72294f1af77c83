//! What `robustaudit inspect` prints: inputs, outputs, op counts, parameters, FLOPs per
//! image, metadata, and which tensor holds the logits.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use tract_onnx::pb::{GraphProto, NodeProto};

use super::TractPlan;
use robustaudit_graph::onnx::tract::concrete_facts;
use robustaudit_graph::onnx::{
    describe_type, element_count, is_float, Layout, OnnxError, OnnxModel, Signature,
};
use robustaudit_graph::printable::printable as p;

/// A graph input or output with its declared type and shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name.
    pub name: String,
    /// Its type and shape as text, e.g. `float[batch, 1, 28, 28]`.
    pub shape: String,
}

/// A summary of a classifier model.
#[derive(Clone, Debug)]
pub struct ModelSummary {
    /// The file it describes.
    pub path: String,
    /// The program that wrote it.
    pub producer: String,
    /// The default-domain opset.
    pub opset: i64,
    /// Graph inputs that are not initializers.
    pub inputs: Vec<TensorInfo>,
    /// Graph outputs.
    pub outputs: Vec<TensorInfo>,
    /// Node count per operator type.
    pub op_counts: BTreeMap<String, usize>,
    /// Elements of all floating-point initializers (weights, biases, normalisation stats).
    pub parameters: u64,
    /// Floating-point operations for one image: 2 per multiply-add of Conv, ConvTranspose,
    /// Gemm and MatMul nodes; element-wise work is not counted.
    pub flops_per_image: u64,
    /// The `metadata_props` pairs.
    pub metadata: Vec<(String, String)>,
    /// The image input and logits.
    pub signature: Signature,
    /// Logits per sample.
    pub classes: usize,
}

impl ModelSummary {
    /// Summarises `model`; tract infers the shapes of every tensor for a batch of one.
    pub fn of(model: &OnnxModel) -> Result<Self, OnnxError> {
        let graph = model.graph();
        let signature = model.signature()?;
        let shapes =
            concrete_facts(model, &signature, signature.input.fixed_batch.unwrap_or(1))?.shapes;
        let batch = signature.input.fixed_batch.unwrap_or(1) as u64;
        let flops: u64 = graph.node.iter().map(|n| node_flops(n, &shapes)).sum();
        // The plan's class count is the one audits use (a trailing Squeeze can drop the
        // batch axis at batch 1 but not at the symbolic batch).
        let classes = TractPlan::new(model)?.classes();
        let initializers: std::collections::HashSet<&str> =
            graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let mut op_counts = BTreeMap::new();
        for node in &graph.node {
            *op_counts.entry(node.op_type.clone()).or_insert(0) += 1;
        }
        Ok(ModelSummary {
            path: model.path().display().to_string(),
            producer: model.producer(),
            opset: model.opset(),
            inputs: graph
                .input
                .iter()
                .filter(|i| !initializers.contains(i.name.as_str()))
                .map(|i| TensorInfo {
                    name: i.name.clone(),
                    shape: describe_type(i),
                })
                .collect(),
            outputs: graph
                .output
                .iter()
                .map(|o| TensorInfo {
                    name: o.name.clone(),
                    shape: describe_type(o),
                })
                .collect(),
            op_counts,
            parameters: parameter_count(graph),
            flops_per_image: flops / batch,
            metadata: model.metadata(),
            signature,
            classes,
        })
    }
}

fn parameter_count(graph: &GraphProto) -> u64 {
    graph
        .initializer
        .iter()
        .filter(|t| is_float(t.data_type))
        .filter_map(|t| element_count(&t.dims))
        .sum()
}

fn node_flops(node: &NodeProto, shapes: &HashMap<String, Vec<usize>>) -> u64 {
    let shape = |i: usize, of: &[String]| of.get(i).and_then(|n| shapes.get(n));
    let numel = |s: &Vec<usize>| s.iter().product::<usize>() as u64;
    match node.op_type.as_str() {
        // out[n, co, ...] each sums over ci/group * kernel taps of W[co, ci/group, k...].
        "Conv" => match (shape(0, &node.output), shape(1, &node.input)) {
            (Some(out), Some(w)) => 2 * numel(out) * (numel(w) / w[0].max(1) as u64),
            _ => 0,
        },
        // every input element scatters into cout/group * kernel taps of W[ci, co/group, k...].
        "ConvTranspose" => match (shape(0, &node.input), shape(1, &node.input)) {
            (Some(x), Some(w)) => 2 * numel(x) * (numel(w) / w[0].max(1) as u64),
            _ => 0,
        },
        "Gemm" => match (shape(0, &node.output), shape(0, &node.input)) {
            (Some(out), Some(a)) if !out.is_empty() => {
                let m = out[0].max(1) as u64;
                2 * numel(out) * (numel(a) / m)
            }
            _ => 0,
        },
        "MatMul" => match (shape(0, &node.output), shape(0, &node.input)) {
            (Some(out), Some(a)) => 2 * numel(out) * a.last().copied().unwrap_or(0) as u64,
            _ => 0,
        },
        _ => 0,
    }
}

/// Every text in the summary comes from the model (or its path): escaped for the terminal.
impl fmt::Display for ModelSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sig = &self.signature;
        writeln!(f, "model       {}", p(&self.path))?;
        if !self.producer.is_empty() {
            writeln!(f, "producer    {}", p(&self.producer))?;
        }
        writeln!(f, "opset       {}", self.opset)?;
        for (label, list) in [("input", &self.inputs), ("output", &self.outputs)] {
            for t in list {
                writeln!(f, "{label:<12}{}: {}", p(&t.name), p(&t.shape))?;
            }
        }
        writeln!(
            f,
            "image       {}x{}x{} (channels x height x width), layout {}",
            sig.input.channels,
            sig.input.height,
            sig.input.width,
            match sig.input.layout {
                Layout::Nchw => "nchw",
                Layout::Nhwc => "nhwc",
            }
        )?;
        match &sig.bypassed {
            Some(op) => writeln!(
                f,
                "logits      {} ({} classes; trailing {} to '{}' bypassed)",
                p(&sig.logits),
                self.classes,
                p(op),
                p(&sig.output)
            )?,
            None => writeln!(
                f,
                "logits      {} ({} classes)",
                p(&sig.logits),
                self.classes
            )?,
        }
        writeln!(f, "parameters  {}", self.parameters)?;
        writeln!(
            f,
            "flops       {} per image ({:.2} M)",
            self.flops_per_image,
            self.flops_per_image as f64 / 1e6
        )?;
        let ops: Vec<String> = self
            .op_counts
            .iter()
            .map(|(op, n)| format!("{} {n}", p(op)))
            .collect();
        writeln!(
            f,
            "ops         {} nodes: {}",
            self.op_counts.values().sum::<usize>(),
            ops.join(", ")
        )?;
        if self.metadata.is_empty() {
            writeln!(f, "metadata    (none)")?;
        }
        for (i, (k, v)) in self.metadata.iter().enumerate() {
            let label = if i == 0 { "metadata" } else { "" };
            writeln!(f, "{label:<12}{} = {}", p(k), p(v))?;
        }
        Ok(())
    }
}
