//! Piecewise-linear functions of one tensor and their kinks: Clip (ReLU6), HardSigmoid,
//! HardSwish, Abs. At a kink each rule takes the subgradient named in its docs.

use super::{only, Ctx, Grads};
use crate::onnx::Node;

/// `dx = g` where `min < x < max`, else 0: strict at both bounds, like Relu at 0 (and
/// PyTorch's hardtanh, which exports ReLU6 as this op). Bounds are inputs (the attributes of
/// opset 6-10 are made inputs before the reverse pass); an absent bound does not clip.
/// Bounds get no gradient.
pub(super) fn clip(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let x = &node.inputs[0];
    let mut bounds = Vec::new();
    for (i, op) in [(1, "Greater"), (2, "Less")] {
        if let Some(bound) = node.inputs.get(i).filter(|b| !b.is_empty()) {
            if ctx.needs(bound) {
                return Err(format!("the clip bound '{bound}' depends on the input"));
            }
            bounds.push(ctx.emit(op, &[x, bound], vec![]));
        }
    }
    let mask = match bounds.as_slice() {
        [] => return Ok(vec![Some(g.to_string()), None, None]),
        [one] => one.clone(),
        [above, below] => ctx.emit("And", &[above, below], vec![]),
        _ => unreachable!("at most two bounds"),
    };
    let zero = ctx.scalar(0.0);
    Ok(vec![
        Some(ctx.emit("Where", &[&mask, g, &zero], vec![])),
        None,
        None,
    ])
}

/// `y = max(0, min(1, alpha x + beta))`: `dx = alpha g` where `0 < alpha x + beta < 1`
/// (strictly), else 0.
pub(super) fn hard_sigmoid(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let x = &node.inputs[0];
    let alpha = ctx.scalar(node.float("alpha", 0.2));
    let beta = ctx.scalar(node.float("beta", 0.5));
    let scaled = ctx.emit("Mul", &[x, &alpha], vec![]);
    let t = ctx.emit("Add", &[&scaled, &beta], vec![]);
    let (zero, one) = (ctx.scalar(0.0), ctx.scalar(1.0));
    let above = ctx.emit("Greater", &[&t, &zero], vec![]);
    let below = ctx.emit("Less", &[&t, &one], vec![]);
    let inside = ctx.emit("And", &[&above, &below], vec![]);
    let slope = ctx.emit("Mul", &[g, &alpha], vec![]);
    Ok(vec![Some(ctx.emit(
        "Where",
        &[&inside, &slope, &zero],
        vec![],
    ))])
}

/// `y = x * max(0, min(1, x / 6 + 1/2))`: `dx = 0` for `x <= -3`, `g` for `x >= 3`, and
/// `g (x / 3 + 1/2)` strictly between (the middle piece's slope at both kinks).
pub(super) fn hard_swish(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let x = &node.inputs[0];
    let (zero, three, minus_three) = (ctx.scalar(0.0), ctx.scalar(3.0), ctx.scalar(-3.0));
    let (third, half) = (ctx.scalar(1.0 / 3.0), ctx.scalar(0.5));
    let scaled = ctx.emit("Mul", &[x, &third], vec![]);
    let slope = ctx.emit("Add", &[&scaled, &half], vec![]);
    let middle = ctx.emit("Mul", &[g, &slope], vec![]);
    let above = ctx.emit("Greater", &[x, &minus_three], vec![]);
    let lower = ctx.emit("Where", &[&above, &middle, &zero], vec![]);
    let top = ctx.emit("Less", &[x, &three], vec![]);
    Ok(vec![Some(ctx.emit("Where", &[&top, &lower, g], vec![]))])
}

/// `dx = g sign(x)`: the subgradient 0 at `x = 0`.
pub(super) fn abs(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let sign = ctx.emit("Sign", &[&node.inputs[0]], vec![]);
    Ok(vec![Some(ctx.emit("Mul", &[g, &sign], vec![]))])
}
