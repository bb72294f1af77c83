//! Splitting an audit's samples over machines: shard `k` of `n` (`k` from 0, as Slurm's
//! `SLURM_ARRAY_TASK_ID` of `--array=0-(n-1)` and Kubernetes' `JOB_COMPLETION_INDEX`
//! count) takes a contiguous run of whole blocks of [`CHUNK`] samples.
//!
//! The samples `0..total` form `B = ceil(total / CHUNK)` blocks, block `b` holding samples
//! `b * CHUNK .. min((b + 1) * CHUNK, total)`; shard `k` takes blocks
//! `floor(k * B / n) .. floor((k + 1) * B / n)`. Every sample lies in exactly one shard,
//! shard sizes differ by at most one block, and a shard is empty when `n > B`.
//!
//! Whole blocks keep every forward pass that decides a reported number in the same batch
//! as in an unsharded audit: the model runs batches in chunks of [`CHUNK`] counted from the
//! first sample, and the auditor verifies candidates block by block, so a shard's records
//! are those of the unsharded audit, bit for bit.

use std::fmt;
use std::ops::Range;

use crate::error::{Error, Result};
use crate::model::CHUNK;

/// The most shards an audit may be split into: far more machines than any job array has,
/// and small enough that `merge` can list the missing ones.
pub const MAX_SHARDS: usize = 1 << 20;

/// Shard `index` of `count`, with `index < count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: usize,
    /// How many shards the samples are split into.
    pub count: usize,
}

impl Shard {
    /// The whole audit as one shard.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Parses `K/N`; bad text, `N = 0`, `N >` [`MAX_SHARDS`] and `K >= N` are usage errors.
    pub fn parse(text: &str) -> Result<Shard> {
        let parts = text.split_once('/');
        let count = parts.and_then(|(_, n)| n.trim().parse::<usize>().ok());
        let example = count.filter(|&n| n > 0 && n <= MAX_SHARDS).unwrap_or(4);
        let usage = |message: String| Error::Usage {
            message,
            hint: Some(format!(
                "shards count from 0: --shard 0/{example} to --shard {}/{example} (a slurm \
                 array --array=0-{} with --shard $SLURM_ARRAY_TASK_ID/{example})",
                example - 1,
                example - 1
            )),
        };
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if let Some((k, n)) = parts.map(|(k, n)| (k.trim(), n.trim())) {
            // Digits too many for a number are a number far beyond the limit, not a typo.
            if digits(k) && digits(n) {
                if count.is_none_or(|c| c > MAX_SHARDS) {
                    return Err(usage(format!(
                        "--shard `{text}`: {n} shards are more than the {MAX_SHARDS} supported"
                    )));
                }
                if k.parse::<usize>().is_err() {
                    return Err(usage(format!(
                        "--shard `{text}`: there is no shard {k} of {n}"
                    )));
                }
            }
        }
        let index = parts.and_then(|(k, _)| k.trim().parse::<usize>().ok());
        let (Some(index), Some(count)) = (index, count) else {
            return Err(usage(format!("--shard `{text}` is not K/N")));
        };
        if count == 0 {
            return Err(usage(format!(
                "--shard `{text}` splits the samples into 0 shards"
            )));
        }
        if index >= count {
            return Err(usage(format!(
                "--shard `{text}`: there is no shard {index} of {count}"
            )));
        }
        Ok(Shard { index, count })
    }

    /// The samples of this shard among `0..total`.
    pub fn samples(self, total: usize) -> Range<usize> {
        let blocks = total.div_ceil(CHUNK);
        // In u128 so that no count and total, however large, overflow the product.
        let block = |k: usize| {
            let b = k as u128 * blocks as u128 / self.count.max(1) as u128;
            usize::try_from(b).unwrap_or(blocks)
        };
        let edge = |b: usize| (b * CHUNK).min(total);
        edge(block(self.index))..edge(block(self.index + 1))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit_code::Exit;

    #[test]
    fn shards_cover_every_sample_once_in_whole_blocks() {
        for total in [0, 1, 15, 16, 17, 100, 1000, 10000] {
            for count in [1, 2, 3, 4, 7, 64, 700] {
                let ranges: Vec<Range<usize>> = (0..count)
                    .map(|index| Shard { index, count }.samples(total))
                    .collect();
                let mut next = 0;
                for r in &ranges {
                    assert_eq!(r.start, next, "{total} samples, {count} shards: {ranges:?}");
                    assert!(r.start <= r.end);
                    assert_eq!(r.start % CHUNK, 0);
                    assert!(r.end == total || r.end % CHUNK == 0, "{r:?} of {total}");
                    next = r.end;
                }
                assert_eq!(next, total, "{total} samples, {count} shards");
                let blocks: Vec<usize> = ranges.iter().map(|r| r.len().div_ceil(CHUNK)).collect();
                let (lo, hi) = (blocks.iter().min(), blocks.iter().max());
                assert!(hi.zip(lo).is_some_and(|(h, l)| h - l <= 1), "{blocks:?}");
            }
        }
        assert_eq!(Shard::WHOLE.samples(37), 0..37);
        assert_eq!(Shard { index: 1, count: 3 }.samples(100), 32..64);
        assert_eq!(Shard { index: 2, count: 3 }.samples(100), 64..100);
    }

    #[test]
    fn huge_shard_numbers_do_not_overflow_the_sample_split() {
        let last = Shard {
            index: usize::MAX - 1,
            count: usize::MAX,
        };
        let total = usize::MAX / 2;
        assert_eq!(last.samples(total).end, total);
        assert_eq!(
            Shard::parse("1048575/1048576").expect("valid").count,
            MAX_SHARDS
        );
    }

    #[test]
    fn shard_text_is_k_of_n_counted_from_zero() {
        assert_eq!(
            Shard::parse("0/4").expect("valid"),
            Shard { index: 0, count: 4 }
        );
        assert_eq!(
            Shard::parse("3/4").expect("valid"),
            Shard { index: 3, count: 4 }
        );
        assert_eq!(Shard::parse("3/4").expect("valid").to_string(), "3/4");
        for (text, message) in [
            ("4/4", "there is no shard 4 of 4"),
            ("1/0", "into 0 shards"),
            ("0/0", "into 0 shards"),
            ("2", "is not K/N"),
            ("a/4", "is not K/N"),
            ("-1/4", "is not K/N"),
            ("1/4/2", "is not K/N"),
            ("", "is not K/N"),
            ("1/99999999999999999999", "more than the 1048576 supported"),
            (
                "99999999999999999999999/99999999999999999999999",
                "more than the 1048576 supported",
            ),
            (
                "18446744073709551614/18446744073709551615",
                "more than the 1048576 supported",
            ),
            ("0/1048577", "more than the 1048576 supported"),
            (
                "99999999999999999999/4",
                "there is no shard 99999999999999999999 of 4",
            ),
        ] {
            let err = Shard::parse(text).expect_err(text);
            assert_eq!(err.exit_code(), Exit::Usage, "{text}");
            assert!(err.to_string().contains(message), "{text}: {err}");
            assert!(err.hint().is_some_and(|h| h.contains("0/4")), "{text}");
        }
    }
}
