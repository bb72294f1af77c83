//! Running a chain configuration: the undistilled baseline, then, at each temperature, every
//! distinct prefix of the configured chains, parents before children. A network shared by
//! several chains (the teacher of all of them, say) is trained once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use robustaudit::data::Dataset;
use robustaudit::error::Error;
use robustaudit_graph::arch::ArchSpec;
use robustaudit_graph::grad::Loss;

use crate::chain_config::ChainConfig;
use crate::error::Result;
use crate::manifest;
use crate::runtime::Device;
use crate::trainer::{train, Init, Job, Parent, Trained, TrainingSettings};
use robustaudit::report::{f32_cell, ManifestRow};

/// One network of the plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedNetwork {
    /// The export's file stem, e.g. `teacher-assistant-T20`.
    pub name: String,
    /// Network names from the teacher down to this one.
    pub lineage: Vec<String>,
    /// The training temperature.
    pub temperature: f32,
    /// Whether it is the undistilled baseline.
    pub baseline: bool,
    /// The chains it belongs to.
    pub chains: Vec<String>,
}

impl PlannedNetwork {
    /// Its role: `undistilled`, or its network's name (`teacher`, `assistant`, ...).
    pub fn role(&self) -> &str {
        if self.baseline {
            "undistilled"
        } else {
            self.lineage.last().map_or("", String::as_str)
        }
    }

    /// The parent's file stem, for a child.
    pub fn parent_name(&self) -> Option<String> {
        (self.lineage.len() > 1)
            .then(|| stem(&self.lineage[..self.lineage.len() - 1], self.temperature))
    }
}

fn stem(lineage: &[String], temperature: f32) -> String {
    format!("{}-T{temperature}", lineage.join("-"))
}

/// The networks to train, parents before children.
pub fn plan(config: &ChainConfig) -> Vec<PlannedNetwork> {
    let mut planned: Vec<PlannedNetwork> = Vec::new();
    if let Some(network) = &config.baseline {
        planned.push(PlannedNetwork {
            name: format!("undistilled-{network}-T1"),
            lineage: vec![network.clone()],
            temperature: 1.0,
            baseline: true,
            chains: Vec::new(),
        });
    }
    let longest = config
        .chains
        .iter()
        .map(|c| c.hops.len())
        .max()
        .unwrap_or(0);
    for &temperature in &config.temperatures {
        for depth in 1..=longest {
            for chain in config.chains.iter().filter(|c| c.hops.len() >= depth) {
                let lineage = chain.hops[..depth].to_vec();
                let name = stem(&lineage, temperature);
                match planned.iter_mut().find(|p| p.name == name) {
                    Some(existing) => existing.chains.push(chain.name.clone()),
                    None => planned.push(PlannedNetwork {
                        name,
                        lineage,
                        temperature,
                        baseline: false,
                        chains: vec![chain.name.clone()],
                    }),
                }
            }
        }
    }
    planned
}

/// Trains every planned network of `config` into `out_dir` and keeps `manifest.csv` up to
/// date after each one.
pub fn run(
    config: &ChainConfig,
    train_set: &Dataset,
    test_set: &Dataset,
    device: Device,
    threads: usize,
    out_dir: &Path,
) -> Result<Vec<ManifestRow>> {
    let settings = TrainingSettings {
        epochs: config.training.epochs,
        batch: config.training.batch,
        learning_rate: config.training.learning_rate,
        optimizer: config.training.optimizer,
        seed: config.seed,
        device,
        threads,
    };
    let planned = plan(config);
    let shared = if config.pretrain_epochs > 0 {
        planned_specs(config, &planned)?
    } else {
        Vec::new()
    };
    eprintln!(
        "{}: {} networks to train on {} ({} training, {} test images){}",
        config.name,
        planned.len(),
        config.dataset,
        train_set.len(),
        test_set.len(),
        match shared.len() {
            0 => String::new(),
            n => format!(
                ", after {n} shared initialisation trained for {} epoch{} at T = 1",
                config.pretrain_epochs,
                if config.pretrain_epochs == 1 { "" } else { "s" }
            ),
        }
    );
    let mut rows: Vec<ManifestRow> = Vec::new();
    let mut pretrained: BTreeMap<String, Parent> = BTreeMap::new();
    for spec in shared {
        let pretrain = TrainingSettings {
            epochs: config.pretrain_epochs,
            ..settings.clone()
        };
        let job = Job {
            name: format!("init-{}", spec.name),
            role: "init".into(),
            hop: 0,
            lineage: vec!["init".into()],
            spec: spec.clone(),
            init: Init::Seeded(derived(config.seed, &format!("init/{}", spec.name))),
            temperature: 1.0,
            loss: Loss::HardLabels,
            parent: None,
            dataset: config.dataset.clone(),
            train: train_set,
            test: test_set,
            settings: &pretrain,
            out_dir: out_dir.to_path_buf(),
            config: config.text.clone(),
        };
        let trained = train(&job)?;
        let row = manifest_row(&job, &trained, "", out_dir);
        manifest::upsert(out_dir, row.clone())?;
        rows.push(row);
        pretrained.insert(
            spec.name.clone(),
            Parent {
                path: trained.path,
                sha256: trained.sha256,
            },
        );
    }
    for network in &planned {
        let parent = match network.parent_name() {
            Some(parent) => {
                let file = format!("{parent}.onnx");
                let row = rows
                    .iter()
                    .find(|r| r.file == file)
                    .ok_or_else(|| Error::Internal {
                        message: format!("{} was planned before its parent {file}", network.name),
                    })?;
                Some(Parent {
                    path: out_dir.join(&row.file),
                    sha256: row.sha256.clone(),
                })
            }
            None => None,
        };
        let hop = network.lineage.len() - 1;
        let spec = spec_of(config, network)?.clone();
        let loss = match (&parent, config.lambda) {
            (None, _) => Loss::HardLabels,
            (Some(_), lambda) if lambda > 0.0 => Loss::Distillation { lambda },
            (Some(_), _) => Loss::SoftLabels,
        };
        let init = match pretrained.get(&spec.name) {
            Some(from) => Init::Pretrained(from.clone()),
            None if config.shared_init => Init::Seeded(config.seed),
            None => Init::Seeded(derived(config.seed, &network.lineage.join(">"))),
        };
        let job = Job {
            name: network.name.clone(),
            role: network.role().to_string(),
            hop,
            lineage: network.lineage.clone(),
            spec: spec.clone(),
            init,
            temperature: network.temperature,
            loss,
            parent: parent.clone(),
            dataset: config.dataset.clone(),
            train: train_set,
            test: test_set,
            settings: &settings,
            out_dir: out_dir.to_path_buf(),
            config: config.text.clone(),
        };
        let trained = train(&job)?;
        let row = manifest_row(&job, &trained, &network.chains.join(";"), out_dir);
        manifest::upsert(out_dir, row.clone())?;
        rows.push(row);
    }
    Ok(rows)
}

/// The architectures of the planned networks, each once, in the order first used.
fn planned_specs(config: &ChainConfig, planned: &[PlannedNetwork]) -> Result<Vec<ArchSpec>> {
    let mut specs: Vec<ArchSpec> = Vec::new();
    for network in planned {
        let spec = spec_of(config, network)?;
        if !specs.iter().any(|s| s.name == spec.name) {
            specs.push(spec.clone());
        }
    }
    Ok(specs)
}

/// The architecture of a planned network (its last hop's entry in `[networks]`).
fn spec_of<'a>(config: &'a ChainConfig, network: &PlannedNetwork) -> Result<&'a ArchSpec> {
    let name = network.lineage.last().map_or("", String::as_str);
    Ok(config.networks.get(name).ok_or_else(|| Error::Internal {
        message: format!("network '{name}' vanished from the configuration"),
    })?)
}

/// The manifest row of a trained job.
fn manifest_row(job: &Job, trained: &Trained, chains: &str, out_dir: &Path) -> ManifestRow {
    ManifestRow {
        file: relative(&trained.path, out_dir),
        role: job.role.clone(),
        hop: job.hop as u32,
        lineage: job.lineage.join(">"),
        chains: chains.to_string(),
        temperature: f32_cell(job.temperature),
        parent: job
            .parent
            .as_ref()
            .map(|p| relative(&p.path, out_dir))
            .unwrap_or_default(),
        parent_sha256: job
            .parent
            .as_ref()
            .map(|p| p.sha256.clone())
            .unwrap_or_default(),
        sha256: trained.sha256.clone(),
        arch: job.spec.name.clone(),
        dataset: job.dataset.clone(),
        test_accuracy: Some(f32_cell(trained.test_accuracy)),
        epochs: Some(trained.epochs as u32),
        seconds: Some(trained.seconds),
    }
}

/// A seed derived from `seed` and `what`.
fn derived(seed: u64, what: &str) -> u64 {
    let digest = Sha256::digest(format!("{seed}/{what}"));
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}

fn relative(path: &Path, folder: &Path) -> String {
    path.strip_prefix(folder)
        .map(PathBuf::from)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
