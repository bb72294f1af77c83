//! Pooling (NCHW): MaxPool through its indices, AveragePool as a transposed convolution
//! with a kernel of ones, GlobalAveragePool as a broadcast.

use super::conv::{image_dims, Window};
use super::{only, Ctx, Grads};
use crate::onnx::{Attr, Node};

/// The kernel size of a pool, from its `kernel_shape` attribute.
fn kernel_shape(node: &Node) -> Result<Vec<usize>, String> {
    let k = node
        .ints("kernel_shape")
        .ok_or("the pool has no kernel_shape")?;
    k.iter()
        .map(|&k| usize::try_from(k).map_err(|_| format!("kernel_shape {k:?}")))
        .collect()
}

/// Each window's maximum gets the window's gradient: `dx` is `g` scattered (and summed
/// where windows overlap) at the positions of the pool's `Indices` output, which count
/// over the whole flattened input (row-major).
pub(super) fn max_pool(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let x = node.inputs[0].clone();
    if node.int("storage_order", 0) != 0 {
        return Err("max pool indices in column-major storage order are not supported".into());
    }
    let indices = node
        .outputs
        .get(1)
        .filter(|i| !i.is_empty())
        .ok_or("the max pool has no indices output")?
        .clone();
    let flat = ctx.ints(&[-1]);
    let flat_x = ctx.emit("Reshape", &[&x, &flat], vec![]);
    let zero = ctx.scalar(0.0);
    let zeros = ctx.emit("Mul", &[&flat_x, &zero], vec![]);
    let flat_indices = ctx.emit("Reshape", &[&indices, &flat], vec![]);
    let flat_g = ctx.emit("Reshape", &[&g, &flat], vec![]);
    let scattered = ctx.emit(
        "ScatterElements",
        &[&zeros, &flat_indices, &flat_g],
        vec![
            ("axis", Attr::Int(0)),
            ("reduction", Attr::Str("add".into())),
        ],
    );
    let shape = ctx.emit("Shape", &[&x], vec![]);
    Ok(vec![Some(ctx.emit(
        "Reshape",
        &[&scattered, &shape],
        vec![],
    ))])
}

/// Each input position gets the sum, over the windows that cover it, of the window's
/// gradient divided by the window's divisor: `g` divided by the divisor (a constant, or a
/// constant map when padding is left out of the count), then a depthwise ConvTranspose
/// with a kernel of ones.
pub(super) fn average_pool(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let x = node.inputs[0].clone();
    if node.int("ceil_mode", 0) != 0 {
        return Err("average pooling with ceil_mode is not supported".into());
    }
    if node
        .ints("dilations")
        .is_some_and(|d| d.iter().any(|&d| d != 1))
    {
        return Err("dilated average pooling is not supported".into());
    }
    let (channels, spatial) = image_dims(ctx, &x)?;
    let window = Window::of(node, &spatial, &kernel_shape(node)?)?;
    let count_include_pad = node.int("count_include_pad", 0) != 0;
    let padded = window.begin.iter().chain(&window.end).any(|&p| p > 0);
    let area: usize = window.kernel.iter().product();
    let (scaled, weight) = if count_include_pad || !padded {
        (g, 1.0 / area as f32)
    } else {
        let output = window.output();
        let divisors = divisor_map(&window, &output);
        if divisors.contains(&0.0) {
            return Err("a pooling window lies entirely in the padding".into());
        }
        let map = ctx.floats(&[1, 1, output[0], output[1]], divisors);
        (ctx.emit("Div", &[&g, &map], vec![]), 1.0)
    };
    let kernel = ctx.floats(
        &[channels, 1, window.kernel[0], window.kernel[1]],
        vec![weight; channels * area],
    );
    let mut attrs = window.transpose_attrs();
    attrs.push(("group", Attr::Int(channels as i64)));
    Ok(vec![Some(ctx.emit(
        "ConvTranspose",
        &[&scaled, &kernel],
        attrs,
    ))])
}

/// The number of input (not padding) positions in each window, row-major over `output`.
fn divisor_map(window: &Window, output: &[usize]) -> Vec<f32> {
    let covered = |axis: usize, o: usize| {
        let start = (o * window.strides[axis]) as isize - window.begin[axis] as isize;
        let end = start + window.kernel[axis] as isize;
        (end.min(window.input[axis] as isize) - start.max(0)).max(0) as usize
    };
    let mut map = Vec::with_capacity(output.iter().product());
    for oh in 0..output[0] {
        for ow in 0..output[1] {
            map.push((covered(0, oh) * covered(1, ow)) as f32);
        }
    }
    map
}

/// `dx = Expand(g, Shape(x)) / (H W)`.
pub(super) fn global_average_pool(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let x = node.inputs[0].clone();
    let (_, spatial) = image_dims(ctx, &x)?;
    let area: usize = spatial.iter().product();
    let shape = ctx.emit("Shape", &[&x], vec![]);
    let spread = ctx.emit("Expand", &[&g, &shape], vec![]);
    let scale = ctx.scalar(1.0 / area as f32);
    Ok(vec![Some(ctx.emit("Mul", &[&spread, &scale], vec![]))])
}
