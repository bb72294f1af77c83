//! `robustaudit audit`: attack models on a dataset and write the reports.

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use robustaudit::attacks::Domain;
use robustaudit::audit::{
    self, verdict, AuditModel, AuditReport, ModelInfo, Outcome, Progress, Settings, Shard,
    SummaryRecord,
};
use robustaudit::error::{Error, Result};
use robustaudit::model::{GradientSource, InputTransform, Transformed};
use robustaudit::report::{
    data_sha256, describe_attacks, describe_models, describe_radii, write_audit, ReportFiles,
    ShardRecord,
};

use super::dataset::DataSource;
use crate::cli::AuditArgs;
use robustaudit::outln;
use robustaudit::stdout::Stdout;

/// Resolves the attacks and models, runs the audit (or its shard) with a progress bar on
/// stderr, writes the reports and prints one line per summary row.
pub fn run(args: &AuditArgs) -> Result<()> {
    let shard = match &args.shard {
        Some(text) => Shard::parse(text)?,
        None => Shard::WHOLE,
    };
    let attacks = audit::plan_attacks(&args.attacks, &args.attack_params)?;
    let mut opened = Vec::with_capacity(args.models.len());
    for path in &args.models {
        opened.push((path, GradientSource::open(path, args.gradients)?));
    }
    let first_channels = opened
        .first()
        .map_or(3, |(_, source)| source.model().input_chw()[0]);
    let data_source = DataSource::new(&args.data, &args.images, first_channels)?;
    let data = data_source.load(args.split, args.samples)?;
    let mut sources = Vec::with_capacity(opened.len());
    for (path, source) in opened {
        let chw = source.model().input_chw();
        let c = chw[0];
        data_source.check_fits(&data, path, chw, "audit")?;
        if let Some(labels) = &data.labels {
            let classes = source.model().classes();
            if let Some(bad) = labels.iter().find(|&&l| l >= classes) {
                return Err(Error::Usage {
                    message: format!(
                        "{} has label {bad}, but {} has {classes} classes",
                        data.name,
                        path.display()
                    ),
                    hint: None,
                });
            }
        }
        let transform =
            InputTransform::for_model(source.onnx(), args.input_range, &args.mean, &args.std, c)?;
        let info = ModelInfo::of(&source, &transform)?;
        sources.push((source, transform, info));
    }
    let transformed: Vec<Transformed> = sources
        .iter()
        .map(|(source, transform, _)| Transformed::new(source.model(), transform.clone()))
        .collect();
    let models: Vec<AuditModel> = sources
        .iter()
        .zip(&transformed)
        .map(|((_, _, info), model)| AuditModel {
            info: info.clone(),
            model,
        })
        .collect();
    let settings = Settings {
        seed: args.seed,
        eps_linf: args.eps.clone(),
        eps_l2: args.eps_l2.clone(),
        domain: Domain::DATASET,
        keep_examples: args.save_examples,
        queue: None,
    };
    let infos: Vec<ModelInfo> = models.iter().map(|m| m.info.clone()).collect();
    let record = ShardRecord {
        shard,
        samples: data.len(),
        data: args.data.clone(),
        split: args.split.to_string(),
        data_sha256: data_sha256(data.images.view(), data.labels.as_deref()),
        seed: args.seed,
        attacks: describe_attacks(&attacks),
        eps: describe_radii(&args.eps),
        eps_l2: describe_radii(&args.eps_l2),
        models: describe_models(&infos),
        examples: args.save_examples,
        digests: String::new(),
    };
    let samples = shard.samples(data.len());
    prepare_out(&args.out)?;
    let bar = Bar::new();
    let report = audit::run_samples(
        &models,
        data.images.view(),
        data.labels.as_deref(),
        samples.clone(),
        &attacks,
        &settings,
        &bar,
    );
    bar.0.finish_and_clear();
    let report = report?;
    let (files, shard_file) = write_audit(&args.out, &report, &record)?;

    let part = if shard == Shard::WHOLE {
        String::new()
    } else {
        format!(
            ", shard {shard}: samples {}..{}",
            samples.start, samples.end
        )
    };
    let mut out = Stdout::new();
    outln!(
        out,
        "audit of {} model(s) on {} images of {}, seed {}{part}",
        models.len(),
        data.len(),
        data.name,
        args.seed
    )?;
    print_summaries(&mut out, &report.summaries)?;
    print_verdicts(&mut out, &report)?;
    print_written(&mut out, &args.out, &files, &shard_file)?;
    out.finish()
}

/// Makes `--out` ready before any attack runs (see [`robustaudit_graph::atomic_file::prepare_dir`]):
/// an unwritable folder is an error now, not after the whole audit.
pub fn prepare_out(out: &Path) -> Result<()> {
    robustaudit_graph::atomic_file::prepare_dir(out).map_err(|source| Error::Write {
        path: out.to_path_buf(),
        source,
    })
}

/// The files written into `out`.
pub fn print_written(
    stdout: &mut Stdout,
    out: &Path,
    files: &ReportFiles,
    shard: &Path,
) -> Result<()> {
    outln!(
        stdout,
        "wrote {}, {}, {}, {}, {}, {}",
        files.samples.display(),
        files.summary.display(),
        files.diagnosis.display(),
        files.timings.display(),
        files.sensitivity.display(),
        shard.display()
    )?;
    if !files.examples.is_empty() {
        outln!(
            stdout,
            "wrote {} example batches under {}",
            files.examples.len(),
            out.join("examples").display()
        )?;
    }
    Ok(())
}

/// One line per summary row: accuracies, success rate and mean minimal distortion.
pub fn print_summaries(out: &mut Stdout, summaries: &[SummaryRecord]) -> Result<()> {
    outln!(
        out,
        "{:<28} {:<9} {:<12} {:>9} {:>9} {:>9} {:>12}",
        "model",
        "attack",
        "budget",
        "clean",
        "adv acc",
        "success",
        "mean min"
    )?;
    for s in summaries {
        let budget = s
            .budget
            .map_or_else(|| "minimal".to_string(), |b| format!("{} {b}", s.norm));
        let rate = s
            .success_rate()
            .map_or_else(|| "-".to_string(), |r| format!("{:.4}", r));
        let distortion = s.mean_minimal.map_or_else(
            || "-".to_string(),
            |d| format!("{:.4} {}", d.get(s.norm), s.norm),
        );
        outln!(
            out,
            "{:<28} {:<9} {:<12} {:>9.4} {:>9.4} {:>9} {:>12}",
            s.model.name,
            s.attack,
            budget,
            s.clean_accuracy(),
            s.adversarial_accuracy(),
            rate,
            distortion
        )?;
    }
    Ok(())
}

/// One line per model: its gradient-masking verdict and the checks that flagged it.
pub fn print_verdicts(out: &mut Stdout, report: &AuditReport) -> Result<()> {
    for m in &report.models {
        let findings: Vec<_> = report
            .diagnosis
            .iter()
            .filter(|f| f.model == m.name)
            .collect();
        let mut flagged: Vec<&str> = findings
            .iter()
            .filter(|f| f.outcome == Outcome::Flagged)
            .map(|f| f.check.name())
            .collect();
        flagged.dedup();
        let why = if flagged.is_empty() {
            String::new()
        } else {
            format!(" ({})", flagged.join(", "))
        };
        outln!(
            out,
            "gradient masking of {}: {}{why}",
            m.name,
            verdict(findings.iter().copied())
        )?;
    }
    Ok(())
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::new(0);
        if let Ok(style) =
            ProgressStyle::with_template("{msg:30} {bar:40} {pos}/{len} attack runs ({eta} left)")
        {
            bar.set_style(style);
        }
        Bar(bar)
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }

    fn stage(&self, text: &str) {
        self.0.set_message(text.to_string());
    }

    fn advance(&self) {
        self.0.inc(1);
    }
}
