//! Ops that repeat their input to a larger shape: Expand (numpy broadcasting to a target
//! shape) and Tile (whole copies along each axis). Both gradients sum the upstream gradient
//! over the copies.

use super::broadcast::unbroadcast;
use super::select::const_param;
use super::{only, Ctx, Grads};
use crate::onnx::{Attr, Dim, Node};

/// `dx = g` summed over the broadcast axes (ReduceSum, then Reshape to x's shape); the
/// target shape gets no gradient. The shape may be a constant or computed from shapes: the
/// output's shape comes from the graph analysis either way.
pub(super) fn expand(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    if ctx.needs(&node.inputs[1]) {
        return Err("an expand shape computed from the input's values is not supported".into());
    }
    let dx = unbroadcast(ctx, g, &node.outputs[0], &node.inputs[0])?;
    Ok(vec![Some(dx), None])
}

/// `Tile(x, repeats)`: output axis `i` holds `repeats[i]` copies of x's axis `i`, so its
/// index is `copy * d_i + j`. `dx` reshapes `g` to `[r_0, d_0, r_1, d_1, ...]` and sums over
/// the `r` axes. The repeats must be constant; one axis of x may depend on the batch size.
pub(super) fn tile(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let x = &node.inputs[0];
    let repeats = const_param(ctx, node, 1, "repeats")?.ok_or("a tile without repeats")?;
    let shape = ctx.shape(x)?;
    if repeats.len() != shape.len() {
        return Err(format!(
            "{} repeats for a rank-{} input",
            repeats.len(),
            shape.len()
        ));
    }
    if repeats.iter().any(|&r| r < 1) {
        return Err(format!("repeats {repeats:?} must be at least 1"));
    }
    if repeats.iter().all(|&r| r == 1) {
        return Ok(vec![Some(g.to_string()), None]);
    }
    if shape.iter().filter(|d| !matches!(d, Dim::Fixed(_))).count() > 1 {
        return Err(format!(
            "tiling '{x}', whose shape depends on the batch size in more than one axis"
        ));
    }
    let mut split = Vec::with_capacity(2 * shape.len());
    for (d, &r) in shape.iter().zip(&repeats) {
        split.push(r);
        // The one axis that follows the batch size is inferred by Reshape.
        split.push(d.fixed().map_or(-1, |d| d as i64));
    }
    let split = ctx.ints(&split);
    let copies = ctx.emit("Reshape", &[g, &split], vec![]);
    let axes: Vec<i64> = (0..shape.len() as i64).map(|i| 2 * i).collect();
    let axes = ctx.ints(&axes);
    Ok(vec![
        Some(ctx.emit(
            "ReduceSum",
            &[&copies, &axes],
            vec![("keepdims", Attr::Int(0))],
        )),
        None,
    ])
}
