//! `robustaudit-train chain`: every network of a chain configuration.

use std::path::PathBuf;

use robustaudit::data::Split;
use robustaudit::outln;
use robustaudit::stdout::Stdout;
use robustaudit_train::chain;
use robustaudit_train::chain_config::ChainConfig;
use robustaudit_train::error::Result;

use super::{load_split, threads};
use crate::cli::ChainArgs;

/// Validates the configuration and the data, then trains the plan.
pub fn run(args: &ChainArgs) -> Result<()> {
    let mut config = ChainConfig::from_file(&args.config)?;
    if let Some(epochs) = args.epochs {
        config.training.epochs = epochs.max(1);
    }
    let train = load_split(&config.dataset, Split::Train, config.training.train_samples)?;
    let test = load_split(&config.dataset, Split::Test, config.training.test_samples)?;
    let (c, h, w) = train.sample_shape();
    config.check_against([c, h, w], train.classes)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("models/runs").join(&config.name));
    let rows = chain::run(
        &config,
        &train,
        &test,
        args.device.device,
        threads(args.device.threads),
        &out,
    )?;
    let mut stdout = Stdout::new();
    outln!(stdout, "file\trole\ttemperature\ttest_accuracy")?;
    for row in rows {
        outln!(
            stdout,
            "{}\t{}\t{}\t{:.4}",
            out.join(&row.file).display(),
            row.role,
            row.temperature,
            // The trainer's f32 (f32_cell round-trips), printed as it always was.
            row.test_accuracy.map_or(f32::NAN, |a| a as f32)
        )?;
    }
    Ok(stdout.finish()?)
}
