//! `robustaudit gradcheck`: a model's analytic input gradients against finite differences.

use indicatif::{ProgressBar, ProgressStyle};
use robustaudit::error::{Error, Result};
use robustaudit::gradcheck::{self, Progress, Settings, Tolerance};
use robustaudit::model::{Classifier, TractDifferentiable};

use super::dataset::DataSource;
use crate::cli::GradcheckArgs;
use robustaudit::outln;
use robustaudit::stdout::Stdout;

/// Builds the model's VJP graph, loads the samples, runs the check and prints its table;
/// fails with [`Error::Check`] (exit code 7) when a loss fails.
pub fn run(args: &GradcheckArgs) -> Result<()> {
    let model = TractDifferentiable::open(&args.model)?;
    let chw = model.input_chw();
    let [c, h, w] = chw;
    let data_source = DataSource::new(&args.data, &args.images, c)?;
    let data = data_source.load(args.split, args.samples)?;
    data_source.check_fits(&data, &args.model, chw, "check")?;
    let (labels, origin) = match &data.labels {
        Some(labels) => (labels.clone(), "labels from the data"),
        None => (
            model.predict(data.images.view())?,
            "the model's predictions as labels",
        ),
    };
    let settings = Settings {
        coords: args.coords,
        step: args.step,
        dither: args.dither,
        seed: args.seed,
        tolerance: Tolerance::default(),
    };
    let bar = Bar::new();
    let report = gradcheck::run(&model, data.images.view(), &labels, &settings, &bar);
    bar.0.finish_and_clear();
    let report = report?;

    let mut out = Stdout::new();
    outln!(
        out,
        "gradcheck {} on {}: {} samples of {c}x{h}x{w}, {origin}",
        args.model.display(),
        data.name,
        report.samples
    )?;
    outln!(
        out,
        "step {:e}, dither {:e}, seed {}, {} coordinates per sample and loss, {} forward passes",
        settings.step,
        settings.dither,
        settings.seed,
        settings.coords,
        report.queries
    )?;
    out.print(format_args!("{report}"))?;
    out.finish()?;
    if report.passed() {
        Ok(())
    } else {
        Err(Error::Check {
            message: format!(
                "gradient check failed for {}: {} gradients disagree with finite differences",
                args.model.display(),
                report.failed().join(", ")
            ),
            hint: Some(
                "a backward rule of an op in this model is likely wrong; the worst coordinates \
                 are listed above"
                    .into(),
            ),
        })
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template(
            "finite differences {bar:40} {pos}/{len} forward passes ({eta} left)",
        ) {
            bar.set_style(style);
        }
        Bar(bar)
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }

    fn advance(&self, images: u64) {
        self.0.inc(images);
    }

    fn grow(&self, images: u64) {
        self.0.inc_length(images);
    }
}
