//! Splitting a batch into fixed-size chunks that rayon runs in parallel. The chunk size does
//! not depend on the thread count, so results do not either.

use ndarray::{concatenate, Array, ArrayView4, Axis, Dimension, RemoveAxis};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Samples per parallel chunk: small enough that a batch of 32 keeps two cores busy, large
/// enough that each tract run amortises its overhead.
pub const CHUNK: usize = 16;

/// `f(first_sample, chunk)` applied to consecutive chunks of `images` in parallel, results
/// in chunk order.
pub(super) fn par_chunks<T, F>(images: ArrayView4<f32>, f: F) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(usize, ArrayView4<f32>) -> Result<T> + Sync,
{
    let chunks: Vec<ArrayView4<f32>> = images.axis_chunks_iter(Axis(0), CHUNK).collect();
    chunks
        .into_par_iter()
        .enumerate()
        .map(|(i, chunk)| f(i * CHUNK, chunk))
        .collect()
}

/// Chunk results joined along the sample axis.
pub(super) fn join<D: Dimension + RemoveAxis>(parts: &[Array<f32, D>]) -> Result<Array<f32, D>> {
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    concatenate(Axis(0), &views).map_err(|e| Error::Internal {
        message: format!("joining per-chunk results failed: {e}"),
    })
}
