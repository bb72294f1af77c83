//! Splitting a batch into chunks that rayon runs in parallel: at most [`CHUNK`] images each,
//! as many chunks as keep every thread of the pool busy, their sizes within one of each
//! other (18 images on 2 threads run as 9 + 9, not 16 + 2 with one thread idle most of the
//! time). Results do not depend on the split: tract computes each image the same whatever
//! batch it runs in (the audit's tests compare thread counts and batch compositions).

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
    let mut start = 0;
    let chunks: Vec<(usize, ArrayView4<f32>)> =
        chunk_sizes(images.shape()[0], rayon::current_num_threads())
            .into_iter()
            .map(|n| {
                let chunk = images.slice_axis(Axis(0), (start..start + n).into());
                start += n;
                (start - n, chunk)
            })
            .collect();
    chunks
        .into_par_iter()
        .map(|(first, chunk)| f(first, chunk))
        .collect()
}

/// The sizes of the chunks `n` images run in on `threads` threads: at most [`CHUNK`] each,
/// a multiple of `threads` chunks where there are enough images, sizes within one.
fn chunk_sizes(n: usize, threads: usize) -> Vec<usize> {
    let threads = threads.max(1);
    let chunks = n.div_ceil(CHUNK).div_ceil(threads) * threads;
    let chunks = chunks.min(n);
    (0..chunks)
        .map(|i| n / chunks + usize::from(i < n % chunks))
        .collect()
}

/// Chunk results joined along the sample axis.
pub(super) fn join<D: Dimension + RemoveAxis>(parts: &[Array<f32, D>]) -> Result<Array<f32, D>> {
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    concatenate(Axis(0), &views).map_err(|e| Error::Internal {
        message: format!("joining per-chunk results failed: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_balanced_over_the_threads_and_never_exceed_the_chunk_size() {
        assert_eq!(chunk_sizes(18, 2), vec![9, 9]);
        assert_eq!(chunk_sizes(64, 2), vec![16; 4]);
        assert_eq!(chunk_sizes(33, 2), vec![9, 8, 8, 8]);
        assert_eq!(chunk_sizes(1, 4), vec![1]);
        assert_eq!(chunk_sizes(0, 2), Vec::<usize>::new());
        for threads in 1..6 {
            for n in 0..200 {
                let sizes = chunk_sizes(n, threads);
                assert_eq!(sizes.iter().sum::<usize>(), n, "{n} on {threads}");
                assert!(sizes.iter().all(|&s| (1..=CHUNK).contains(&s)), "{sizes:?}");
                let (lo, hi) = (sizes.iter().min(), sizes.iter().max());
                assert!(hi.zip(lo).is_none_or(|(h, l)| h - l <= 1), "{sizes:?}");
                if n >= threads {
                    assert_eq!(sizes.len() % threads, 0, "{n} on {threads}: {sizes:?}");
                }
            }
        }
    }
}
