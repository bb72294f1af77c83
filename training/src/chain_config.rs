//! Chain configurations (`models/chains/*.toml`): which networks to train, how they are
//! linked, at which temperatures, and how. The format is documented in
//! `models/chains/README.md`; every field is checked before anything is trained.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use robustaudit_graph::arch::ArchSpec;
use robustaudit_graph::grad::Optimizer;

use crate::error::{Result, TrainError};

/// A validated chain configuration.
#[derive(Clone, Debug)]
pub struct ChainConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its text, recorded in every export's metadata.
    pub text: String,
    /// The run's name (default output folder `models/runs/<name>`).
    pub name: String,
    /// The dataset spec (`mnist`, `fashion-mnist`, `digits`, `cifar10:<dir>`, `*.npy`).
    pub dataset: String,
    /// Training temperatures; each chain is trained at each of them.
    pub temperatures: Vec<f32>,
    /// Seeds shuffling, dropout and initial weights.
    pub seed: u64,
    /// Whether every network starts from the weights seeded by `seed` alone (networks of
    /// one architecture then start identical), instead of a seed per network.
    pub shared_init: bool,
    /// Epochs of the shared pretraining (the paper's): when above 0, one network per
    /// architecture is first trained that long on hard labels at T = 1, and every network of
    /// that architecture starts from its weights.
    pub pretrain_epochs: usize,
    /// Weight of the soft-label term of a child's loss; 0 trains children on soft labels
    /// only (defensive distillation), above 0 mixes in the hard labels (TAKD).
    pub lambda: f32,
    /// A network trained undistilled (hard labels, T = 1) as the baseline, if any.
    pub baseline: Option<String>,
    /// Epochs, batch, optimiser and data subsets.
    pub training: TrainingSection,
    /// Networks by name, with their architectures.
    pub networks: BTreeMap<String, ArchSpec>,
    /// The chains: named sequences of networks, teacher first.
    pub chains: Vec<Chain>,
}

/// One chain: the teacher, then each network distilled from the one before.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    /// Its name (e.g. `distillation`, `teacher-assistant`).
    pub name: String,
    /// Network names, teacher first.
    pub hops: Vec<String>,
}

/// The `[training]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingSection {
    /// Passes over the training set per network.
    pub epochs: usize,
    /// Images per step.
    pub batch: usize,
    /// Base learning rate.
    pub learning_rate: f32,
    /// The optimiser.
    pub optimizer: Optimizer,
    /// The first this many training images (0: all).
    pub train_samples: usize,
    /// The first this many test images (0: all).
    pub test_samples: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: String,
    dataset: String,
    temperatures: Spanned<Vec<Spanned<f32>>>,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    shared_init: bool,
    #[serde(default)]
    pretrain_epochs: usize,
    #[serde(default)]
    lambda: Option<Spanned<f32>>,
    #[serde(default)]
    baseline: Option<Spanned<String>>,
    #[serde(default)]
    training: Option<RawTraining>,
    networks: BTreeMap<String, Spanned<String>>,
    chains: Spanned<Vec<RawChain>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChain {
    name: Spanned<String>,
    hops: Spanned<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTraining {
    #[serde(default = "default_epochs")]
    epochs: Spanned<usize>,
    #[serde(default = "default_batch")]
    batch: Spanned<usize>,
    #[serde(default = "default_optimizer")]
    optimizer: Spanned<String>,
    #[serde(default = "default_learning_rate")]
    learning_rate: Spanned<f32>,
    #[serde(default = "default_momentum")]
    momentum: f32,
    #[serde(default = "default_nesterov")]
    nesterov: bool,
    #[serde(default = "default_lr_decay")]
    lr_decay: f32,
    #[serde(default)]
    weight_decay: f32,
    #[serde(default)]
    train_samples: usize,
    #[serde(default)]
    test_samples: usize,
}

fn spanned<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}
fn default_epochs() -> Spanned<usize> {
    spanned(50)
}
fn default_batch() -> Spanned<usize> {
    spanned(128)
}
fn default_optimizer() -> Spanned<String> {
    spanned("sgd".into())
}
fn default_learning_rate() -> Spanned<f32> {
    spanned(0.01)
}
fn default_momentum() -> f32 {
    0.9
}
fn default_nesterov() -> bool {
    true
}
fn default_lr_decay() -> f32 {
    1e-6
}

/// Builds the optimiser named `name` (`sgd` or `adam`) with the given coefficients.
pub fn optimizer(
    name: &str,
    momentum: f32,
    nesterov: bool,
    lr_decay: f32,
    weight_decay: f32,
) -> Option<Optimizer> {
    match name {
        "sgd" => Some(Optimizer::Sgd {
            momentum,
            nesterov,
            weight_decay,
            lr_decay,
        }),
        "adam" => Some(Optimizer::adam(weight_decay, lr_decay)),
        _ => None,
    }
}

impl ChainConfig {
    /// Reads and validates the configuration at `path`; architecture files are resolved
    /// relative to its folder.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::Config {
            path: path.to_path_buf(),
            location: String::new(),
            message: format!("cannot be read: {e}"),
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses and validates `text`, read from `path`.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self> {
        let at = |span: std::ops::Range<usize>, field: &str| {
            if span.is_empty() && span.start == 0 {
                return field.to_string();
            }
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            if field.is_empty() {
                format!("line {line}")
            } else {
                format!("line {line}, {field}")
            }
        };
        let fail = |location: String, message: String| -> TrainError {
            TrainError::Config {
                path: path.to_path_buf(),
                location,
                message,
            }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let location = e.span().map(|s| at(s, "")).unwrap_or_default();
            fail(location, e.message().trim().to_string())
        })?;
        let temperatures_span = raw.temperatures.span();
        let temperatures: Vec<f32> = raw
            .temperatures
            .into_inner()
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let value = *t.get_ref();
                if value.is_finite() && value > 0.0 {
                    Ok(value)
                } else {
                    Err(fail(
                        at(t.span(), &format!("temperatures[{i}]")),
                        format!("temperature {value} must be a positive number"),
                    ))
                }
            })
            .collect::<Result<_>>()?;
        if temperatures.is_empty() {
            return Err(fail(
                at(temperatures_span, "temperatures"),
                "at least one temperature is needed".into(),
            ));
        }
        let lambda = match raw.lambda {
            Some(l) if !(0.0..=1.0).contains(l.get_ref()) => {
                return Err(fail(
                    at(l.span(), "lambda"),
                    format!("lambda {} must lie in [0, 1]", l.get_ref()),
                ))
            }
            Some(l) => l.into_inner(),
            None => 0.0,
        };
        let t = raw.training.unwrap_or(RawTraining {
            epochs: default_epochs(),
            batch: default_batch(),
            optimizer: default_optimizer(),
            learning_rate: default_learning_rate(),
            momentum: default_momentum(),
            nesterov: default_nesterov(),
            lr_decay: default_lr_decay(),
            weight_decay: 0.0,
            train_samples: 0,
            test_samples: 0,
        });
        for (value, field) in [(&t.epochs, "training.epochs"), (&t.batch, "training.batch")] {
            if *value.get_ref() == 0 {
                return Err(fail(
                    at(value.span(), field),
                    format!("{field} must be at least 1"),
                ));
            }
        }
        let lr = *t.learning_rate.get_ref();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(fail(
                at(t.learning_rate.span(), "training.learning_rate"),
                format!("learning rate {lr} must be a positive number"),
            ));
        }
        let optimizer = optimizer(
            t.optimizer.get_ref(),
            t.momentum,
            t.nesterov,
            t.lr_decay,
            t.weight_decay,
        )
        .ok_or_else(|| {
            fail(
                at(t.optimizer.span(), "training.optimizer"),
                format!(
                    "unknown optimizer '{}' (sgd or adam)",
                    t.optimizer.get_ref()
                ),
            )
        })?;
        let folder = path.parent().unwrap_or(Path::new("."));
        let mut networks = BTreeMap::new();
        for (name, arch) in raw.networks {
            let arch_path = folder.join(arch.get_ref());
            let spec = ArchSpec::from_file(&arch_path)
                .map_err(|e| fail(at(arch.span(), &format!("networks.{name}")), e.to_string()))?;
            networks.insert(name, spec);
        }
        let chains_span = raw.chains.span();
        let mut chains = Vec::new();
        for (i, chain) in raw.chains.into_inner().into_iter().enumerate() {
            let hops_span = chain.hops.span();
            let hops: Vec<String> = chain
                .hops
                .into_inner()
                .into_iter()
                .enumerate()
                .map(|(j, hop)| {
                    if networks.contains_key(hop.get_ref()) {
                        Ok(hop.into_inner())
                    } else {
                        Err(fail(
                            at(hop.span(), &format!("chains[{i}].hops[{j}]")),
                            format!("no network named '{}' in [networks]", hop.get_ref()),
                        ))
                    }
                })
                .collect::<Result<_>>()?;
            if hops.is_empty() {
                return Err(fail(
                    at(hops_span, &format!("chains[{i}].hops")),
                    "a chain needs at least its teacher".into(),
                ));
            }
            let name = chain.name.into_inner();
            if chains.iter().any(|c: &Chain| c.name == name) {
                return Err(fail(
                    at(chains_span.clone(), &format!("chains[{i}].name")),
                    format!("two chains are named '{name}'"),
                ));
            }
            chains.push(Chain { name, hops });
        }
        if chains.is_empty() {
            return Err(fail(
                at(chains_span, "chains"),
                "at least one chain is needed".into(),
            ));
        }
        let baseline = match raw.baseline {
            Some(b) if !networks.contains_key(b.get_ref()) => {
                return Err(fail(
                    at(b.span(), "baseline"),
                    format!("no network named '{}' in [networks]", b.get_ref()),
                ))
            }
            other => other.map(Spanned::into_inner),
        };
        Ok(ChainConfig {
            path: path.to_path_buf(),
            text: text.to_string(),
            name: raw.name,
            dataset: raw.dataset,
            temperatures,
            seed: raw.seed,
            shared_init: raw.shared_init,
            pretrain_epochs: raw.pretrain_epochs,
            lambda,
            baseline,
            training: TrainingSection {
                epochs: t.epochs.into_inner(),
                batch: t.batch.into_inner(),
                learning_rate: lr,
                optimizer,
                train_samples: t.train_samples,
                test_samples: t.test_samples,
            },
            networks,
            chains,
        })
    }

    /// Checks every network against the dataset's image shape `[c, h, w]` and class count.
    pub fn check_against(&self, chw: [usize; 3], classes: usize) -> Result<()> {
        for (name, spec) in &self.networks {
            if spec.input != chw || spec.classes != classes {
                return Err(TrainError::Config {
                    path: self.path.clone(),
                    location: format!("networks.{name}"),
                    message: format!(
                        "{} takes {:?} images and {} classes, {} has {:?} and {}",
                        spec.name, spec.input, spec.classes, self.dataset, chw, classes
                    ),
                });
            }
        }
        Ok(())
    }
}
