//! BatchNormalization in inference mode: `y = scale * (x - mean) / sqrt(var + eps) + bias`
//! per channel (axis 1).

use super::{only, Ctx, Grads};
use crate::onnx::Node;

/// `dx = g * scale / sqrt(var + eps)`, broadcast over axis 1. Gradients of the scale and
/// bias: `sum(g * x_hat)` and `sum(g)` over every axis but 1.
pub(super) fn batch_norm(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let x = node.inputs[0].clone();
    let (scale, bias, mean, var) = (
        node.inputs[1].clone(),
        node.inputs[2].clone(),
        node.inputs[3].clone(),
        node.inputs[4].clone(),
    );
    let rank = ctx.rank(&x)?;
    if rank < 2 {
        return Err("batch normalization of a rank-1 tensor is not supported".into());
    }
    // Per-channel vectors reshaped to [C, 1, ...] to broadcast against [N, C, ...].
    let channel_shape: Vec<i64> = std::iter::once(-1)
        .chain(std::iter::repeat_n(1, rank - 2))
        .collect();
    let channel_shape = ctx.ints(&channel_shape);
    let per_channel = |ctx: &mut Ctx, v: &str| ctx.emit("Reshape", &[v, &channel_shape], vec![]);
    let eps = ctx.scalar(node.float("epsilon", 1e-5));
    let var_eps = ctx.emit("Add", &[&var, &eps], vec![]);
    let std = ctx.emit("Sqrt", &[&var_eps], vec![]);
    let inv_std = ctx.emit("Reciprocal", &[&std], vec![]);
    let reduce_axes: Vec<i64> = std::iter::once(0).chain(2..rank as i64).collect();
    let dx = if ctx.needs(&x) {
        let factor = ctx.emit("Mul", &[&scale, &inv_std], vec![]);
        let factor = per_channel(ctx, &factor);
        Some(ctx.emit("Mul", &[&g, &factor], vec![]))
    } else {
        None
    };
    let dscale = if ctx.needs(&scale) {
        let centred = {
            let m = per_channel(ctx, &mean);
            ctx.emit("Sub", &[&x, &m], vec![])
        };
        let s = per_channel(ctx, &inv_std);
        let x_hat = ctx.emit("Mul", &[&centred, &s], vec![]);
        let prod = ctx.emit("Mul", &[&g, &x_hat], vec![]);
        let axes = ctx.ints(&reduce_axes);
        Some(ctx.emit(
            "ReduceSum",
            &[&prod, &axes],
            vec![("keepdims", crate::onnx::Attr::Int(0))],
        ))
    } else {
        None
    };
    let dbias = if ctx.needs(&bias) {
        let axes = ctx.ints(&reduce_axes);
        Some(ctx.emit(
            "ReduceSum",
            &[&g, &axes],
            vec![("keepdims", crate::onnx::Attr::Int(0))],
        ))
    } else {
        None
    };
    Ok(vec![dx, dscale, dbias, None, None])
}
