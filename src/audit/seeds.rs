//! One random stream per attack run, derived from everything that identifies the run and
//! nothing else: the results never depend on the order runs are scheduled in, on the
//! thread count, or on which other models, attacks and budgets share the audit.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// What identifies one attack run.
#[derive(Debug, Clone, Copy)]
pub struct RunKey<'a> {
    /// The audit's `--seed`.
    pub seed: u64,
    /// The model's identity (the SHA-256 of its file).
    pub model: &'a str,
    /// The attack's registry name.
    pub attack: &'a str,
    /// The budget, if the attack has one.
    pub budget: Option<f64>,
    /// The sample's index in the data.
    pub sample: usize,
    /// The target class of a targeted run.
    pub target: Option<usize>,
}

impl RunKey<'_> {
    /// A ChaCha8 generator seeded with the SHA-256 of the key's fields.
    pub fn rng(&self) -> ChaCha8Rng {
        let mut hash = Sha256::new();
        hash.update(b"robustaudit attack run\0");
        hash.update(self.seed.to_le_bytes());
        for text in [self.model, self.attack] {
            hash.update((text.len() as u64).to_le_bytes());
            hash.update(text.as_bytes());
        }
        hash.update(self.budget.map_or(u64::MAX, f64::to_bits).to_le_bytes());
        hash.update((self.sample as u64).to_le_bytes());
        hash.update(self.target.map_or(u64::MAX, |t| t as u64).to_le_bytes());
        ChaCha8Rng::from_seed(hash.finalize().into())
    }
}
