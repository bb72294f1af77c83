//! `robustaudit-train train`: one network, exported with its metadata.

use robustaudit::data::Split;
use robustaudit::error::Error;
use robustaudit::outln;
use robustaudit::report::{f32_cell, ManifestRow};
use robustaudit::stdout::Stdout;
use robustaudit_graph::arch::ArchSpec;
use robustaudit_graph::grad::Loss;
use robustaudit_train::chain_config::optimizer;
use robustaudit_train::error::Result;
use robustaudit_train::manifest;
use robustaudit_train::trainer::{file_sha256, train, Init, Job, Parent, TrainingSettings};

use super::{load_split, threads};
use crate::cli::TrainArgs;

/// Validates the flags and the data, trains, exports and records the network.
pub fn run(args: &TrainArgs) -> Result<()> {
    let usage = |message: String, hint: &str| -> Error {
        Error::Usage {
            message,
            hint: Some(hint.into()),
        }
    };
    if !(args.temperature.is_finite() && args.temperature > 0.0) {
        return Err(usage(
            format!(
                "--temperature {} must be a positive number",
                args.temperature
            ),
            "the paper uses 1 to 100",
        )
        .into());
    }
    if args.epochs == 0 || args.batch == 0 {
        return Err(usage(
            "--epochs and --batch must be at least 1".into(),
            "the paper uses --epochs 50 --batch 128",
        )
        .into());
    }
    if !(args.lr.is_finite() && args.lr > 0.0) {
        return Err(usage(
            format!("--lr {} must be a positive number", args.lr),
            "the paper uses --lr 0.01",
        )
        .into());
    }
    if !(0.0..=1.0).contains(&args.lambda) || (args.lambda > 0.0 && args.parent.is_none()) {
        return Err(usage(
            format!(
                "--lambda {} needs --parent and must lie in [0, 1]",
                args.lambda
            ),
            "lambda weighs the soft labels of the parent against the hard labels",
        )
        .into());
    }
    let optimizer = optimizer(
        &args.optimizer,
        args.momentum,
        !args.no_nesterov,
        args.lr_decay,
        args.weight_decay,
    )
    .ok_or_else(|| {
        usage(
            format!("unknown --optimizer '{}'", args.optimizer),
            "use sgd or adam",
        )
    })?;
    let spec = ArchSpec::from_file(&args.arch)?;
    let train_set = load_split(&args.data, Split::Train, args.train_samples)?;
    let test_set = load_split(&args.data, Split::Test, args.test_samples)?;
    let (c, h, w) = train_set.sample_shape();
    if spec.input != [c, h, w] || spec.classes != train_set.classes {
        return Err(usage(
            format!(
                "{} takes {:?} images and {} classes, {} has {:?} and {}",
                spec.name,
                spec.input,
                spec.classes,
                args.data,
                [c, h, w],
                train_set.classes
            ),
            "pick the spec made for this dataset",
        )
        .into());
    }
    let parent = match &args.parent {
        Some(path) => Some(Parent {
            path: path.clone(),
            sha256: file_sha256(path)?,
        }),
        None => None,
    };
    let init = match &args.init {
        Some(path) => Init::Pretrained(Parent {
            path: path.clone(),
            sha256: file_sha256(path)?,
        }),
        None => Init::Seeded(args.seed),
    };
    let loss = match (&parent, args.lambda) {
        (None, _) => Loss::HardLabels,
        (Some(_), l) if l > 0.0 => Loss::Distillation { lambda: l },
        (Some(_), _) => Loss::SoftLabels,
    };
    let role = args.role.clone().unwrap_or_else(|| {
        if parent.is_some() {
            "student"
        } else {
            "teacher"
        }
        .to_string()
    });
    let settings = TrainingSettings {
        epochs: args.epochs,
        batch: args.batch,
        learning_rate: args.lr,
        optimizer,
        seed: args.seed,
        device: args.device.device,
        threads: threads(args.device.threads),
    };
    let command: Vec<String> = std::env::args().collect();
    let job = Job {
        name: format!("{role}-T{}", args.temperature),
        role: role.clone(),
        hop: usize::from(parent.is_some()),
        lineage: vec![role.clone()],
        spec: spec.clone(),
        init,
        temperature: args.temperature,
        loss,
        parent: parent.clone(),
        dataset: args.data.clone(),
        train: &train_set,
        test: &test_set,
        settings: &settings,
        out_dir: args.out.clone(),
        config: command.join(" "),
    };
    let trained = train(&job)?;
    manifest::upsert(
        &args.out,
        ManifestRow {
            file: format!("{}.onnx", job.name),
            role,
            hop: job.hop as u32,
            lineage: job.lineage.join(">"),
            chains: String::new(),
            temperature: f32_cell(args.temperature),
            parent: parent
                .as_ref()
                .map(|p| p.path.display().to_string())
                .unwrap_or_default(),
            parent_sha256: parent.map(|p| p.sha256).unwrap_or_default(),
            sha256: trained.sha256.clone(),
            arch: spec.name.clone(),
            dataset: args.data.clone(),
            test_accuracy: Some(f32_cell(trained.test_accuracy)),
            epochs: Some(trained.epochs as u32),
            seconds: Some(trained.seconds),
        },
    )?;
    let mut stdout = Stdout::new();
    outln!(
        stdout,
        "{}\ttest_accuracy {:.4}\tsha256 {}",
        trained.path.display(),
        trained.test_accuracy,
        trained.sha256
    )?;
    Ok(stdout.finish()?)
}
