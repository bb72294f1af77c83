//! Ops that move values without computing: Identity (and inference Dropout), Constant,
//! Flatten, Reshape, Transpose, Concat.

use super::{only, Ctx, Grads};
use crate::onnx::{Attr, Dim, Node};

/// `dx = g`.
pub(super) fn identity(_ctx: &mut Ctx, _node: &Node, out: &[Option<String>]) -> Grads {
    Ok(vec![Some(only(out)?.to_string())])
}

/// A constant has no inputs, hence no input gradients.
pub(super) fn constant(_ctx: &mut Ctx, _node: &Node, _out: &[Option<String>]) -> Grads {
    Ok(vec![])
}

/// `dx = Reshape(g, Shape(x))` (Flatten, Reshape, Squeeze, Unsqueeze); the target shape or
/// axes get no gradient.
pub(super) fn reshape(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let x = &node.inputs[0];
    let shape = ctx.emit("Shape", &[x], vec![]);
    Ok(vec![Some(ctx.emit("Reshape", &[g, &shape], vec![])), None])
}

/// `dx = Transpose(g, inverse(perm))`.
pub(super) fn transpose(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let rank = ctx.rank(&node.inputs[0])?;
    let perm: Vec<i64> = match node.ints("perm") {
        Some(p) => p.to_vec(),
        None => (0..rank as i64).rev().collect(),
    };
    let mut inverse = vec![0i64; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        let slot = usize::try_from(p)
            .ok()
            .filter(|&p| p < perm.len())
            .ok_or_else(|| format!("perm {perm:?} is not a permutation"))?;
        inverse[slot] = i as i64;
    }
    Ok(vec![Some(ctx.emit(
        "Transpose",
        &[g],
        vec![("perm", Attr::Ints(inverse))],
    ))])
}

/// Each input's gradient is its slice of `g` along the concatenation axis.
pub(super) fn concat(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let rank = ctx.rank(&node.outputs[0])? as i64;
    let axis = node.int("axis", 0);
    let axis = if axis < 0 { axis + rank } else { axis };
    let mut start = 0i64;
    let mut grads = Vec::with_capacity(node.inputs.len());
    for input in &node.inputs {
        let size = match ctx.shape(input)?.get(axis as usize) {
            Some(Dim::Fixed(n)) => *n as i64,
            _ => {
                return Err(format!(
                    "concatenation along axis {axis} depends on the batch size"
                ))
            }
        };
        if ctx.needs(input) {
            let starts = ctx.ints(&[start]);
            let ends = ctx.ints(&[start + size]);
            let axes = ctx.ints(&[axis]);
            grads.push(Some(ctx.emit(
                "Slice",
                &[&g, &starts, &ends, &axes],
                vec![],
            )));
        } else {
            grads.push(None);
        }
        start += size;
    }
    Ok(grads)
}
