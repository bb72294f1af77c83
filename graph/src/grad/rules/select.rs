//! Ops that pick elements of their data input: Slice, Split, Gather and GatherElements.
//! Slice and Gather with constant positions scatter the gradient back with a 0/1 selection
//! matrix along each affected axis ([`scatter_along`]).

use super::axis_map::scatter_along;
use super::{only, Ctx, Grads};
use crate::onnx::{Attr, Dim, Node};

/// An integer constant input or attribute: the input `i` if present (it must be a
/// constant), else attribute `attr`.
pub(super) fn const_param(
    ctx: &Ctx,
    node: &Node,
    i: usize,
    attr: &str,
) -> Result<Option<Vec<i64>>, String> {
    match node.inputs.get(i).filter(|n| !n.is_empty()) {
        Some(name) => ctx
            .const_ints(name)
            .map(Some)
            .ok_or_else(|| format!("'{name}' (input {i}) is not a constant")),
        None => Ok(node.ints(attr).map(<[i64]>::to_vec)),
    }
}

/// The fixed size of axis `axis` of `x`.
pub(super) fn axis_size(ctx: &Ctx, x: &str, axis: usize) -> Result<usize, String> {
    match ctx.shape(x)?.get(axis) {
        Some(Dim::Fixed(n)) => Ok(*n),
        Some(_) => Err(format!(
            "selecting along axis {axis} of '{x}', which depends on the batch size"
        )),
        None => Err(format!("'{x}' has no axis {axis}")),
    }
}

pub(super) fn positive_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    usize::try_from(a)
        .ok()
        .filter(|&a| a < rank)
        .ok_or_else(|| format!("axis {axis} is out of range for rank {rank}"))
}

/// The positions ONNX Slice takes along an axis of `size`, with its clamping rules.
fn slice_positions(start: i64, end: i64, step: i64, size: usize) -> Vec<usize> {
    let d = size as i64;
    let wrap = |v: i64| if v < 0 { v + d } else { v };
    let (start, end) = (wrap(start), wrap(end));
    let (start, end) = if step > 0 {
        (start.clamp(0, d), end.clamp(0, d))
    } else {
        (start.clamp(0, d - 1), end.clamp(-1, d - 1))
    };
    let mut picked = Vec::new();
    let mut i = start;
    while (step > 0 && i < end) || (step < 0 && i > end) {
        picked.push(i as usize);
        i += step;
    }
    picked
}

/// Scatters `g` back through every sliced axis (starts, ends, axes and steps as constant
/// inputs from opset 10, as attributes before; negative steps and clamped ends included).
pub(super) fn slice(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let mut g = only(out)?.to_string();
    let x = node.inputs[0].clone();
    let rank = ctx.rank(&x)?;
    let starts = const_param(ctx, node, 1, "starts")?.ok_or("a slice without starts")?;
    let ends = const_param(ctx, node, 2, "ends")?.ok_or("a slice without ends")?;
    let axes =
        const_param(ctx, node, 3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = const_param(ctx, node, 4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err("slice starts, ends, axes and steps differ in length".into());
    }
    for (((&start, &end), &axis), &step) in starts.iter().zip(&ends).zip(&axes).zip(&steps) {
        let axis = positive_axis(axis, rank)?;
        if step == 0 {
            return Err("a slice step of 0".into());
        }
        let whole = start == 0 && step == 1 && end >= i32::MAX as i64;
        if whole {
            continue;
        }
        let size = axis_size(ctx, &x, axis)?;
        let picked = slice_positions(start, end, step, size);
        if picked.iter().copied().eq(0..size) {
            continue;
        }
        let picked: Vec<Option<usize>> = picked.into_iter().map(Some).collect();
        g = scatter_along(ctx, &g, axis, rank, &picked, size);
    }
    Ok(vec![Some(g), None, None, None, None])
}

/// `dx = Concat(g_1, ..., g_k)` along the split axis, zeros for outputs no gradient reaches.
pub(super) fn split(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let zero = ctx.scalar(0.0);
    let parts: Vec<String> = node
        .outputs
        .iter()
        .zip(out)
        .map(|(y, g)| match g {
            Some(g) => g.clone(),
            None => ctx.emit("Mul", &[y, &zero], vec![]),
        })
        .collect();
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let axis = node.int("axis", 0);
    Ok(vec![
        Some(ctx.emit("Concat", &refs, vec![("axis", Attr::Int(axis))])),
        None,
    ])
}

/// Scatters `g` back to the constant `indices` (negative ones counted from the end) along
/// `axis`; repeated indices accumulate.
pub(super) fn gather(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let (x, indices) = (node.inputs[0].clone(), node.inputs[1].clone());
    let index_tensor = ctx
        .const_ints(&indices)
        .ok_or_else(|| format!("gather indices '{indices}' are not a constant"))?;
    let rank = ctx.rank(&x)?;
    let axis = positive_axis(node.int("axis", 0), rank)?;
    let size = axis_size(ctx, &x, axis)?;
    let picked = index_tensor
        .iter()
        .map(|&i| {
            let p = if i < 0 { i + size as i64 } else { i };
            usize::try_from(p)
                .ok()
                .filter(|&p| p < size)
                .map(Some)
                .ok_or_else(|| format!("gather index {i} is out of range for size {size}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let index_rank = ctx.rank(&indices)?;
    // Bring g to x's rank with the index dims flattened into one axis.
    let g = if index_rank == 1 {
        g
    } else {
        let x_shape = ctx.shape(&x)?;
        let mut target: Vec<i64> = vec![0; axis];
        target.push(picked.len() as i64);
        for d in &x_shape[axis + 1..] {
            target.push(
                d.fixed()
                    .ok_or("gathering before an axis that depends on the batch size")?
                    as i64,
            );
        }
        let target = ctx.ints(&target);
        ctx.emit("Reshape", &[&g, &target], vec![])
    };
    Ok(vec![
        Some(scatter_along(ctx, &g, axis, rank, &picked, size)),
        None,
    ])
}

/// `dx = ScatterElements(0, indices, g, reduction = add)`: computed indices work too.
pub(super) fn gather_elements(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let (x, indices) = (&node.inputs[0], &node.inputs[1]);
    let zero = ctx.scalar(0.0);
    let zeros = ctx.emit("Mul", &[x, &zero], vec![]);
    let axis = node.int("axis", 0);
    Ok(vec![
        Some(ctx.emit(
            "ScatterElements",
            &[&zeros, indices, g],
            vec![
                ("axis", Attr::Int(axis)),
                ("reduction", Attr::Str("add".into())),
            ],
        )),
        None,
    ])
}
