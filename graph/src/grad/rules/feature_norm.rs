//! Normalisations by statistics of the input itself: LayerNormalization (over the trailing
//! axes from `axis`), InstanceNormalization (over the spatial axes of each channel) and
//! GroupNormalization (over each group of channels). Gradients go to X only: the scale and
//! bias are weights.

use super::{only, Ctx, Grads};
use crate::onnx::{Attr, Dim, Node};

/// The input gradient of `x_hat = (x - mean) / sqrt(var + eps)` over `axes` (each of `n`
/// elements, fixed), given `gh`, the gradient of `x_hat`:
/// `dx = (gh - mean(gh) - x_hat mean(gh x_hat)) / sqrt(var + eps)`.
fn normalised_input_grad(
    ctx: &mut Ctx,
    x: &str,
    gh: &str,
    axes: &[i64],
    n: usize,
    eps: f32,
) -> String {
    let inv_n = ctx.scalar(1.0 / n as f32);
    let mean = |ctx: &mut Ctx, t: &str| {
        let axes = ctx.ints(axes);
        let total = ctx.emit("ReduceSum", &[t, &axes], vec![("keepdims", Attr::Int(1))]);
        ctx.emit("Mul", &[&total, &inv_n], vec![])
    };
    let mu = mean(ctx, x);
    let centred = ctx.emit("Sub", &[x, &mu], vec![]);
    let square = ctx.emit("Mul", &[&centred, &centred], vec![]);
    let var = mean(ctx, &square);
    let eps = ctx.scalar(eps);
    let var_eps = ctx.emit("Add", &[&var, &eps], vec![]);
    let std = ctx.emit("Sqrt", &[&var_eps], vec![]);
    let inv_std = ctx.emit("Reciprocal", &[&std], vec![]);
    let x_hat = ctx.emit("Mul", &[&centred, &inv_std], vec![]);
    let m1 = mean(ctx, gh);
    let gx = ctx.emit("Mul", &[gh, &x_hat], vec![]);
    let m2 = mean(ctx, &gx);
    let along = ctx.emit("Mul", &[&x_hat, &m2], vec![]);
    let centred_g = ctx.emit("Sub", &[gh, &m1], vec![]);
    let projected = ctx.emit("Sub", &[&centred_g, &along], vec![]);
    ctx.emit("Mul", &[&projected, &inv_std], vec![])
}

/// The number of elements over `axes` of `x`, which must not depend on the batch size.
fn count(ctx: &Ctx, x: &str, axes: &[i64]) -> Result<usize, String> {
    let shape = ctx.shape(x)?;
    axes.iter()
        .map(|&a| match shape.get(a as usize) {
            Some(Dim::Fixed(n)) => Ok(*n),
            _ => Err(format!(
                "normalising over axis {a} of '{x}', which depends on the batch size"
            )),
        })
        .product()
}

/// Refuses gradients into the weights of a normalisation (the scale and bias).
fn weights_only(ctx: &Ctx, node: &Node) -> Result<(), String> {
    match node
        .inputs
        .iter()
        .skip(1)
        .find(|w| !w.is_empty() && ctx.needs(w))
    {
        Some(w) => Err(format!(
            "the gradient of the normalisation weight '{w}' is not supported"
        )),
        None => Ok(()),
    }
}

/// `y = x_hat * scale + bias`, normalised over axes `axis..rank` (default -1).
pub(super) fn layer_norm(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    if out.iter().skip(1).any(Option::is_some) {
        return Err("the mean and inverse deviation outputs are not differentiated".into());
    }
    let g = only(out)?;
    weights_only(ctx, node)?;
    let x = node.inputs[0].clone();
    let rank = ctx.rank(&x)? as i64;
    let axis = node.int("axis", -1);
    let axis = if axis < 0 { axis + rank } else { axis };
    let axes: Vec<i64> = (axis..rank).collect();
    let n = count(ctx, &x, &axes)?;
    let gh = ctx.emit("Mul", &[g, &node.inputs[1]], vec![]);
    let eps = node.float("epsilon", 1e-5);
    Ok(vec![Some(normalised_input_grad(
        ctx, &x, &gh, &axes, n, eps,
    ))])
}

/// Per-channel `[C]` values reshaped to `[C, 1, ...]` against a rank-`rank` `[N, C, ...]`.
fn per_channel(ctx: &mut Ctx, v: &str, rank: usize) -> String {
    let shape: Vec<i64> = std::iter::once(-1)
        .chain(std::iter::repeat_n(1, rank - 2))
        .collect();
    let shape = ctx.ints(&shape);
    ctx.emit("Reshape", &[v, &shape], vec![])
}

/// `y = scale[c] x_hat + bias[c]`, normalised over the spatial axes of each sample and
/// channel.
pub(super) fn instance_norm(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    weights_only(ctx, node)?;
    let x = node.inputs[0].clone();
    let rank = ctx.rank(&x)?;
    if rank < 3 {
        return Err("instance normalization of a tensor without spatial axes".into());
    }
    let axes: Vec<i64> = (2..rank as i64).collect();
    let n = count(ctx, &x, &axes)?;
    let scale = per_channel(ctx, &node.inputs[1], rank);
    let gh = ctx.emit("Mul", &[g, &scale], vec![]);
    let eps = node.float("epsilon", 1e-5);
    Ok(vec![Some(normalised_input_grad(
        ctx, &x, &gh, &axes, n, eps,
    ))])
}

/// `y = scale x_hat + bias` with `x_hat` normalised over each of `num_groups` groups of
/// channels (and the spatial axes). The scale and bias are per group in opset 18-20 and per
/// channel from opset 21.
pub(super) fn group_norm(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    weights_only(ctx, node)?;
    let x = node.inputs[0].clone();
    let shape = ctx.fixed_shape(&x).or_else(|_| {
        // The batch may be symbolic; every other axis must be fixed.
        let s = ctx.shape(&x)?;
        s.iter()
            .skip(1)
            .map(|d| d.fixed())
            .collect::<Option<Vec<_>>>()
            .map(|rest| std::iter::once(0).chain(rest).collect())
            .ok_or_else(|| format!("'{x}' has a symbolic non-batch axis"))
    })?;
    let rank = shape.len();
    let groups = usize::try_from(node.int("num_groups", 0)).unwrap_or(0);
    if rank < 2 || groups == 0 || shape[1] % groups != 0 {
        return Err(format!(
            "{groups} groups do not divide the channels of '{x}'"
        ));
    }
    let channels = shape[1];
    let scale_len = ctx.fixed_shape(&node.inputs[1])?.iter().product::<usize>();
    let scale = if scale_len == channels {
        node.inputs[1].clone()
    } else {
        // One value per group, repeated for each of its channels.
        let column = ctx.ints(&[groups as i64, 1]);
        let column = ctx.emit("Reshape", &[&node.inputs[1], &column], vec![]);
        let wide = ctx.ints(&[groups as i64, (channels / groups) as i64]);
        let wide = ctx.emit("Expand", &[&column, &wide], vec![]);
        let flat = ctx.ints(&[channels as i64]);
        ctx.emit("Reshape", &[&wide, &flat], vec![])
    };
    let scale = per_channel(ctx, &scale, rank);
    let gh = ctx.emit("Mul", &[g, &scale], vec![]);
    let grouped = ctx.ints(&[0, groups as i64, -1]);
    let xg = ctx.emit("Reshape", &[&x, &grouped], vec![]);
    let ghg = ctx.emit("Reshape", &[&gh, &grouped], vec![]);
    let n = shape[1..].iter().product::<usize>() / groups;
    let eps = node.float("epsilon", 1e-5);
    let dxg = normalised_input_grad(ctx, &xg, &ghg, &[2], n, eps);
    let back = ctx.emit("Shape", &[&x], vec![]);
    Ok(vec![Some(ctx.emit("Reshape", &[&dxg, &back], vec![]))])
}
