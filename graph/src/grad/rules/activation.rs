//! Element-wise functions of one tensor: the activations Relu, LeakyRelu, Sigmoid, Tanh, and
//! the Sqrt and Reciprocal of batch normalization's training-mode form.

use super::{only, Ctx, Grads};
use crate::onnx::Node;

/// `dx = g` where `x > 0`, else 0 (the subgradient 0 at the kink), as `g * sign(y)` with
/// `y = relu(x)`: the sign is 1 exactly where `x > 0` and 0 elsewhere. tract runs the sign
/// and the product as two element-wise kernels, three times faster than a comparison and a
/// select of a broadcast zero.
pub(super) fn relu(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let y = &node.outputs[0];
    let mask = ctx.emit("Sign", &[y], vec![]);
    Ok(vec![Some(ctx.emit("Mul", &[g, &mask], vec![]))])
}

/// `dx = g` where `x > 0`, else `alpha * g`.
pub(super) fn leaky_relu(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let x = &node.inputs[0];
    let zero = ctx.scalar(0.0);
    let alpha = ctx.scalar(node.float("alpha", 0.01));
    let positive = ctx.emit("Greater", &[x, &zero], vec![]);
    let leaked = ctx.emit("Mul", &[g, &alpha], vec![]);
    Ok(vec![Some(ctx.emit(
        "Where",
        &[&positive, g, &leaked],
        vec![],
    ))])
}

/// `dx = g * y * (1 - y)` with `y = sigmoid(x)`.
pub(super) fn sigmoid(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let y = &node.outputs[0];
    let one = ctx.scalar(1.0);
    let one_minus = ctx.emit("Sub", &[&one, y], vec![]);
    let slope = ctx.emit("Mul", &[y, &one_minus], vec![]);
    Ok(vec![Some(ctx.emit("Mul", &[g, &slope], vec![]))])
}

/// `dx = g * (1 - y^2)` with `y = tanh(x)`.
pub(super) fn tanh(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let y = &node.outputs[0];
    let one = ctx.scalar(1.0);
    let square = ctx.emit("Mul", &[y, y], vec![]);
    let slope = ctx.emit("Sub", &[&one, &square], vec![]);
    Ok(vec![Some(ctx.emit("Mul", &[g, &slope], vec![]))])
}

/// `dx = g / (2 y)` with `y = sqrt(x)`.
pub(super) fn sqrt(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let half = ctx.scalar(0.5);
    let scaled = ctx.emit("Mul", &[g, &half], vec![]);
    Ok(vec![Some(ctx.emit(
        "Div",
        &[&scaled, &node.outputs[0]],
        vec![],
    ))])
}

/// `dx = -g y^2` with `y = 1 / x`.
pub(super) fn reciprocal(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?;
    let y = &node.outputs[0];
    let y2 = ctx.emit("Mul", &[y, y], vec![]);
    let prod = ctx.emit("Mul", &[g, &y2], vec![]);
    Ok(vec![Some(ctx.emit("Neg", &[&prod], vec![]))])
}
