//! `robustaudit bench`: how fast a model runs on this machine, so that an audit can be sized
//! before it starts: load and optimise time, forward and forward+VJP images per second at a
//! few batch sizes, and with `--profile` tract's time per op kind.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array2, Array4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use robustaudit::error::{Error, Result};
use robustaudit::model::{Classifier, GradientMethod, GradientSource};
use robustaudit::outln;
use robustaudit::stdout::Stdout;
use robustaudit::tract::OpTime;
use robustaudit_graph::onnx::OnnxError;
use robustaudit_graph::printable::printable;

use crate::cli::{BenchArgs, BenchFormat};

/// The CSV header of `--format csv`.
pub const CSV_HEADER: &str = "batch,threads,load_ms,forward_images_per_s,vjp_images_per_s";
/// Timed repetitions per measurement; the median is reported.
const REPETITIONS: usize = 5;
/// Wall time one repetition aims for.
const REPETITION_TIME: Duration = Duration::from_millis(200);
/// Least warm-up time per measurement.
const WARM_UP_TIME: Duration = Duration::from_millis(200);
/// A pass slower than this is timed once, its warm-up run being the measurement.
const SLOW_PASS: Duration = Duration::from_secs(1);
/// Wall time the runs of one profile aim for.
const PROFILE_TIME: Duration = Duration::from_millis(500);

/// Images per second at one batch size.
struct Row {
    batch: usize,
    forward: f64,
    vjp: f64,
}

/// Loads the model (timed), measures every batch size in a rayon pool of `--threads`
/// threads and prints the table or CSV, then the profiles when asked.
pub fn run(args: &BenchArgs) -> Result<()> {
    if args.profile && args.format == BenchFormat::Csv {
        return Err(Error::Usage {
            message: "--profile prints tables and cannot be combined with --format csv".into(),
            hint: Some("run the profile with --format table (the default)".into()),
        });
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .map_err(|e| Error::Internal {
            message: format!("cannot start a pool of worker threads: {e}"),
        })?;
    pool.install(|| bench(args, rayon::current_num_threads()))
}

fn bench(args: &BenchArgs, threads: usize) -> Result<()> {
    let start = Instant::now();
    let source = GradientSource::open(&args.model, GradientMethod::Auto)?;
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    let model = source.model();
    if let GradientSource::FiniteDifference { reason, .. } = &source {
        eprintln!(
            "note: {} has no exact vjp ({}); forward+vjp figures are of the finite-difference \
             fallback, {} forward passes per image",
            printable(&args.model.display().to_string()),
            printable(reason),
            2 * model.input_chw().iter().product::<usize>() + 1
        );
    }

    let bar = progress(2 * args.batch.len() as u64);
    let mut rows = Vec::with_capacity(args.batch.len());
    for &batch in &args.batch {
        let (images, seed) = inputs(model, batch, args.seed);
        bar.set_message(format!("forward at batch {batch}"));
        let forward = images_per_second(batch, || model.logits(images.view()).map(drop))?;
        bar.inc(1);
        bar.set_message(format!("forward+vjp at batch {batch}"));
        let vjp = images_per_second(batch, || model.vjp(images.view(), seed.view()).map(drop))?;
        bar.inc(1);
        rows.push(Row {
            batch,
            forward,
            vjp,
        });
    }
    bar.finish_and_clear();

    let mut out = Stdout::new();
    match args.format {
        BenchFormat::Csv => {
            outln!(out, "{CSV_HEADER}")?;
            for r in &rows {
                outln!(
                    out,
                    "{},{threads},{load_ms:.1},{:.1},{:.1}",
                    r.batch,
                    r.forward,
                    r.vjp
                )?;
            }
        }
        BenchFormat::Table => {
            let [c, h, w] = model.input_chw();
            outln!(
                out,
                "bench {}: {c}x{h}x{w} images, {} classes, gradients {}",
                printable(&args.model.display().to_string()),
                model.classes(),
                printable(&source.describe())
            )?;
            outln!(
                out,
                "{threads} threads; load and optimise (model, forward plan, vjp graph) {load_ms:.0} ms"
            )?;
            outln!(
                out,
                "inputs uniform random in [-0.5, 0.5] (seed {}); median of {REPETITIONS} \
                 repetitions of ~{} ms after warm-up",
                args.seed,
                REPETITION_TIME.as_millis()
            )?;
            outln!(out, "")?;
            let mut table = vec![[
                "batch".to_string(),
                "forward images/s".into(),
                "forward+vjp images/s".into(),
            ]];
            for r in &rows {
                table.push([
                    r.batch.to_string(),
                    format!("{:.1}", r.forward),
                    format!("{:.1}", r.vjp),
                ]);
            }
            print_table(&mut out, &table)?;
        }
    }
    if args.profile {
        for &batch in &args.batch {
            let (images, seed) = inputs(model, batch, args.seed);
            let forward = match &source {
                GradientSource::Exact(m) => m.classifier().plan(),
                GradientSource::FiniteDifference { model, .. } => model.inner().plan(),
            };
            let times = profile(|runs| forward.profile(images.view(), runs))?;
            let rows = forward.runs_row_by_row();
            print_profile(&mut out, "forward", batch, rows, &times)?;
            if let GradientSource::Exact(m) = &source {
                let plan = m.vjp_plan();
                let times = profile(|runs| plan.profile(images.view(), seed.view(), runs))?;
                let rows = plan.runs_row_by_row();
                print_profile(&mut out, "forward+vjp", batch, rows, &times)?;
            }
        }
    }
    out.finish()
}

/// Seeded images uniform in [-0.5, 0.5] (the datasets' range) and a seed (d loss /
/// d logits) uniform in [-1, 1], for `batch` samples.
fn inputs(model: &dyn Classifier, batch: usize, seed: u64) -> (Array4<f32>, Array2<f32>) {
    random_inputs(model.input_chw(), model.classes(), batch, seed)
}

fn random_inputs(
    [c, h, w]: [usize; 3],
    classes: usize,
    batch: usize,
    seed: u64,
) -> (Array4<f32>, Array2<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let images = Array4::from_shape_simple_fn((batch, c, h, w), || rng.gen_range(-0.5..=0.5));
    let seed = Array2::from_shape_simple_fn((batch, classes), || rng.gen_range(-1.0..=1.0));
    (images, seed)
}

/// Median images per second of `run` over [`REPETITIONS`] timed repetitions of about
/// [`REPETITION_TIME`] each, after a warm-up that also sizes them; a pass slower than
/// [`SLOW_PASS`] is timed once.
fn images_per_second(batch: usize, mut run: impl FnMut() -> Result<()>) -> Result<f64> {
    let start = Instant::now();
    let mut warm_up_runs = 0u32;
    while warm_up_runs == 0 || start.elapsed() < WARM_UP_TIME {
        run()?;
        warm_up_runs += 1;
    }
    let per_run = start.elapsed().as_secs_f64() / f64::from(warm_up_runs);
    if per_run > SLOW_PASS.as_secs_f64() {
        return Ok(batch as f64 / per_run);
    }
    let iterations = ((REPETITION_TIME.as_secs_f64() / per_run).round() as usize).max(1);
    let mut rates = Vec::with_capacity(REPETITIONS);
    for _ in 0..REPETITIONS {
        let start = Instant::now();
        for _ in 0..iterations {
            run()?;
        }
        rates.push((batch * iterations) as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[REPETITIONS / 2])
}

/// The per-op times of `profile(runs)`, per run, after one warm-up run that sizes `runs`
/// to fill about [`PROFILE_TIME`].
fn profile(
    profile: impl Fn(usize) -> std::result::Result<Vec<OpTime>, OnnxError>,
) -> Result<(usize, Vec<OpTime>)> {
    let start = Instant::now();
    profile(1)?;
    let per_run = start.elapsed().as_secs_f64();
    let runs = ((PROFILE_TIME.as_secs_f64() / per_run).round() as usize).max(1);
    Ok((runs, profile(runs)?))
}

fn print_profile(
    out: &mut Stdout,
    graph: &str,
    batch: usize,
    row_by_row: bool,
    (runs, times): &(usize, Vec<OpTime>),
) -> Result<()> {
    let total: f64 = times.iter().map(|t| t.seconds).sum();
    let how = if row_by_row {
        "its rows one at a time on the plan for one image"
    } else {
        "one plan run of the whole batch"
    };
    outln!(out, "")?;
    outln!(
        out,
        "profile of the {graph} plan at batch {batch}: {how} on one thread, {runs} runs, \
         {:.3} ms per run in ops",
        total / *runs as f64 * 1e3
    )?;
    let mut table = vec![[
        "op".to_string(),
        "nodes".into(),
        "ms per run".into(),
        "% of time".into(),
    ]];
    for t in times {
        table.push([
            t.op.clone(),
            t.nodes.to_string(),
            format!("{:.3}", t.seconds / *runs as f64 * 1e3),
            format!("{:.1}", 100.0 * t.seconds / total.max(f64::MIN_POSITIVE)),
        ]);
    }
    print_table(out, &table)
}

/// `rows` as aligned columns: the first left-aligned, the others right-aligned.
fn print_table<const N: usize>(out: &mut Stdout, rows: &[[String; N]]) -> Result<()> {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| {
                if c == 0 {
                    format!("{:<w$}", printable(cell))
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        outln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
fn progress(steps: u64) -> ProgressBar {
    let bar = ProgressBar::new(steps);
    if let Ok(style) = ProgressStyle::with_template("bench {bar:30} {pos}/{len} {msg}") {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_rate_counts_every_image_of_every_run() {
        let mut calls = 0usize;
        let rate = images_per_second(8, || {
            calls += 1;
            std::thread::sleep(Duration::from_millis(20));
            Ok(())
        })
        .expect("rate");
        // 8 images per run of at least 20 ms: at most 400 images/s (sleeping never
        // undershoots); counting the warm-up's images as well would exceed it.
        assert!(rate <= 400.0 && rate > 100.0, "{rate}");
        // Warm-up (10 runs) and 5 repetitions of 10 runs.
        assert!(calls >= 50, "{calls}");
    }

    #[test]
    fn inputs_are_seeded_and_in_the_dataset_range() {
        let (a, s) = random_inputs([1, 3, 2], 4, 5, 3);
        let (b, _) = random_inputs([1, 3, 2], 4, 5, 3);
        let (c, _) = random_inputs([1, 3, 2], 4, 5, 4);
        assert_eq!(a.shape(), [5, 1, 3, 2]);
        assert_eq!(s.shape(), [5, 4]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|v| (-0.5..=0.5).contains(v)));
        assert!(s.iter().all(|v| (-1.0..=1.0).contains(v)));
    }
}
