//! QuantizeLinear and DequantizeLinear (QDQ-format int8 models) by the straight-through
//! estimator (BPDA, Athalye et al. 2018): the forward pass stays the real quantized model,
//! and the backward pass treats each quantize-dequantize pair as the identity inside the
//! quantizer's clipping range and zero outside. QOperator convolutions and matrix products
//! reach these rules as their QDQ twins (the opset normalisation rewrites them).

use super::{only, Ctx, Grads};
use crate::grad::opset::FLOAT_TWIN;
use crate::onnx::{Attr, Node};

/// Quantization steps beyond zero at which any quantizer saturates (16-bit types included)
/// while `x / scale + zero_point` stays well within i32.
const SATURATING_STEPS: f32 = 1e6;

/// `dx = g` where `(qmin - zp) * scale <= x <= (qmax - zp) * scale`, else 0, per tensor or
/// per axis. The bounds are computed in the graph by quantizing and dequantizing
/// `-/+ SATURATING_STEPS * scale` with the node's own scale, zero point and attributes, so
/// they follow its integer type and axis. With [`dequantize_linear`] passing its gradient
/// through, each pair's backward is the clipped identity. The real quantizer's derivative is
/// zero almost everywhere; the estimator replaces it by that of the rounding-free clip.
pub(super) fn quantize_linear(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    if node.int("block_size", 0) != 0 {
        return Err("blocked quantization (block_size) is not supported".into());
    }
    let x = &node.inputs[0];
    let scale = &node.inputs[1];
    let params: Vec<&str> = node.inputs[1..].iter().map(String::as_str).collect();
    let q_attrs: Vec<(&str, Attr)> = node
        .attrs
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let dq_attrs: Vec<(&str, Attr)> = q_attrs
        .iter()
        .filter(|(k, _)| *k == "axis")
        .cloned()
        .collect();
    // A per-axis scale `[c]` broadcasts against `x` once shaped `[c, 1, ..]` up to x's rank.
    let scale_values: usize = ctx.fixed_shape(scale)?.iter().product();
    let broadcast_scale = if scale_values > 1 {
        let rank = ctx.rank(x)? as i64;
        let axis = node.int("axis", 1);
        let axis = if axis < 0 { axis + rank } else { axis };
        let mut dims = vec![-1];
        dims.resize((rank - axis).max(1) as usize, 1);
        let shape = ctx.ints(&dims);
        ctx.emit("Reshape", &[scale, &shape], vec![])
    } else {
        scale.clone()
    };
    let zero = ctx.scalar(0.0);
    let zeros = ctx.emit("Mul", &[x, &zero], vec![]);
    let bound = |ctx: &mut Ctx, steps: f32| {
        let steps = ctx.scalar(steps);
        let far = ctx.emit("Mul", &[&broadcast_scale, &steps], vec![]);
        let filled = ctx.emit("Add", &[&zeros, &far], vec![]);
        let mut q_inputs = vec![filled.as_str()];
        q_inputs.extend(&params);
        let saturated = ctx.emit("QuantizeLinear", &q_inputs, q_attrs.clone());
        let mut dq_inputs = vec![saturated.as_str()];
        dq_inputs.extend(&params);
        ctx.emit("DequantizeLinear", &dq_inputs, dq_attrs.clone())
    };
    let lo = bound(ctx, -SATURATING_STEPS);
    let hi = bound(ctx, SATURATING_STEPS);
    let above_lo = ctx.emit("GreaterOrEqual", &[x, &lo], vec![]);
    let below_hi = ctx.emit("LessOrEqual", &[x, &hi], vec![]);
    let inside = ctx.emit("And", &[&above_lo, &below_hi], vec![]);
    let mut grads = vec![Some(ctx.emit("Where", &[&inside, g, &zero], vec![]))];
    grads.resize(node.inputs.len(), None);
    Ok(grads)
}

/// `dq = g`: the dequantizer's `scale` cancels the straight-through quantizer's `1 / scale`
/// (see [`quantize_linear`]), so the pair passes the gradient unchanged. Weight-only
/// dequantizers read initializers and are never asked for a gradient.
pub(super) fn dequantize_linear(_: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let mut grads = vec![Some(g.to_string())];
    grads.resize(node.inputs.len(), None);
    Ok(grads)
}

/// Why a logits graph gets straight-through rather than exact gradients: `Some` when
/// gradients flow through QuantizeLinear nodes (`needs` holds the tensors that depend on the
/// image input).
pub(in crate::grad) fn straight_through_reason(
    nodes: &[Node],
    needs: &std::collections::HashSet<String>,
) -> Option<String> {
    let pairs = nodes
        .iter()
        .filter(|n| n.op == "QuantizeLinear" && needs.contains(&n.inputs[0]))
        .count();
    let mut twins = String::new();
    for (float, op) in [("Conv", "QLinearConv"), ("MatMul", "QLinearMatMul")] {
        let n = nodes
            .iter()
            .filter(|n| n.op == float && n.outputs.iter().any(|o| o.ends_with(FLOAT_TWIN)))
            .count();
        if n > 0 {
            let (its, s) = if n == 1 { ("its", "") } else { ("their", "s") };
            twins.push_str(&format!(
                "{n} {op} as {its} dequantized float twin{s} (DequantizeLinear, {float}, QuantizeLinear); "
            ));
        }
    }
    (pairs > 0).then(|| {
        format!(
            "{twins}{pairs} QuantizeLinear -> DequantizeLinear pair{} differentiated as the identity inside the clipping range (BPDA); attacks are verified on the quantized model",
            if pairs > 1 { "s" } else { "" }
        )
    })
}
