//! Undoing numpy-style broadcasting in the backward pass: the gradient of a broadcast operand
//! is the output gradient summed over the axes it was broadcast along.

use super::Ctx;
use crate::onnx::Dim;

/// `g`, a gradient shaped like the forward tensor `out`, summed down to the shape of
/// `operand`.
pub(super) fn unbroadcast(
    ctx: &mut Ctx,
    g: &str,
    out: &str,
    operand: &str,
) -> Result<String, String> {
    let out_shape = ctx.shape(out)?;
    unbroadcast_shaped(ctx, g, &out_shape, operand)
}

/// `g` of shape `out_shape` summed down to the shape of `operand`.
pub(super) fn unbroadcast_shaped(
    ctx: &mut Ctx,
    g: &str,
    out_shape: &[Dim],
    operand: &str,
) -> Result<String, String> {
    let operand_shape = ctx.shape(operand)?;
    if out_shape == operand_shape {
        return Ok(g.to_string());
    }
    let extra = out_shape
        .len()
        .checked_sub(operand_shape.len())
        .ok_or_else(|| format!("'{operand}' has a higher rank than its gradient"))?;
    let axes: Vec<i64> = (0..out_shape.len())
        .filter(|&i| i < extra || operand_shape[i - extra] != out_shape[i])
        .map(|i| i as i64)
        .collect();
    let summed = if axes.is_empty() {
        g.to_string()
    } else {
        let axes = ctx.ints(&axes);
        ctx.emit(
            "ReduceSum",
            &[g, &axes],
            vec![("keepdims", crate::onnx::Attr::Int(1))],
        )
    };
    let shape = ctx.emit("Shape", &[operand], vec![]);
    Ok(ctx.emit("Reshape", &[&summed, &shape], vec![]))
}
