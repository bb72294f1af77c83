//! Smooth functions of one tensor: Exp, Log, Neg, Erf, Gelu (both approximations),
//! Softplus, Pow with a constant exponent.

use super::{only, Ctx, Grads};
use crate::onnx::Node;

/// `dx = g y` with `y = exp(x)`.
pub(super) fn exp(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    Ok(vec![Some(ctx.emit("Mul", &[g, &node.outputs[0]], vec![]))])
}

/// `dx = g / x`.
pub(super) fn log(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    Ok(vec![Some(ctx.emit("Div", &[g, &node.inputs[0]], vec![]))])
}

/// `dx = -g`.
pub(super) fn neg(ctx: &mut Ctx, _node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    Ok(vec![Some(ctx.emit("Neg", &[g], vec![]))])
}

/// `exp(-x^2 / k)`, the Gaussian shape shared by the Erf and Gelu derivatives.
fn gaussian(ctx: &mut Ctx, x: &str, k: f32) -> String {
    let square = ctx.emit("Mul", &[x, x], vec![]);
    let factor = ctx.scalar(-1.0 / k);
    let exponent = ctx.emit("Mul", &[&square, &factor], vec![]);
    ctx.emit("Exp", &[&exponent], vec![])
}

/// `dx = g (2 / sqrt(pi)) exp(-x^2)`.
pub(super) fn erf(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let bell = gaussian(ctx, &node.inputs[0], 1.0);
    let scale = ctx.scalar(std::f32::consts::FRAC_2_SQRT_PI);
    let slope = ctx.emit("Mul", &[&bell, &scale], vec![]);
    Ok(vec![Some(ctx.emit("Mul", &[g, &slope], vec![]))])
}

/// Exact (`approximate = "none"`): `y = x Phi(x)`, `dx = g (Phi(x) + x phi(x))` with the
/// standard normal CDF `Phi(x) = (1 + erf(x / sqrt 2)) / 2` and density `phi`.
/// `approximate = "tanh"`: `y = x (1 + t) / 2` with `t = tanh(u)`,
/// `u = sqrt(2 / pi) (x + 0.044715 x^3)`, so
/// `dx = g ((1 + t) / 2 + x (1 - t^2) sqrt(2 / pi) (1 + 3 * 0.044715 x^2) / 2)`.
pub(super) fn gelu(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let x = node.inputs[0].clone();
    let (half, one) = (ctx.scalar(0.5), ctx.scalar(1.0));
    let slope = match node.string("approximate").unwrap_or("none") {
        "none" => {
            let inv_sqrt2 = ctx.scalar(std::f32::consts::FRAC_1_SQRT_2);
            let scaled = ctx.emit("Mul", &[&x, &inv_sqrt2], vec![]);
            let e = ctx.emit("Erf", &[&scaled], vec![]);
            let e1 = ctx.emit("Add", &[&e, &one], vec![]);
            let cdf = ctx.emit("Mul", &[&e1, &half], vec![]);
            let bell = gaussian(ctx, &x, 2.0);
            let norm = ctx.scalar(1.0 / (2.0 * std::f32::consts::PI).sqrt());
            let pdf = ctx.emit("Mul", &[&bell, &norm], vec![]);
            let x_pdf = ctx.emit("Mul", &[&x, &pdf], vec![]);
            ctx.emit("Add", &[&cdf, &x_pdf], vec![])
        }
        "tanh" => {
            const C: f32 = 0.044715;
            let k = ctx.scalar((2.0 / std::f32::consts::PI).sqrt());
            let c = ctx.scalar(C);
            let square = ctx.emit("Mul", &[&x, &x], vec![]);
            let cubic = ctx.emit("Mul", &[&square, &c], vec![]);
            let inner = ctx.emit("Add", &[&cubic, &one], vec![]);
            let poly = ctx.emit("Mul", &[&x, &inner], vec![]);
            let u = ctx.emit("Mul", &[&poly, &k], vec![]);
            let t = ctx.emit("Tanh", &[&u], vec![]);
            let t1 = ctx.emit("Add", &[&t, &one], vec![]);
            let first = ctx.emit("Mul", &[&t1, &half], vec![]);
            let t2 = ctx.emit("Mul", &[&t, &t], vec![]);
            let sech2 = ctx.emit("Sub", &[&one, &t2], vec![]);
            let c3 = ctx.scalar(3.0 * C);
            let d_inner = ctx.emit("Mul", &[&square, &c3], vec![]);
            let d_inner = ctx.emit("Add", &[&d_inner, &one], vec![]);
            let du = ctx.emit("Mul", &[&d_inner, &k], vec![]);
            let x_half = ctx.emit("Mul", &[&x, &half], vec![]);
            let second = ctx.emit("Mul", &[&x_half, &sech2], vec![]);
            let second = ctx.emit("Mul", &[&second, &du], vec![]);
            ctx.emit("Add", &[&first, &second], vec![])
        }
        other => return Err(format!("gelu approximation '{other}' is not supported")),
    };
    Ok(vec![Some(ctx.emit("Mul", &[g, &slope], vec![]))])
}

/// `y = log(1 + exp(x))`: `dx = g sigmoid(x)`.
pub(super) fn softplus(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let s = ctx.emit("Sigmoid", &[&node.inputs[0]], vec![]);
    Ok(vec![Some(ctx.emit("Mul", &[g, &s], vec![]))])
}

/// `y = x^p` with a constant scalar `p`: `dx = g p x^(p - 1)` (`g 2 x` for `p = 2`, the
/// variance of exporters' hand-written layer norms). The exponent gets no gradient.
pub(super) fn pow(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let (x, p) = (&node.inputs[0], &node.inputs[1]);
    if ctx.needs(p) {
        return Err("an exponent that depends on the input is not supported".into());
    }
    let p = match (ctx.const_floats(p), ctx.const_ints(p)) {
        (Some(v), _) if v.len() == 1 => v[0],
        (_, Some(v)) if v.len() == 1 => v[0] as f32,
        _ => return Err(format!("the exponent '{p}' is not a constant scalar")),
    };
    let coefficient = ctx.scalar(p);
    let power = if p == 2.0 {
        x.clone()
    } else {
        let lowered = ctx.scalar(p - 1.0);
        ctx.emit("Pow", &[x, &lowered], vec![])
    };
    let slope = ctx.emit("Mul", &[&power, &coefficient], vec![]);
    Ok(vec![Some(ctx.emit("Mul", &[g, &slope], vec![])), None])
}
