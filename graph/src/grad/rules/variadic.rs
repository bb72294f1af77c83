//! Element-wise ops over broadcast operands beyond arithmetic: Max, Min, Sum, Mean (any
//! number of operands), Where (the two data branches) and Cast between float types.

use super::broadcast::unbroadcast;
use super::{only, Ctx, Grads};
use crate::onnx::{Attr, Node};

/// ONNX `Cast` types that are floating point: float, float16, double, bfloat16.
const FLOAT_TYPES: &[i64] = &[1, 10, 11, 16];
/// ONNX's `to` value for 32-bit floats, the type of every gradient.
const FLOAT: i64 = 1;

/// The gradient of each operand: `local(i)` summed to operand `i`'s shape.
fn per_operand(
    ctx: &mut Ctx,
    node: &Node,
    mut local: impl FnMut(&mut Ctx, usize) -> String,
) -> Grads {
    let y = node.outputs[0].clone();
    let mut grads = Vec::with_capacity(node.inputs.len());
    for (i, x) in node.inputs.iter().enumerate() {
        if !ctx.needs(x) {
            grads.push(None);
            continue;
        }
        let g = local(ctx, i);
        grads.push(Some(unbroadcast(ctx, &g, &y, x)?));
    }
    Ok(grads)
}

/// `dx_i = g` for each operand.
pub(super) fn sum(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    per_operand(ctx, node, |_, _| g.clone())
}

/// `dx_i = g / k` for `k` operands.
pub(super) fn mean(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let share = ctx.scalar(1.0 / node.inputs.len() as f32);
    let scaled = ctx.emit("Mul", &[&g, &share], vec![]);
    per_operand(ctx, node, |_, _| scaled.clone())
}

/// Max and Min: the whole gradient goes to the operand that equals the output; on a tie, to
/// the first such operand (in input order).
pub(super) fn extreme(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let y = node.outputs[0].clone();
    let zero = ctx.scalar(0.0);
    // `taken[i]`: some operand before `i` equals the output.
    let mut chosen = Vec::with_capacity(node.inputs.len());
    let mut taken: Option<String> = None;
    for x in &node.inputs {
        let equal = ctx.emit("Equal", &[x, &y], vec![]);
        let mine = match &taken {
            Some(t) => {
                let free = ctx.emit("Not", &[t], vec![]);
                ctx.emit("And", &[&equal, &free], vec![])
            }
            None => equal.clone(),
        };
        taken = Some(match taken {
            Some(t) => ctx.emit("Or", &[&t, &equal], vec![]),
            None => equal,
        });
        chosen.push(mine);
    }
    per_operand(ctx, node, |ctx, i| {
        ctx.emit("Where", &[&chosen[i], &g, &zero], vec![])
    })
}

/// `da = g` where the condition holds, `db = g` where it does not; the condition gets none.
pub(super) fn where_(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let (cond, y) = (node.inputs[0].clone(), node.outputs[0].clone());
    let zero = ctx.scalar(0.0);
    let mut grads = vec![None];
    for (i, x) in node.inputs.iter().enumerate().skip(1) {
        if !ctx.needs(x) {
            grads.push(None);
            continue;
        }
        let branch = if i == 1 { [&g, &zero] } else { [&zero, &g] };
        let local = ctx.emit("Where", &[&cond, branch[0], branch[1]], vec![]);
        grads.push(Some(unbroadcast(ctx, &local, &y, x)?));
    }
    Ok(grads)
}

/// A cast between float types: `dx = g` as a 32-bit float (the type of every gradient).
pub(super) fn cast(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let to = node.int("to", 0);
    if !FLOAT_TYPES.contains(&to) {
        return Err(format!("a cast to the non-float type {to} has no gradient"));
    }
    Ok(vec![Some(ctx.emit(
        "Cast",
        &[g],
        vec![("to", Attr::Int(FLOAT))],
    ))])
}
