//! Resize in nearest and linear modes (opset 11+; older forms are refused by the opset
//! normalisation): every resized axis maps input to output by
//! a fixed interpolation matrix `[out, in]` (separable across axes), so the gradient applies
//! each axis's transposed matrix to the upstream gradient ([`map_along`]). The coordinate
//! transforms and nearest rounding follow the ONNX operator (the same arithmetic in `f32` as
//! the runtime, so ties round identically); cubic mode, antialiasing, `exclude_outside` and
//! `tf_crop_and_resize` are refused.

use super::axis_map::map_along;
use super::{only, Ctx, Grads};
use crate::onnx::{Dim, Node};

/// The resampling settings of one Resize node.
struct Sampling<'a> {
    linear: bool,
    coordinates: &'a str,
    nearest: &'a str,
}

impl Sampling<'_> {
    /// The input coordinate output position `x` reads, for an axis resized by `scale` from
    /// `len_in` to `len_out` elements.
    fn source(&self, x: usize, scale: f32, len_in: usize, len_out: usize) -> f32 {
        let x = x as f32;
        match self.coordinates {
            "align_corners" => {
                let width = scale * len_in as f32;
                if width == 1.0 {
                    0.0
                } else {
                    x * (len_in as f32 - 1.0) / (width - 1.0)
                }
            }
            "asymmetric" => x / scale,
            "pytorch_half_pixel" if len_out <= 1 => 0.0,
            "half_pixel_symmetric" => {
                let adjustment = len_out as f32 / (scale * len_in as f32);
                let offset = len_in as f32 / 2.0 * (1.0 - adjustment);
                offset + (x + 0.5) / scale - 0.5
            }
            "tf_half_pixel_for_nn" => (x + 0.5) / scale,
            // half_pixel, and pytorch_half_pixel over more than one output element.
            _ => (x + 0.5) / scale - 0.5,
        }
    }

    /// The row-major `[len_out, len_in]` matrix of the axis: `y[o] = sum_i m[o, i] x[i]`.
    /// A source coordinate `c` lies in cell `ceil(c) - 1` at offset `r` in `(0, 1]`; linear
    /// mode weighs the cell and the next by `1 - r` and `r`, nearest mode picks one of them
    /// by its rounding rule; positions beyond the axis read its edge.
    fn matrix(&self, scale: f32, len_in: usize, len_out: usize) -> Vec<f32> {
        let mut m = vec![0f32; len_out * len_in];
        let last = len_in as i64 - 1;
        for o in 0..len_out {
            let c = self.source(o, scale, len_in, len_out);
            let cell = c.ceil() - 1.0;
            let r = c - cell;
            let index = |k: i64| (cell as i64 + k).clamp(0, last) as usize;
            if self.linear {
                m[o * len_in + index(0)] += 1.0 - r;
                m[o * len_in + index(1)] += r;
            } else {
                let right = r == 1.0
                    || match self.nearest {
                        "floor" => false,
                        "ceil" => true,
                        "round_prefer_ceil" => r >= 0.5,
                        _ => r > 0.5,
                    };
                m[o * len_in + index(right as i64)] = 1.0;
            }
        }
        m
    }
}

/// `dx`: `g` mapped back through the transposed interpolation matrix of every resized axis.
/// Scales must be constant; sizes may be computed (the output's shape comes from the graph
/// analysis, and the scale is then `out / in`).
pub(super) fn resize(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let mut g = only(out)?.to_string();
    let (x, y) = (node.inputs[0].clone(), node.outputs[0].clone());
    let mode = node.string("mode").unwrap_or("nearest");
    let coordinates = node
        .string("coordinate_transformation_mode")
        .unwrap_or("half_pixel");
    let sampling = Sampling {
        linear: match mode {
            "nearest" => false,
            "linear" => true,
            other => return Err(format!("resize mode '{other}' is not supported")),
        },
        coordinates,
        nearest: node.string("nearest_mode").unwrap_or("round_prefer_floor"),
    };
    let known = [
        "half_pixel",
        "pytorch_half_pixel",
        "align_corners",
        "asymmetric",
        "half_pixel_symmetric",
        "tf_half_pixel_for_nn",
    ];
    if !known.contains(&coordinates) {
        return Err(format!(
            "resize coordinate transformation '{coordinates}' is not supported"
        ));
    }
    if node.int("antialias", 0) != 0 || node.int("exclude_outside", 0) != 0 {
        return Err("resize with antialias or exclude_outside is not supported".into());
    }
    if node.string("keep_aspect_ratio_policy").unwrap_or("stretch") != "stretch" {
        return Err("resize with a kept aspect ratio is not supported".into());
    }
    let (in_shape, out_shape) = (ctx.shape(&x)?, ctx.shape(&y)?);
    let rank = in_shape.len();
    if out_shape.len() != rank {
        return Err(format!("a resize from rank {rank} to {}", out_shape.len()));
    }
    let axes: Vec<usize> = match node.ints("axes") {
        Some(axes) => axes
            .iter()
            .map(|&a| super::select::positive_axis(a, rank))
            .collect::<Result<_, _>>()?,
        None => (0..rank).collect(),
    };
    let scales = match node.inputs.get(2).filter(|s| !s.is_empty()) {
        Some(name) => ctx
            .const_floats(name)
            .ok_or_else(|| format!("resize scales '{name}' are not a constant"))?,
        None => vec![],
    };
    if !scales.is_empty() && scales.len() != axes.len() {
        return Err(format!("{} scales for {} axes", scales.len(), axes.len()));
    }
    for (k, &axis) in axes.iter().enumerate() {
        let (len_in, len_out) = match (in_shape[axis], out_shape[axis]) {
            (Dim::Fixed(i), Dim::Fixed(o)) => (i, o),
            (a, b) if a == b && scales.get(k).is_none_or(|&s| s == 1.0) => continue,
            _ => {
                return Err(format!(
                    "resizing axis {axis}, which depends on the batch size"
                ))
            }
        };
        let scale = scales
            .get(k)
            .copied()
            .unwrap_or(len_out as f32 / len_in as f32);
        if len_in == len_out && scale == 1.0 {
            continue;
        }
        if len_in == 0 || len_out == 0 {
            return Err(format!("an empty resize along axis {axis}"));
        }
        let matrix = sampling.matrix(scale, len_in, len_out);
        g = map_along(ctx, &g, axis, rank, matrix, len_out, len_in);
    }
    Ok(vec![Some(g), None, None, None])
}
