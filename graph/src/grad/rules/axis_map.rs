//! Linear maps along one axis: the backward of ops whose every output element along an axis
//! is a fixed combination of input elements along that axis (Slice, Gather, Pad, Resize).
//! The map is a constant `[out, in]` matrix applied by MatMul on the last axis, which tract
//! runs with a symbolic batch and which sums repeated picks.

use super::Ctx;
use crate::onnx::Attr;

/// `g` (shaped like the forward output) mapped back along `axis` of a rank-`rank` tensor by
/// the row-major `[out, in]` matrix `matrix`, where forward output position `o` along the axis
/// is `sum_i matrix[o, i] x[i]`: the result is `matrix^T g` along the axis.
pub(super) fn map_along(
    ctx: &mut Ctx,
    g: &str,
    axis: usize,
    rank: usize,
    matrix: Vec<f32>,
    out: usize,
    input: usize,
) -> String {
    let matrix = ctx.floats(&[out, input], matrix);
    if axis + 1 == rank {
        return ctx.emit("MatMul", &[g, &matrix], vec![]);
    }
    // Swap `axis` with the last axis, multiply, swap back (a swap is its own inverse).
    let mut perm: Vec<i64> = (0..rank as i64).collect();
    perm.swap(axis, rank - 1);
    let last = ctx.emit("Transpose", &[g], vec![("perm", Attr::Ints(perm.clone()))]);
    let mapped = ctx.emit("MatMul", &[&last, &matrix], vec![]);
    ctx.emit("Transpose", &[&mapped], vec![("perm", Attr::Ints(perm))])
}

/// [`map_along`] for a selection: output position `o` along the axis copies input position
/// `picked[o]`, or a constant where it is `None` (padding).
pub(super) fn scatter_along(
    ctx: &mut Ctx,
    g: &str,
    axis: usize,
    rank: usize,
    picked: &[Option<usize>],
    size: usize,
) -> String {
    let mut matrix = vec![0f32; picked.len() * size];
    for (o, p) in picked.iter().enumerate() {
        if let Some(p) = p {
            matrix[o * size + p] += 1.0;
        }
    }
    map_along(ctx, g, axis, rank, matrix, picked.len(), size)
}
