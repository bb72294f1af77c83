//! tract's shape analysis of an untrusted graph at a probe batch, held to limits: what
//! `node_checks` cannot see before the shapes are known.
//!
//! - A GatherND whose indices are computed is analysed only after the part of the graph
//!   that computes them has shown that they are integers of rank 1 or more (tract's own
//!   analysis of rank-0 indices underflows and allocates without bound).
//! - Every inferred tensor has at most `MAX_TENSOR_ELEMENTS` elements.
//! - Every index a Gather or Scatter op reads from a tensor whose value the analysis knows
//!   lies within the data's dims.

use std::collections::HashMap;

use tract_onnx::pb::{GraphProto, NodeProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use super::ir::{node_from_proto, ConstTensor};
use super::node_checks::{MAX_TENSOR_ELEMENTS, WINDOW_OPS};
use super::panic_guard::guard;
use super::signature::Signature;
use super::tract_facts::{image_fact, proto_with_output};
use super::tract_registry::registry;
use super::{OnnxError, OnnxModel};

/// The logits graph of `model`, analysed by tract for a batch of `batch` images, with the
/// outlet of every named tensor; refused with [`OnnxError::Invalid`] where it breaks a limit.
pub fn analyse(
    model: &OnnxModel,
    signature: &Signature,
    batch: usize,
) -> Result<(InferenceModel, HashMap<String, OutletId>), OnnxError> {
    let invalid = |reason: String| OnnxError::Invalid {
        path: model.path().to_path_buf(),
        reason,
    };
    check_before_analysis(model, signature, batch)?;
    check_computed_gathernd_indices(model, signature, batch)?;
    let (inference, outlets) = analysed(model, signature, &signature.logits, batch)?;
    check_sizes(&inference).map_err(invalid)?;
    check_index_values(model.graph(), &inference, &outlets).map_err(invalid)?;
    Ok((inference, outlets))
}

/// The graph of `model` with `output` as its only output, parsed and analysed at `batch`.
fn analysed(
    model: &OnnxModel,
    signature: &Signature,
    output: &str,
    batch: usize,
) -> Result<(InferenceModel, HashMap<String, OutletId>), OnnxError> {
    let proto = proto_with_output(model.proto(), output);
    let parsed = guard(model.path(), || registry().parse(&proto, None))?;
    if !parsed.unresolved_inputs.is_empty() {
        return Err(OnnxError::Tract {
            path: model.path().to_path_buf(),
            reason: format!("unresolved inputs {:?}", parsed.unresolved_inputs),
        });
    }
    let mut inference = parsed.model;
    let fact = image_fact(&signature.input, batch.to_dim());
    guard(model.path(), || {
        inference.set_input_fact(0, fact)?;
        inference.analyse(false)
    })?;
    Ok((inference, parsed.outlets_by_name))
}

/// Checks, before tract analyses the graph, the rank of what every Conv or pooling node
/// reads against its attributes (tract's rules compute `rank - 2` unchecked: a rank-1 input
/// underflows) and the size of what every ConstantOfShape, Expand, Tile, Range, Resize and
/// Upsample node would make from computed shapes (tract evaluates them during analysis).
///
/// Both come from one tolerant analysis of a copy of the graph in which window nodes pass
/// their input through (they keep its rank) and the nodes above, with GatherND, are opaque
/// (their outputs stay unknown): no rule that could underflow or allocate runs.
fn check_before_analysis(
    model: &OnnxModel,
    signature: &Signature,
    batch: usize,
) -> Result<(), OnnxError> {
    let graph = model.graph();
    if !graph
        .node
        .iter()
        .any(|n| is_window_op(&n.op_type) || is_opaque(&n.op_type))
    {
        return Ok(());
    }
    let mut passthrough = model.clone();
    passthrough.map_nodes(|node| {
        let source = if is_window_op(&node.op_type) {
            Some(node.input.first().cloned().unwrap_or_default())
        } else if is_opaque(&node.op_type) {
            None
        } else {
            return vec![node.clone()];
        };
        node.output
            .iter()
            .filter(|o| !o.is_empty())
            .map(|o| NodeProto {
                name: format!("{}_passthrough_{o}", node.name),
                op_type: "Identity".into(),
                // An opaque node's outputs become unknown: fed by a name nothing defines.
                input: vec![source.clone().unwrap_or_else(|| format!("{o}/unknown"))],
                output: vec![o.clone()],
                ..Default::default()
            })
            .collect()
    });
    let proto = proto_with_output(passthrough.proto(), &signature.logits);
    let Ok(parsed) = guard(model.path(), || registry().parse(&proto, None)) else {
        return Ok(());
    };
    let mut inference = parsed.model;
    let fact = image_fact(&signature.input, batch.to_dim());
    // Errors are expected (channel counts no longer match): the ranks found are enough.
    let _ = guard(model.path(), || {
        inference.set_input_fact(0, fact)?;
        inference.analyse(true)
    });
    let rank = |name: &str| -> Option<i64> {
        let outlet = parsed.outlets_by_name.get(name)?;
        inference
            .outlet_fact(*outlet)
            .ok()?
            .shape
            .rank()
            .concretize()
    };
    let value = |name: &str| -> Option<Vec<f64>> {
        let outlet = parsed.outlets_by_name.get(name)?;
        let value = inference.outlet_fact(*outlet).ok()?.value.concretize()?;
        let value = value.cast_to::<f64>().ok()?;
        Some(
            value
                .to_plain_array_view::<f64>()
                .ok()?
                .iter()
                .copied()
                .collect(),
        )
    };
    let shape = |name: &str| -> Option<Vec<f64>> {
        let outlet = parsed.outlets_by_name.get(name)?;
        let dims = inference
            .outlet_fact(*outlet)
            .ok()?
            .shape
            .as_concrete_finite()
            .ok()??;
        Some(dims.iter().map(|&d| d as f64).collect())
    };
    for proto in graph.node.iter().filter(|n| is_opaque(&n.op_type)) {
        let input = |i: usize| proto.input.get(i).filter(|n| !n.is_empty());
        let elements = match proto.op_type.as_str() {
            "ConstantOfShape" => input(0).and_then(|n| value(n)).map(|v| v.iter().product()),
            "Expand" => input(1).and_then(|n| value(n)).map(|v| v.iter().product()),
            "Tile" => input(1).and_then(|n| value(n)).map(|repeats| {
                let dims = input(0).and_then(|n| shape(n)).unwrap_or_default();
                let data: f64 = dims.iter().product();
                data.max(1.0) * repeats.iter().product::<f64>()
            }),
            "Resize" | "Upsample" => {
                let (scales, sizes) = if proto.op_type == "Upsample" {
                    (input(1), None)
                } else {
                    (input(2), input(3))
                };
                let sized = sizes.and_then(|n| value(n)).filter(|v| !v.is_empty());
                sized.map(|v| v.iter().product()).or_else(|| {
                    let scales = scales.and_then(|n| value(n)).filter(|v| !v.is_empty())?;
                    let dims = input(0).and_then(|n| shape(n))?;
                    Some(dims.iter().zip(&scales).map(|(d, s)| d * s).product())
                })
            }
            "Range" => match (
                input(0).and_then(|n| value(n)),
                input(1).and_then(|n| value(n)),
                input(2).and_then(|n| value(n)),
            ) {
                (Some(start), Some(limit), Some(delta)) => {
                    let (start, limit, delta) = (start[0], limit[0], delta[0]);
                    Some(((limit - start) / delta).ceil().max(0.0))
                }
                _ => None,
            },
            _ => None,
        };
        if let Some(n) = elements.filter(|n| n.is_nan() || n.abs() > MAX_TENSOR_ELEMENTS as f64) {
            return Err(OnnxError::Invalid {
                path: model.path().to_path_buf(),
                reason: format!(
                    "node '{}' ({}) would make a tensor of {n:e} elements, more than {MAX_TENSOR_ELEMENTS}",
                    proto.name, proto.op_type
                ),
            });
        }
    }
    for (position, proto) in graph.node.iter().enumerate() {
        if !is_window_op(&proto.op_type) {
            continue;
        }
        let Some(input) = proto.input.first() else {
            continue;
        };
        // Where the tolerant analysis lost track, the exact graph up to this node (whose
        // earlier window ops have passed) tells the rank.
        let data = match rank(input) {
            Some(r) => Some(r),
            None => prefix_rank(model, signature, position, input, batch)?,
        };
        let Some(data) = data else {
            continue;
        };
        let node = node_from_proto(proto).map_err(|reason| OnnxError::Invalid {
            path: model.path().to_path_buf(),
            reason,
        })?;
        let spatial = data - 2;
        let bad = if spatial < 1 {
            Some(format!(
                "its input '{}' has rank {data}; it needs [batch, channels, spatial axes...]",
                proto.input[0]
            ))
        } else {
            ["kernel_shape", "strides", "dilations", "output_padding"]
                .iter()
                .map(|a| (*a, node.ints(a).map(|v| v.len() as i64)))
                .chain([("pads", node.ints("pads").map(|v| v.len() as i64 / 2))])
                .find(|(_, n)| n.is_some_and(|n| n != spatial))
                .map(|(a, _)| format!("{a} does not have one value per spatial axis ({spatial})"))
                .or_else(|| {
                    let weights = proto.input.get(1).filter(|_| has_weights(&proto.op_type))?;
                    let w = rank(weights)?;
                    (w != data)
                        .then(|| format!("its weights '{weights}' have rank {w}, its input {data}"))
                })
        };
        if let Some(bad) = bad {
            return Err(OnnxError::Invalid {
                path: model.path().to_path_buf(),
                reason: format!("node '{}' ({}): {bad}", proto.name, proto.op_type),
            });
        }
    }
    Ok(())
}

/// The rank of `name` computed by the first `position` nodes of `model`, if tract finds it.
fn prefix_rank(
    model: &OnnxModel,
    signature: &Signature,
    position: usize,
    name: &str,
    batch: usize,
) -> Result<Option<i64>, OnnxError> {
    let mut prefix = model.clone();
    prefix.truncate_nodes(position);
    let Ok((inference, outlets)) = analysed(&prefix, signature, name, batch) else {
        return Ok(None);
    };
    Ok(outlets
        .get(name)
        .and_then(|o| inference.outlet_fact(*o).ok())
        .and_then(|f| f.shape.rank().concretize()))
}

/// Ops whose outputs the tolerant pre-analysis leaves unknown rather than run: GatherND
/// (its rules underflow on scalar indices) and the ops whose output size comes from a
/// runtime value (tract evaluates them eagerly during analysis, whatever the size).
fn is_opaque(op: &str) -> bool {
    matches!(
        op,
        "GatherND" | "ConstantOfShape" | "Expand" | "Tile" | "Range" | "Resize" | "Upsample"
    )
}

fn is_window_op(op: &str) -> bool {
    WINDOW_OPS.contains(&op)
}

/// Window ops whose second input is a weight tensor of the data's rank.
fn has_weights(op: &str) -> bool {
    matches!(op, "Conv" | "ConvTranspose" | "ConvInteger")
}

/// Analyses, for each GatherND whose indices no initializer holds, the graph that computes
/// those indices, and refuses indices that are not integers of rank 1 or more.
fn check_computed_gathernd_indices(
    model: &OnnxModel,
    signature: &Signature,
    batch: usize,
) -> Result<(), OnnxError> {
    let graph = model.graph();
    for (position, node) in graph.node.iter().enumerate() {
        let Some(indices) = node.input.get(1).filter(|_| node.op_type == "GatherND") else {
            continue;
        };
        if graph.initializer.iter().any(|t| &t.name == indices) {
            continue;
        }
        let mut prefix = model.clone();
        prefix.truncate_nodes(position);
        let (inference, outlets) = analysed(&prefix, signature, indices, batch)?;
        let fact = outlets
            .get(indices.as_str())
            .and_then(|o| inference.outlet_fact(*o).ok());
        let rank = fact.and_then(|f| f.shape.rank().concretize());
        let datum = fact.and_then(|f| f.datum_type.concretize());
        let bad = match (rank, datum) {
            (Some(0), _) => Some("a scalar; GatherND needs indices of rank 1 or more".into()),
            (_, Some(dt)) if !matches!(dt, DatumType::I64 | DatumType::I32) => {
                Some(format!("of type {dt:?}, not int64 or int32").to_lowercase())
            }
            _ => None,
        };
        if let Some(bad) = bad {
            return Err(OnnxError::Invalid {
                path: model.path().to_path_buf(),
                reason: format!(
                    "node '{}' (GatherND): its indices '{indices}' are {bad}",
                    node.name
                ),
            });
        }
    }
    Ok(())
}

/// Refuses any inferred tensor with a negative dim or more than `MAX_TENSOR_ELEMENTS`
/// elements.
fn check_sizes(inference: &InferenceModel) -> Result<(), String> {
    for node in inference.nodes() {
        for output in &node.outputs {
            let dims: Vec<i64> = output
                .fact
                .shape
                .dims()
                .filter_map(|d| d.concretize()?.to_i64().ok())
                .collect();
            let count = dims.iter().try_fold(1u64, |acc, &d| {
                u64::try_from(d).ok().and_then(|d| acc.checked_mul(d))
            });
            if count.is_none_or(|n| n > MAX_TENSOR_ELEMENTS) {
                return Err(format!(
                    "node '{}' makes a tensor of dims {dims:?}, more than {MAX_TENSOR_ELEMENTS} elements or negative",
                    node.name
                ));
            }
        }
    }
    Ok(())
}

/// Refuses indices, known to the analysis, that fall outside the data they index.
fn check_index_values(
    graph: &GraphProto,
    inference: &InferenceModel,
    outlets: &HashMap<String, OutletId>,
) -> Result<(), String> {
    let fact = |name: &str| {
        outlets
            .get(name)
            .and_then(|o| inference.outlet_fact(*o).ok())
    };
    for proto in &graph.node {
        let op = proto.op_type.as_str();
        let along_axis = matches!(
            op,
            "Gather" | "GatherElements" | "Scatter" | "ScatterElements"
        );
        let tuples = matches!(op, "GatherND" | "ScatterND");
        if !along_axis && !tuples {
            continue;
        }
        let (Some(data), Some(indices)) = (proto.input.first(), proto.input.get(1)) else {
            continue;
        };
        let data_shape = fact(data).and_then(|f| f.shape.as_concrete_finite().ok().flatten());
        let values = fact(indices).and_then(|f| f.value.concretize());
        let (Some(shape), Some(values)) = (data_shape, values) else {
            continue;
        };
        let Ok(values) = values.cast_to::<i64>() else {
            continue;
        };
        let Ok(view) = values.to_plain_array_view::<i64>() else {
            continue;
        };
        let node = node_from_proto(proto)?;
        let at = format!("node '{}' ({op})", proto.name);
        let rank = shape.len() as i64;
        let within = |v: i64, dim: usize| v >= -(dim as i64) && v < dim as i64;
        if along_axis {
            let axis = node.int("axis", 0);
            if axis < -rank || axis >= rank {
                return Err(format!("{at}: axis {axis} is outside a rank-{rank} tensor"));
            }
            let dim = shape[axis.rem_euclid(rank.max(1)) as usize];
            if let Some(bad) = view.iter().find(|&&v| !within(v, dim)) {
                return Err(format!(
                    "{at}: index {bad} is outside an axis of size {dim}"
                ));
            }
        } else {
            let batch_dims = if op == "GatherND" {
                node.int("batch_dims", 0)
            } else {
                0
            };
            let tuple = view.shape().last().copied().unwrap_or(0);
            if view.ndim() == 0 || batch_dims < 0 || tuple as i64 + batch_dims > rank {
                return Err(format!(
                    "{at}: indices of shape {:?} with batch_dims {batch_dims} do not fit data of rank {rank}",
                    view.shape()
                ));
            }
            let first = batch_dims as usize;
            for (i, &v) in view.iter().enumerate() {
                let dim = shape[first + i % tuple.max(1)];
                if !within(v, dim) {
                    return Err(format!("{at}: index {v} is outside an axis of size {dim}"));
                }
            }
        }
    }
    Ok(())
}

/// What tract's analysis of the logits graph resolves for a batch of `batch` images.
#[derive(Debug)]
pub struct ConcreteFacts {
    /// The concrete shape of every named tensor.
    pub shapes: HashMap<String, Vec<usize>>,
    /// The values of the small integer tensors: shape arithmetic (e.g. the end of a Slice
    /// computed from `Shape`) that is constant once the input's shape is.
    pub ints: HashMap<String, ConstTensor>,
}

/// One analysis of the logits graph at image batch size `batch`: shapes and integer values.
pub fn concrete_facts(
    model: &OnnxModel,
    signature: &Signature,
    batch: usize,
) -> Result<ConcreteFacts, OnnxError> {
    let (inference, outlets) = analyse(model, signature, batch)?;
    let mut facts = ConcreteFacts {
        shapes: HashMap::new(),
        ints: HashMap::new(),
    };
    for (name, outlet) in outlets {
        let Ok(fact) = inference.outlet_fact(outlet) else {
            continue;
        };
        if let Ok(Some(dims)) = fact.shape.as_concrete_finite() {
            facts.shapes.insert(name.clone(), dims.to_vec());
        }
        let Some(value) = fact.value.concretize() else {
            continue;
        };
        let Ok(value) = value.cast_to::<i64>() else {
            continue;
        };
        let Ok(view) = value.to_plain_array_view::<i64>() else {
            continue;
        };
        let values: Vec<i64> = view.iter().copied().collect();
        if values.len() <= 64 {
            facts
                .ints
                .insert(name, ConstTensor::i64(value.shape(), values));
        }
    }
    Ok(facts)
}
