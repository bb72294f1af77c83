//! 2-D convolution (NCHW): the input gradient is a transposed convolution with the same
//! weights, the weight gradient a convolution of the input by the output gradient with the
//! batch as the reduction channel, the bias gradient a sum.

use super::{only, Ctx, Grads};
use crate::onnx::{Attr, Dim, Node};

/// The sliding-window geometry of a convolution or pool over fixed spatial dims, with any
/// `auto_pad` resolved to explicit pads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Window {
    /// Spatial size of the input.
    pub input: Vec<usize>,
    /// Kernel size per spatial axis.
    pub kernel: Vec<usize>,
    /// Stride per spatial axis.
    pub strides: Vec<usize>,
    /// Dilation per spatial axis.
    pub dilations: Vec<usize>,
    /// Padding before each spatial axis.
    pub begin: Vec<usize>,
    /// Padding after each spatial axis.
    pub end: Vec<usize>,
}

impl Window {
    /// The geometry of `node` over an input of spatial size `input`, given its kernel size
    /// (the `kernel_shape` attribute of pools, the weight's trailing dims for Conv).
    pub fn of(node: &Node, input: &[usize], kernel: &[usize]) -> Result<Window, String> {
        let rank = input.len();
        if kernel.len() != rank {
            return Err(format!(
                "a kernel of {} dims over {rank} spatial dims",
                kernel.len()
            ));
        }
        let per_axis = |name: &str| -> Result<Vec<usize>, String> {
            match node.ints(name) {
                None => Ok(vec![1; rank]),
                Some(v) if v.len() == rank && v.iter().all(|&s| s >= 1) => {
                    Ok(v.iter().map(|&s| s as usize).collect())
                }
                Some(v) => Err(format!("{name} {v:?} over {rank} spatial dims")),
            }
        };
        let strides = per_axis("strides")?;
        let dilations = per_axis("dilations")?;
        if kernel.contains(&0) {
            return Err(format!("kernel {kernel:?} has an empty axis"));
        }
        let extent = |i: usize| (kernel[i] - 1) * dilations[i] + 1;
        let (begin, end) = match node.string("auto_pad").unwrap_or("NOTSET") {
            "NOTSET" => match node.ints("pads") {
                None => (vec![0; rank], vec![0; rank]),
                Some(p) if p.len() == 2 * rank && p.iter().all(|&x| x >= 0) => (
                    p[..rank].iter().map(|&x| x as usize).collect(),
                    p[rank..].iter().map(|&x| x as usize).collect(),
                ),
                Some(p) => return Err(format!("pads {p:?} over {rank} spatial dims")),
            },
            "VALID" => (vec![0; rank], vec![0; rank]),
            mode @ ("SAME_UPPER" | "SAME_LOWER") => {
                let mut begin = Vec::with_capacity(rank);
                let mut end = Vec::with_capacity(rank);
                for i in 0..rank {
                    let out = input[i].div_ceil(strides[i]);
                    let total = ((out - 1) * strides[i] + extent(i)).saturating_sub(input[i]);
                    let small = total / 2;
                    let (b, e) = if mode == "SAME_UPPER" {
                        (small, total - small)
                    } else {
                        (total - small, small)
                    };
                    begin.push(b);
                    end.push(e);
                }
                (begin, end)
            }
            other => return Err(format!("auto_pad {other} is not supported")),
        };
        for i in 0..rank {
            if input[i] + begin[i] + end[i] < extent(i) {
                return Err(format!(
                    "the kernel ({} with dilation {}) is larger than the padded input ({})",
                    kernel[i],
                    dilations[i],
                    input[i] + begin[i] + end[i]
                ));
            }
        }
        Ok(Window {
            input: input.to_vec(),
            kernel: kernel.to_vec(),
            strides,
            dilations,
            begin,
            end,
        })
    }

    /// The kernel's reach along axis `i`, dilation included.
    fn extent(&self, i: usize) -> usize {
        (self.kernel[i] - 1) * self.dilations[i] + 1
    }

    /// Padded input positions along axis `i` that no window reaches (floor rounding).
    fn remainder(&self, i: usize) -> usize {
        (self.input[i] + self.begin[i] + self.end[i] - self.extent(i)) % self.strides[i]
    }

    /// Output size along each spatial axis (floor rounding).
    pub fn output(&self) -> Vec<usize> {
        (0..self.input.len())
            .map(|i| {
                (self.input[i] + self.begin[i] + self.end[i] - self.extent(i)) / self.strides[i] + 1
            })
            .collect()
    }

    /// The attributes of the ConvTranspose that maps an output-shaped gradient back onto
    /// the input: same strides, dilations and pads, and the `output_padding` that restores
    /// the positions floor rounding dropped (never `output_shape`).
    pub fn transpose_attrs(&self) -> Vec<(&'static str, Attr)> {
        let rank = self.input.len();
        let ints = |v: &[usize]| Attr::Ints(v.iter().map(|&x| x as i64).collect());
        let pads: Vec<usize> = self.begin.iter().chain(&self.end).copied().collect();
        let output_padding: Vec<usize> = (0..rank).map(|i| self.remainder(i)).collect();
        vec![
            ("kernel_shape", ints(&self.kernel)),
            ("strides", ints(&self.strides)),
            ("dilations", ints(&self.dilations)),
            ("pads", ints(&pads)),
            ("output_padding", ints(&output_padding)),
        ]
    }
}

/// Channels and spatial dims of an `[N, C, H, W]` tensor whose batch may be symbolic.
pub(super) fn image_dims(ctx: &Ctx, x: &str) -> Result<(usize, Vec<usize>), String> {
    let shape = ctx.shape(x)?;
    if shape.len() != 4 {
        return Err(format!(
            "'{x}' has rank {}: only 2-D images (NCHW) are supported",
            shape.len()
        ));
    }
    let fixed = |d: &Dim| {
        d.fixed()
            .ok_or_else(|| format!("the channels or spatial dims of '{x}' depend on the batch"))
    };
    let channels = fixed(&shape[1])?;
    let spatial = shape[2..]
        .iter()
        .map(fixed)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((channels, spatial))
}

/// `Y = Conv(X, W) + B`, `W` `[M, C / group, kh, kw]`:
/// - `dX = ConvTranspose(g, W)` with the forward strides, dilations, pads and group, and the
///   output padding that gives back X's spatial size;
/// - `dW = g · patches(X)^T`, summed over batch and output positions (group 1);
/// - `dB = ReduceSum(g)` over batch and spatial axes.
pub(super) fn conv(ctx: &mut Ctx, node: &Node, out: &[Option<String>]) -> Grads {
    let g = only(out)?.to_string();
    let (x, w) = (node.inputs[0].clone(), node.inputs[1].clone());
    let (channels, spatial) = image_dims(ctx, &x)?;
    let w_shape = ctx.fixed_shape(&w)?;
    if w_shape.len() != 4 {
        return Err(format!("weight '{w}' of rank {}", w_shape.len()));
    }
    if let Some(k) = node.ints("kernel_shape") {
        if k.iter()
            .map(|&k| k as usize)
            .ne(w_shape[2..].iter().copied())
        {
            return Err(format!(
                "kernel_shape {k:?} differs from the weight's {:?}",
                &w_shape[2..]
            ));
        }
    }
    let group = node.int("group", 1);
    let group = usize::try_from(group)
        .ok()
        .filter(|&g| g >= 1 && channels % g == 0 && w_shape[0] % g == 0)
        .ok_or_else(|| format!("group {group} does not divide the channels"))?;
    if w_shape[1] * group != channels {
        return Err(format!(
            "weight '{w}' {w_shape:?} does not match {channels} input channels in {group} groups"
        ));
    }
    let window = Window::of(node, &spatial, &w_shape[2..])?;

    let dx = if ctx.needs(&x) {
        let mut attrs = window.transpose_attrs();
        attrs.push(("group", Attr::Int(group as i64)));
        Some(ctx.emit("ConvTranspose", &[&g, &w], attrs))
    } else {
        None
    };

    let dw = if ctx.needs(&w) {
        if group != 1 {
            return Err(format!(
                "the weight gradient of a grouped convolution (group {group}) is not supported"
            ));
        }
        Some(weight_gradient(ctx, &x, &g, &window, channels, w_shape[0]))
    } else {
        None
    };

    let db = match node.input(2) {
        Some(b) if ctx.needs(b) => {
            let axes = ctx.ints(&[0, 2, 3]);
            Some(ctx.emit("ReduceSum", &[&g, &axes], vec![("keepdims", Attr::Int(0))]))
        }
        _ => None,
    };
    Ok(vec![dx, dw, db])
}

/// `dW[m, c, i, j] = sum_{n, a, b} g[n, m, a, b] Xpad[n, c, a s + i d, b s + j d]`, as one
/// matrix product over `(n, a, b)`. The patches `Xpad[n, c, a s + i d, b s + j d]` come from a
/// convolution of each `(n, c)` plane by a constant one-hot kernel `[kh kw, 1, kh, kw]` with
/// the forward strides, dilations and pads. Every kernel here is a constant: tract needs
/// kernel shapes that do not depend on the batch size.
fn weight_gradient(
    ctx: &mut Ctx,
    x: &str,
    g: &str,
    window: &Window,
    channels: usize,
    outputs: usize,
) -> String {
    let ints = |v: &[usize]| Attr::Ints(v.iter().map(|&x| x as i64).collect());
    let (kh, kw) = (window.kernel[0], window.kernel[1]);
    let taps = kh * kw;
    let (h, w) = (window.input[0], window.input[1]);
    let out = window.output();
    let positions = (out[0] * out[1]) as i64;

    // Patches: [N C, 1, H, W] -> [N C, kh kw, Ho, Wo] -> [N, C kh kw, Ho Wo].
    let planes = ctx.ints(&[-1, 1, h as i64, w as i64]);
    let planes = ctx.emit("Reshape", &[x, &planes], vec![]);
    let mut one_hot = vec![0.0; taps * taps];
    for t in 0..taps {
        one_hot[t * taps + t] = 1.0;
    }
    let one_hot = ctx.floats(&[taps, 1, kh, kw], one_hot);
    let pads: Vec<usize> = window.begin.iter().chain(&window.end).copied().collect();
    let patches = ctx.emit(
        "Conv",
        &[&planes, &one_hot],
        vec![
            ("kernel_shape", ints(&window.kernel)),
            ("strides", ints(&window.strides)),
            ("dilations", ints(&window.dilations)),
            ("pads", ints(&pads)),
        ],
    );
    let per_sample = ctx.ints(&[-1, (channels * taps) as i64, positions]);
    let patches = ctx.emit("Reshape", &[&patches, &per_sample], vec![]);
    // [C kh kw, N Ho Wo]
    let patches = ctx.emit(
        "Transpose",
        &[&patches],
        vec![("perm", Attr::Ints(vec![1, 0, 2]))],
    );
    let rows = ctx.ints(&[(channels * taps) as i64, -1]);
    let patches = ctx.emit("Reshape", &[&patches, &rows], vec![]);
    // [M, N Ho Wo]
    let gt = ctx.emit(
        "Transpose",
        &[g],
        vec![("perm", Attr::Ints(vec![1, 0, 2, 3]))],
    );
    let rows = ctx.ints(&[outputs as i64, -1]);
    let gt = ctx.emit("Reshape", &[&gt, &rows], vec![]);
    // [M, C kh kw] -> [M, C, kh, kw]
    let dw = ctx.emit("Gemm", &[&gt, &patches], vec![("transB", Attr::Int(1))]);
    let shape = ctx.ints(&[outputs as i64, channels as i64, kh as i64, kw as i64]);
    ctx.emit("Reshape", &[&dw, &shape], vec![])
}
