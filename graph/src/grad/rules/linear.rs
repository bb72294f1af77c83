//! Matrix products: Gemm (transA, transB, alpha, beta) and MatMul (batched, broadcasting).

use super::broadcast::{unbroadcast, unbroadcast_shaped};
use super::{only, Ctx, Grads};
use crate::onnx::{Attr, Node};

/// `Y = alpha * A' B' + beta * C` with `A' = A^T` if transA and `B' = B^T` if transB:
/// `dA' = alpha g B'^T`, `dB' = alpha A'^T g`, `dC = beta g` summed to C's shape.
pub(super) fn gemm(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let (a, b) = (node.inputs[0].clone(), node.inputs[1].clone());
    let alpha = node.float("alpha", 1.0);
    let beta = node.float("beta", 1.0);
    let trans_a = node.int("transA", 0) != 0;
    let trans_b = node.int("transB", 0) != 0;
    let gemm = |ctx: &mut Ctx, x: &str, y: &str, ta: bool, tb: bool| {
        let attrs = vec![
            ("alpha", Attr::Float(alpha)),
            ("transA", Attr::Int(ta as i64)),
            ("transB", Attr::Int(tb as i64)),
        ];
        ctx.emit("Gemm", &[x, y], attrs)
    };
    let da = ctx.needs(&a).then(|| {
        if trans_a {
            gemm(ctx, &b, &g, trans_b, true)
        } else {
            gemm(ctx, &g, &b, false, !trans_b)
        }
    });
    let db = ctx.needs(&b).then(|| {
        if trans_b {
            gemm(ctx, &g, &a, true, trans_a)
        } else {
            gemm(ctx, &a, &g, !trans_a, false)
        }
    });
    let dc = match node.input(2) {
        Some(c) if ctx.needs(c) => {
            let scaled = if beta == 1.0 {
                g.clone()
            } else {
                let beta = ctx.scalar(beta);
                ctx.emit("Mul", &[&g, &beta], vec![])
            };
            Some(unbroadcast(ctx, &scaled, &node.outputs[0], c)?)
        }
        _ => None,
    };
    Ok(vec![da, db, dc])
}

/// `Y = A B` over the last two axes: `dA = g B^T`, `dB = A^T g`, each summed over the batch
/// axes it was broadcast along.
pub(super) fn matmul(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let (a, b) = (node.inputs[0].clone(), node.inputs[1].clone());
    let (rank_a, rank_b) = (ctx.rank(&a)?, ctx.rank(&b)?);
    if rank_a < 2 || rank_b < 2 {
        return Err("matmul of a vector (rank 1) is not supported".into());
    }
    let swap_last = |rank: usize| {
        let mut perm: Vec<i64> = (0..rank as i64).collect();
        perm.swap(rank - 1, rank - 2);
        Attr::Ints(perm)
    };
    let batch_shape = {
        let y = ctx.shape(&node.outputs[0])?;
        y[..y.len() - 2].to_vec()
    };
    let shaped = |ctx: &Ctx, operand: &str| -> Result<Vec<crate::onnx::Dim>, String> {
        let s = ctx.shape(operand)?;
        Ok(batch_shape
            .iter()
            .chain(&s[s.len() - 2..])
            .copied()
            .collect())
    };
    let da = if ctx.needs(&a) {
        let bt = ctx.emit("Transpose", &[&b], vec![("perm", swap_last(rank_b))]);
        let full = ctx.emit("MatMul", &[&g, &bt], vec![]);
        let full_shape = shaped(ctx, &a)?;
        Some(unbroadcast_shaped(ctx, &full, &full_shape, &a)?)
    } else {
        None
    };
    let db = if ctx.needs(&b) {
        let at = ctx.emit("Transpose", &[&a], vec![("perm", swap_last(rank_a))]);
        let full = ctx.emit("MatMul", &[&at, &g], vec![]);
        let full_shape = shaped(ctx, &b)?;
        Some(unbroadcast_shaped(ctx, &full, &full_shape, &b)?)
    } else {
        None
    };
    Ok(vec![da, db])
}
