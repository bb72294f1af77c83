//! Pad in its constant, reflect and edge modes (wrap, opset 19, is refused: tract 0.23.9 does
//! not run it), pads as an input (opset 11+, with optional `axes` from 18) or attribute
//! (before 11, made an input by the opset normalisation); negative pads crop. Each output
//! position along a padded axis copies one input position (or the constant), and the copies
//! of different axes are independent, so the gradient is a 0/1 map along each padded axis:
//! constant padding slices the gradient, reflect and edge also fold the border gradients back
//! onto the rows they copied.

use super::axis_map::scatter_along;
use super::select::{axis_size, const_param, positive_axis};
use super::{only, Ctx, Grads};
use crate::onnx::Node;

/// The input position that padded position `p` (counted from the input's first element, so
/// negative before it) copies along an axis of `size`, or `None` for the constant.
fn source(mode: &str, p: i64, size: i64) -> Option<usize> {
    let p = match mode {
        _ if (0..size).contains(&p) => p,
        "constant" => return None,
        "edge" => p.clamp(0, size - 1),
        // reflect: mirror about the first and last elements (not repeating them).
        _ if size == 1 => 0,
        _ => {
            let period = 2 * (size - 1);
            let q = p.rem_euclid(period);
            if q < size {
                q
            } else {
                period - q
            }
        }
    };
    usize::try_from(p).ok()
}

/// `dx`: `g` mapped back along every padded axis; the pads, constant value and axes get
/// none (a constant value computed from the input is refused). Negative pads crop by the
/// same mapping, though tract 0.23.9 cannot run them (its Pad holds pads unsigned).
pub(super) fn pad(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let mut g = only(out)?.to_string();
    let x = node.inputs[0].clone();
    let rank = ctx.rank(&x)?;
    let mode = node.string("mode").unwrap_or("constant").to_string();
    if !["constant", "reflect", "edge"].contains(&mode.as_str()) {
        return Err(format!("pad mode '{mode}' is not supported"));
    }
    if let Some(value) = node.inputs.get(2).filter(|v| !v.is_empty()) {
        if ctx.needs(value) {
            return Err(format!(
                "the pad value '{value}' depends on the input: not supported"
            ));
        }
    }
    let pads = const_param(ctx, node, 1, "pads")?.ok_or("a pad without pads")?;
    let axes = const_param(ctx, node, 3, "axes")?.unwrap_or_else(|| (0..rank as i64).collect());
    if pads.len() != 2 * axes.len() {
        return Err(format!(
            "{} pads for {} padded axes",
            pads.len(),
            axes.len()
        ));
    }
    for (k, &axis) in axes.iter().enumerate() {
        let axis = positive_axis(axis, rank)?;
        let (begin, end) = (pads[k], pads[k + axes.len()]);
        if begin == 0 && end == 0 {
            continue;
        }
        let size = axis_size(ctx, &x, axis)?;
        let d = size as i64;
        let length = d + begin + end;
        if length < 0 {
            return Err(format!(
                "pads {begin} and {end} crop more than the {size} elements of axis {axis}"
            ));
        }
        let sources: Vec<Option<usize>> =
            (0..length).map(|o| source(&mode, o - begin, d)).collect();
        g = scatter_along(ctx, &g, axis, rank, &sources, size);
    }
    Ok(vec![Some(g), None, None, None])
}
