//! Tests of LayerNormalization, InstanceNormalization and GroupNormalization input
//! gradients.

use super::tests::{assert_close_discriminating, dense_head, gradients, model_at, uniform};
use crate::onnx::{Attr, GraphBuilder, OnnxModel};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `op(x, scale, bias)` with seeded weights of `weights` values, then the dense head.
fn normalised(
    opset: i64,
    op: &str,
    weights: usize,
    attrs: &[(&str, Attr)],
    seed: u64,
) -> OnnxModel {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    model_at(opset, [4, 2, 3], 4, |b: &mut GraphBuilder| {
        b.initializer("scale", &[weights], &uniform(&mut rng, weights, 0.5, 1.5));
        b.initializer("bias", &[weights], &uniform(&mut rng, weights, -0.5, 0.5));
        b.node(op, &["x", "scale", "bias"], &["y"], attrs);
        dense_head(b, "y", 24, 4, seed + 1)
    })
}

#[test]
fn layer_norm_over_the_last_axis_and_the_last_two() {
    // x [N, 4, 2, 3]: axis -1 normalises groups of 3 (weights [3]); axis 2 groups of 6.
    for (i, (axis, weights)) in [(-1i64, 3usize), (2, 6)].into_iter().enumerate() {
        let m = model_at(17, [4, 2, 3], 4, |b| {
            let mut rng = ChaCha8Rng::seed_from_u64(140);
            let dims: Vec<usize> = if weights == 3 { vec![3] } else { vec![2, 3] };
            b.initializer("scale", &dims, &uniform(&mut rng, weights, 0.5, 1.5));
            b.initializer("bias", &dims, &uniform(&mut rng, weights, -0.5, 0.5));
            b.node(
                "LayerNormalization",
                &["x", "scale", "bias"],
                &["y"],
                &[("axis", Attr::Int(axis)), ("epsilon", Attr::Float(1e-5))],
            );
            dense_head(b, "y", 24, 4, 141)
        });
        let (a, n) = gradients(&m, 3, 1e-3, 142 + i as u64);
        assert_close_discriminating(&a, &n, 2e-3);
    }
}

#[test]
fn instance_norm_per_channel() {
    let m = normalised(17, "InstanceNormalization", 4, &[], 150);
    let (a, n) = gradients(&m, 3, 1e-2, 152);
    assert_close_discriminating(&a, &n, 2e-3);
}

#[test]
fn group_norm_weights_per_group_at_18_and_per_channel_at_21() {
    let groups = [("num_groups", Attr::Int(2))];
    for (i, (opset, weights)) in [(18, 2usize), (21, 4)].into_iter().enumerate() {
        let m = normalised(opset, "GroupNormalization", weights, &groups, 160);
        let (a, n) = gradients(&m, 3, 1e-2, 162 + i as u64);
        assert_close_discriminating(&a, &n, 2e-3);
    }
}
