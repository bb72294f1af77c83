//! 2-D transposed convolution (NCHW). Its input gradient is the convolution it transposes:
//! `dx = Conv(g, W)` with the same strides, dilations, pads and group; ConvTranspose's weight
//! `[C_in, C_out / group, kh, kw]` is exactly Conv's `[M, C / group, kh, kw]` for the map from
//! `C_out` back to `C_in` channels. Output padding only appends positions that no input
//! reaches beyond the last stride, so Conv's floor rounding drops them again.

use super::conv::image_dims;
use super::{only, Ctx, Grads};
use crate::onnx::{Attr, Node};

/// `dx = Conv(g, W)` (strides, dilations, pads, group of the forward node). Explicit pads (or
/// `auto_pad` VALID) only; weight and bias gradients (training) are refused.
pub(super) fn conv_transpose(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let (x, w) = (node.inputs[0].clone(), node.inputs[1].clone());
    let (channels, spatial) = image_dims(ctx, &x)?;
    let w_shape = ctx.fixed_shape(&w)?;
    if w_shape.len() != 4 || w_shape[0] != channels {
        return Err(format!(
            "weight '{w}' {w_shape:?} does not match {channels} input channels"
        ));
    }
    if ctx.needs(&w) || node.input(2).is_some_and(|b| ctx.needs(b)) {
        return Err(
            "the weight and bias gradients of a transposed convolution are not supported".into(),
        );
    }
    if node.attr("output_shape").is_some() {
        return Err("a transposed convolution with output_shape is not supported".into());
    }
    let auto_pad = node.string("auto_pad").unwrap_or("NOTSET");
    if !["NOTSET", "VALID"].contains(&auto_pad) {
        return Err(format!(
            "a transposed convolution with auto_pad {auto_pad} is not supported"
        ));
    }
    let per_axis = |name: &str, default: i64, len: usize| -> Result<Vec<i64>, String> {
        match node.ints(name) {
            None => Ok(vec![default; len]),
            Some(v) if v.len() == len && v.iter().all(|&s| s >= 0) => Ok(v.to_vec()),
            Some(v) => Err(format!("{name} {v:?} over {} spatial dims", spatial.len())),
        }
    };
    let rank = spatial.len();
    let strides = per_axis("strides", 1, rank)?;
    let dilations = per_axis("dilations", 1, rank)?;
    let output_padding = per_axis("output_padding", 0, rank)?;
    let pads = if auto_pad == "VALID" {
        vec![0; 2 * rank]
    } else {
        per_axis("pads", 0, 2 * rank)?
    };
    if strides.contains(&0) || dilations.contains(&0) {
        return Err("a stride or dilation of 0".into());
    }
    if output_padding.iter().zip(&strides).any(|(p, s)| p >= s) {
        return Err(format!(
            "output_padding {output_padding:?} is not smaller than strides {strides:?}"
        ));
    }
    let group = node.int("group", 1);
    if group < 1 || channels % group as usize != 0 {
        return Err(format!("group {group} does not divide {channels} channels"));
    }
    let dx = ctx.emit(
        "Conv",
        &[&g, &w],
        vec![
            (
                "kernel_shape",
                Attr::Ints(w_shape[2..].iter().map(|&k| k as i64).collect()),
            ),
            ("strides", Attr::Ints(strides)),
            ("dilations", Attr::Ints(dilations)),
            ("pads", Attr::Ints(pads)),
            ("group", Attr::Int(group)),
        ],
    );
    Ok(vec![Some(dx), None, None])
}
