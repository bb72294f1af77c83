//! What a report folder is part of, written to its `shard.csv`: which shard of how many,
//! which samples, and every setting that decides the audit's results, with a fingerprint
//! of those settings. `robustaudit merge` joins only folders of one fingerprint.

use ndarray::ArrayView4;
use sha2::{Digest, Sha256};

use crate::audit::{ModelInfo, PlannedAttack, Shard};
use robustaudit_graph::hex::hex;

/// The row of `shard.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardRecord {
    /// Which shard of how many; [`Shard::WHOLE`] for an unsharded audit.
    pub shard: Shard,
    /// Samples of the whole audit (all shards).
    pub samples: usize,
    /// The dataset as given to `--data`.
    pub data: String,
    /// The split.
    pub split: String,
    /// [`data_sha256`] of the audit's images and labels (all shards').
    pub data_sha256: String,
    /// The audit's `--seed`.
    pub seed: u64,
    /// The attacks with their parameters, from [`describe_attacks`].
    pub attacks: String,
    /// The L-infinity radii, from [`describe_radii`].
    pub eps: String,
    /// The L2 radii, from [`describe_radii`].
    pub eps_l2: String,
    /// The models with their hashes and input ranges, from [`describe_models`].
    pub models: String,
    /// Whether candidates are kept (`--save-examples`).
    pub examples: bool,
    /// The digests of the folder's report files (see `digests.rs`), filled in by
    /// [`super::write_audit`] once they are written; not a setting, so not fingerprinted.
    pub digests: String,
}

impl ShardRecord {
    /// The settings that decide the audit's results, by `shard.csv` column name, in column
    /// order.
    pub fn settings(&self) -> [(&'static str, String); 10] {
        [
            ("samples", self.samples.to_string()),
            ("data", self.data.clone()),
            ("split", self.split.clone()),
            ("data_sha256", self.data_sha256.clone()),
            ("seed", self.seed.to_string()),
            ("attacks", self.attacks.clone()),
            ("eps", self.eps.clone()),
            ("eps_l2", self.eps_l2.clone()),
            ("models", self.models.clone()),
            ("examples", self.examples.to_string()),
        ]
    }

    /// SHA-256 of [`ShardRecord::settings`], lowercase hex: equal for every shard of one
    /// audit.
    pub fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(b"robustaudit audit settings\0");
        for (name, value) in self.settings() {
            for text in [name, value.as_str()] {
                hash.update((text.len() as u64).to_le_bytes());
                hash.update(text.as_bytes());
            }
        }
        hex(&hash.finalize())
    }
}

/// SHA-256 of a batch of images (shape and f32 values) and its labels, lowercase hex.
pub fn data_sha256(images: ArrayView4<f32>, labels: Option<&[usize]>) -> String {
    let mut hash = Sha256::new();
    hash.update(b"robustaudit audit data\0");
    for &d in images.shape() {
        hash.update((d as u64).to_le_bytes());
    }
    for v in images.iter() {
        hash.update(v.to_le_bytes());
    }
    match labels {
        Some(labels) => {
            hash.update([1]);
            for &l in labels {
                hash.update((l as u64).to_le_bytes());
            }
        }
        None => hash.update([0]),
    }
    hex(&hash.finalize())
}

/// `name(param=value ...)` per attack, in audit order, separated by `; `.
pub fn describe_attacks(attacks: &[PlannedAttack]) -> String {
    attacks
        .iter()
        .map(|a| format!("{}({})", a.attack.name(), a.params.describe()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The radii in shortest round-trip form, separated by commas.
pub fn describe_radii(radii: &[f64]) -> String {
    radii
        .iter()
        .map(|r| format!("{r}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `name (sha256, input range)` per model, in audit order, separated by `; `.
pub fn describe_models(models: &[ModelInfo]) -> String {
    models
        .iter()
        .map(|m| format!("{} ({}, input {})", m.name, m.sha256, m.input))
        .collect::<Vec<_>>()
        .join("; ")
}
