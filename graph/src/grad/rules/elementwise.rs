//! Broadcasting arithmetic: Add, Sub, Mul, Div (normalisation constants, biases, scales).

use super::broadcast::unbroadcast;
use super::{only, Ctx, Grads};
use crate::onnx::Node;

/// The gradient `local` of one operand, summed to its shape, if that operand needs one.
fn operand(
    ctx: &mut Ctx,
    node: &Node,
    i: usize,
    local: impl FnOnce(&mut Ctx) -> String,
) -> Result<Option<String>, String> {
    let x = &node.inputs[i];
    if !ctx.needs(x) {
        return Ok(None);
    }
    let g = local(ctx);
    unbroadcast(ctx, &g, &node.outputs[0], x).map(Some)
}

/// `da = g`, `db = g`.
pub(super) fn add(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    Ok(vec![
        operand(ctx, node, 0, |_| g.clone())?,
        operand(ctx, node, 1, |_| g.clone())?,
    ])
}

/// `da = g`, `db = -g`.
pub(super) fn sub(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    Ok(vec![
        operand(ctx, node, 0, |_| g.clone())?,
        operand(ctx, node, 1, |ctx| ctx.emit("Neg", &[&g], vec![]))?,
    ])
}

/// `da = g * b`, `db = g * a`.
pub(super) fn mul(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let (a, b) = (node.inputs[0].clone(), node.inputs[1].clone());
    Ok(vec![
        operand(ctx, node, 0, |ctx| ctx.emit("Mul", &[&g, &b], vec![]))?,
        operand(ctx, node, 1, |ctx| ctx.emit("Mul", &[&g, &a], vec![]))?,
    ])
}

/// `da = g / b`, `db = -g * a / b^2 = -(g / b) * y` with `y = a / b`.
pub(super) fn div(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let (b, y) = (node.inputs[1].clone(), node.outputs[0].clone());
    let g_over_b = ctx.emit("Div", &[&g, &b], vec![]);
    Ok(vec![
        operand(ctx, node, 0, |_| g_over_b.clone())?,
        operand(ctx, node, 1, |ctx| {
            let scaled = ctx.emit("Mul", &[&g_over_b, &y], vec![]);
            ctx.emit("Neg", &[&scaled], vec![])
        })?,
    ])
}
