//! Checks of node attributes and constant node inputs made before tract sees a graph.
//!
//! tract trusts its input: a Conv whose pads are 2^63 - 1, a GatherND whose indices are a
//! float scalar or a ConstantOfShape asking for 2^40 elements make its shape analysis or
//! its kernels loop for ever or allocate without bound. Every graph is held to these limits
//! when it is opened (see docs/models.md, "Loading models safely"); the sizes that only tract's
//! analysis knows are bounded afterwards by `probe_analysis`.

use std::collections::HashMap;

use tract_onnx::pb::{tensor_proto::DataType, GraphProto, NodeProto, TensorProto};

use super::ir::{element_size, node_from_proto, tensor_from_proto, Attr, Node, Values};

/// The most elements any one tensor of a model may have (2^28, 1 GiB of f32), declared or
/// inferred at the probe batch.
pub(super) const MAX_TENSOR_ELEMENTS: u64 = 1 << 28;

/// The largest value of a window attribute (pads, strides, dilations, kernel_shape,
/// output_padding, group) and of a Resize scale: 2^16, far beyond any image model.
pub(super) const MAX_WINDOW: i64 = 1 << 16;

/// Ops with convolution- or pooling-style window attributes.
pub(super) const WINDOW_OPS: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "ConvInteger",
    "QLinearConv",
    "MaxPool",
    "AveragePool",
    "LpPool",
    "MaxUnpool",
];

/// Ops that index their data with an integer tensor, and which input holds the indices.
const INDEXING_OPS: &[(&str, usize)] = &[
    ("Gather", 1),
    ("GatherElements", 1),
    ("GatherND", 1),
    ("Scatter", 1),
    ("ScatterElements", 1),
    ("ScatterND", 1),
];

/// Checks every node of `graph`; the error names the node and what is wrong.
pub(super) fn check_nodes(graph: &GraphProto) -> Result<(), String> {
    let mut constants: HashMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    for proto in &graph.node {
        let at = || format!("node '{}' ({})", proto.name, proto.op_type);
        if proto.op_type == "Constant" {
            check_constant_node(proto).map_err(|e| format!("{}: {e}", at()))?;
            if let (Some(value), Some(out)) = (
                proto.attribute.iter().find_map(|a| a.t.as_ref()),
                proto.output.first(),
            ) {
                constants.insert(out.as_str(), value);
            }
        }
        if !checked(&proto.op_type) {
            continue;
        }
        let node = node_from_proto(proto)?;
        let constant = |i: usize| node.input(i).and_then(|n| constants.get(n).copied());
        check_node(&node, &constant).map_err(|e| format!("{}: {e}", at()))?;
    }
    Ok(())
}

/// Whether `check_node` has anything to check on an op.
fn checked(op: &str) -> bool {
    WINDOW_OPS.contains(&op)
        || INDEXING_OPS.iter().any(|(name, _)| *name == op)
        || matches!(
            op,
            "ConstantOfShape" | "Expand" | "Tile" | "Reshape" | "Resize" | "Upsample"
        )
}

fn check_node<'a>(
    node: &Node,
    constant: &dyn Fn(usize) -> Option<&'a TensorProto>,
) -> Result<(), String> {
    let op = node.op.as_str();
    if WINDOW_OPS.contains(&op) {
        check_window(node)?;
    }
    if let Some(&(_, i)) = INDEXING_OPS.iter().find(|(name, _)| *name == op) {
        if let Some(indices) = constant(i) {
            check_index_type(indices, op)?;
        }
        if node.int("batch_dims", 0) < 0 {
            return Err("batch_dims is negative".into());
        }
    }
    let target = |i: usize, what: &str, min: i64| match constant(i) {
        Some(t) => check_target(t, what, min),
        None => Ok(()),
    };
    match op {
        "ConstantOfShape" => target(0, "shape", 0),
        "Expand" => target(1, "shape", 0),
        "Tile" => target(1, "repeats", 0),
        "Reshape" => target(1, "shape", -1),
        "Resize" => {
            target(3, "sizes", 0)?;
            constant(2).map_or(Ok(()), check_scales)
        }
        "Upsample" => constant(1).map_or(Ok(()), check_scales),
        _ => Ok(()),
    }
}

/// A `Constant` node's value: bytes that match its dims, and a bounded size.
fn check_constant_node(node: &NodeProto) -> Result<(), String> {
    for attr in &node.attribute {
        if let Some(t) = &attr.t {
            check_tensor_bytes(t)?;
            check_elements(&t.dims, "value")?;
        }
    }
    Ok(())
}

fn check_window(node: &Node) -> Result<(), String> {
    let list = |name: &str, min: i64| -> Result<Option<usize>, String> {
        match node.attr(name) {
            None => Ok(None),
            Some(Attr::Ints(v)) => {
                if let Some(bad) = v.iter().find(|&&x| x < min || x > MAX_WINDOW) {
                    return Err(format!(
                        "{name} value {bad} is outside {min}..={MAX_WINDOW}"
                    ));
                }
                Ok(Some(v.len()))
            }
            Some(_) => Err(format!("{name} is not a list of integers")),
        }
    };
    let kernel = list("kernel_shape", 1)?;
    let strides = list("strides", 1)?;
    let dilations = list("dilations", 1)?;
    let pads = list("pads", 0)?;
    let output_padding = list("output_padding", 0)?;
    list("output_shape", 0)?;
    let group = node.int("group", 1);
    if !(1..=MAX_WINDOW).contains(&group) {
        return Err(format!("group {group} is outside 1..={MAX_WINDOW}"));
    }
    if pads.is_some_and(|n| n % 2 != 0) {
        return Err("pads has an odd number of values (begins and ends per axis)".into());
    }
    let spatial = [
        kernel,
        strides,
        dilations,
        pads.map(|n| n / 2),
        output_padding,
    ];
    let mut known = spatial.iter().flatten();
    if let Some(first) = known.next() {
        if known.any(|n| n != first) {
            return Err(
                "kernel_shape, strides, dilations, pads and output_padding disagree on the number of spatial axes"
                    .into(),
            );
        }
    }
    let auto_pad = node.string("auto_pad").unwrap_or("NOTSET");
    if !matches!(auto_pad, "NOTSET" | "SAME_UPPER" | "SAME_LOWER" | "VALID") {
        return Err(format!(
            "auto_pad '{}' is not one of notset, same_upper, same_lower, valid",
            auto_pad.escape_debug()
        ));
    }
    // All-zero pads beside auto_pad ask for nothing the auto_pad does not decide (some
    // exporters write them with VALID); any other pads conflict with it.
    let padded = node.ints("pads").is_some_and(|p| p.iter().any(|&x| x != 0));
    if auto_pad != "NOTSET" && padded {
        return Err(format!(
            "auto_pad={auto_pad} and explicit pads conflict (the onnx spec allows pads only with auto_pad=NOTSET)"
        ));
    }
    Ok(())
}

fn check_index_type(indices: &TensorProto, op: &str) -> Result<(), String> {
    let int = [DataType::Int64 as i32, DataType::Int32 as i32];
    if !int.contains(&indices.data_type) {
        return Err(format!(
            "its indices '{}' are of type {}, not int64 or int32",
            indices.name,
            type_name(indices.data_type)
        ));
    }
    if matches!(op, "GatherND" | "ScatterND") && indices.dims.is_empty() {
        return Err(format!(
            "its indices '{}' are a scalar; {op} needs indices of rank 1 or more",
            indices.name
        ));
    }
    Ok(())
}

/// A constant shape, size or repeat count: values of at least `min` and a bounded product.
fn check_target(t: &TensorProto, what: &str, min: i64) -> Result<(), String> {
    let values = match tensor_from_proto(t)?.values {
        Values::I64(v) => v,
        Values::F32(_) => return Err(format!("its {what} '{}' is not an integer tensor", t.name)),
    };
    if let Some(bad) = values.iter().find(|&&v| v < min) {
        return Err(format!("its {what} holds {bad}, less than {min}"));
    }
    let positive: Vec<i64> = values.into_iter().filter(|&v| v > 0).collect();
    check_elements(&positive, what)
}

fn check_scales(t: &TensorProto) -> Result<(), String> {
    let values = match tensor_from_proto(t)?.values {
        Values::F32(v) => v,
        Values::I64(_) => return Err(format!("its scales '{}' are not floats", t.name)),
    };
    match values
        .iter()
        .find(|s| !(s.is_finite() && **s > 0.0 && **s <= MAX_WINDOW as f32))
    {
        Some(bad) => Err(format!("its scale {bad} is outside (0, {MAX_WINDOW}]")),
        None => Ok(()),
    }
}

/// Refuses dims whose product exceeds [`MAX_TENSOR_ELEMENTS`].
pub(super) fn check_elements(dims: &[i64], what: &str) -> Result<(), String> {
    match element_count(dims) {
        Some(n) if n <= MAX_TENSOR_ELEMENTS => Ok(()),
        _ => Err(format!(
            "its {what} {dims:?} asks for more than {MAX_TENSOR_ELEMENTS} elements"
        )),
    }
}

fn type_name(data_type: i32) -> String {
    DataType::try_from(data_type)
        .map(|t| t.as_str_name().to_lowercase())
        .unwrap_or_else(|_| format!("#{data_type}"))
}

/// The number of elements a tensor's dims call for.
pub fn element_count(dims: &[i64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| {
        u64::try_from(d).ok().and_then(|d| acc.checked_mul(d))
    })
}

pub(super) fn check_tensor_bytes(tensor: &TensorProto) -> Result<(), String> {
    let name = &tensor.name;
    let count = element_count(&tensor.dims)
        .ok_or_else(|| format!("initializer '{name}' has invalid dims {:?}", tensor.dims))?;
    if tensor.data_type == DataType::String as i32 {
        return Ok(());
    }
    let size = element_size(tensor.data_type).ok_or_else(|| {
        let type_name = DataType::try_from(tensor.data_type)
            .map(|t| t.as_str_name().to_lowercase())
            .unwrap_or_else(|_| format!("#{}", tensor.data_type));
        format!("initializer '{name}' has unsupported data type {type_name}")
    })?;
    let stored = if !tensor.raw_data.is_empty() {
        tensor.raw_data.len() as u64 / size as u64
    } else {
        (tensor.float_data.len()
            + tensor.int32_data.len()
            + tensor.int64_data.len()
            + tensor.double_data.len()
            + tensor.uint64_data.len()) as u64
    };
    let raw_misaligned = !tensor.raw_data.is_empty() && tensor.raw_data.len() % size != 0;
    if stored != count || raw_misaligned {
        return Err(format!(
            "initializer '{name}' holds {stored} values but its dims {:?} call for {count}",
            tensor.dims
        ));
    }
    Ok(())
}
