//! Throughput of every attack at its default settings and budget on the MNIST network of
//! the paper (random weights, real MNIST test images), against the raw forward and
//! forward + VJP throughput of the same network: how much of the model's speed each attack
//! turns into queries.
//!
//! `cargo bench -p robustaudit --bench attacks` prints a markdown table on stdout (progress
//! goes to stderr). `ROBUSTAUDIT_BENCH_MODEL=path.onnx` measures that model instead (a
//! trained MNIST network: on random weights the iterative attacks succeed after a step or
//! two and say little about their cost). Each attack runs through the auditor as
//! `robustaudit audit` runs it: its (image, target) runs in flight together, their queries
//! merged into batches by the audit's query queue, verification included, timed from the
//! start of its runs to the end of their verification (the model's clean pass and its
//! sensitivity are not counted), with the network's own predictions as labels so that
//! every image is attacked (random weights get most labels wrong); the budget is
//! `--eps 0.3` for L-infinity and `--eps-l2 2` for L2 attacks. Untargeted attacks run on
//! four times as many images as the queue's batches have rows (so that the smaller batches
//! of the last runs weigh little), targeted ones on fewer (see [`images_for`]).
//! `ROBUSTAUDIT_BENCH_IMAGES=n` sets the image count of every attack.
//! `ROBUSTAUDIT_BENCH_QUEUE=off` runs the attacks as the auditor did before its query queue,
//! for a before/after comparison in one build: one run in flight per thread, each query run
//! at its own batch size as soon as it arrives.
//!
//! The ceiling is the model's own throughput at the queue's batch size (the rows a batch
//! grows to on this machine's threads), forward and forward + VJP, measured once at the
//! start (the table's first rows) and again beside each attack: just before and just after
//! it, the attack's ceiling being the mean of the two (a machine whose speed drifts moves
//! both). Per attack, the table gives the gradient and forward queries it made per second,
//! each against its own ceiling, and `of ceiling`: the share of the wall time the model
//! would need at its ceilings for those queries and for the verification's forward pass of
//! each run (which the attack's own columns do not count). The rest went to waiting for runs
//! to fill a batch and to the attack's own arithmetic.
//!
//! Attack names given as arguments (`cargo bench -p robustaudit --bench attacks -- jsma
//! deepfool`) restrict the table to those attacks.
//!
//! Without `--bench` (as under `cargo test --benches`), each attack runs once on one image
//! with a handful of steps and nothing is timed: a smoke test of the wiring.

use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ndarray::{s, Array2, ArrayView4};
use robustaudit::attacks::{by_name, names, Domain, Targets};
use robustaudit::audit::{self, AuditModel, ModelInfo, PlannedAttack, QueueSize, Settings};
use robustaudit::data::{load, Split};
use robustaudit::model::{Classifier, Differentiable, TractDifferentiable};
use robustaudit_graph::arch::{forward_graph, ArchSpec};
use robustaudit_graph::fixtures::spec_path;

/// The network measured, from `models/arch`.
const ARCH: &str = "mnist-paper";
/// Seeds its weights.
const WEIGHT_SEED: u64 = 1;
/// Images per attack: four runs per row of the queue's batches for an untargeted attack, so
/// that the last runs' smaller batches weigh little, as in a real audit of hundreds of
/// images; half as many runs for an attack with a run per target class (nine runs per
/// image), and an eighth for the Carlini-Wagner searches, which cost a minute per image;
/// the decision-based attacks, which make thousands of forward queries per image in
/// batches of their own, fewer.
fn images_for(name: &str, targets: Targets, rows: usize) -> usize {
    if let Some(n) = std::env::var("ROBUSTAUDIT_BENCH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    match name {
        "zoo" | "hopskipjump" => 4,
        "cw-l2" | "cw-linf" => rows.div_ceil(8),
        _ if targets == Targets::All => rows.div_ceil(2),
        _ => 4 * rows,
    }
}

/// Wall time each throughput measurement at the start aims for.
const THROUGHPUT_TIME: Duration = Duration::from_secs(3);
/// Wall time each ceiling measurement beside an attack aims for.
const BESIDE_TIME: Duration = Duration::from_secs(1);

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() -> Result<()> {
    let timed = std::env::args().any(|arg| arg == "--bench");
    let opened = Instant::now();
    let (model, name) = match std::env::var_os("ROBUSTAUDIT_BENCH_MODEL") {
        Some(path) => {
            let path = PathBuf::from(path);
            let name = path.display().to_string();
            (TractDifferentiable::open(&path)?, name)
        }
        None => {
            let spec = ArchSpec::from_file(&spec_path(ARCH))?;
            let graph = forward_graph(&spec, WEIGHT_SEED, PathBuf::from(format!("{ARCH}.onnx")))?;
            (
                TractDifferentiable::new(graph)?,
                format!("{ARCH} (random weights)"),
            )
        }
    };
    // Reading the file, checking it and planning the optimised forward and VJP graphs: what a
    // device pays before its first image (docs/edge.md).
    let load_ms = opened.elapsed().as_secs_f64() * 1e3;
    eprintln!("measuring {name}");
    println!("model load + optimise: {load_ms:.1} ms\n");
    let rows = QueueSize::for_current_pool().rows;
    let set = load("mnist", Split::Test)?;
    let images = set.images.slice(s![..4 * rows, .., .., ..]).to_owned();

    let forward = |x: ArrayView4<f32>| model.logits(x).map(drop);
    let vjp = |x: ArrayView4<f32>| {
        let seed = Array2::<f32>::ones((x.shape()[0], model.classes()));
        model.vjp(x, seed.view()).map(drop)
    };
    let forward_1 = throughput(timed, 1, THROUGHPUT_TIME, forward)(images.view())?;
    let forward_ceiling = throughput(timed, rows, THROUGHPUT_TIME, forward)(images.view())?;
    let vjp_1 = throughput(timed, 1, THROUGHPUT_TIME, vjp)(images.view())?;
    let vjp_ceiling = throughput(timed, rows, THROUGHPUT_TIME, vjp)(images.view())?;
    // The forward and forward+VJP ceilings beside an attack.
    let beside = || -> Result<(f64, f64)> {
        Ok((
            throughput(timed, rows, BESIDE_TIME, forward)(images.view())?,
            throughput(timed, rows, BESIDE_TIME, vjp)(images.view())?,
        ))
    };
    eprintln!(
        "forward {forward_1:.0}/{forward_ceiling:.0} images/s, forward+vjp {vjp_1:.0}/{vjp_ceiling:.0} (batch 1/{rows})"
    );

    let queue_off = std::env::var("ROBUSTAUDIT_BENCH_QUEUE").as_deref() == Ok("off");
    if queue_off {
        println!("{name} on MNIST test images; queue off: each query runs at its own batch size\n");
    } else {
        println!("{name} on MNIST test images; the queue batches up to {rows} rows\n");
    }
    println!(
        "| attack | budget | images | runs | seconds | images/s | gradient queries/image | forward queries/image | ceilings beside: forward / forward+VJP | gradient queries/s | vs forward+VJP ceiling | forward queries/s | vs forward ceiling | of ceiling |"
    );
    println!(
        "| :-- | :-- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |"
    );
    println!(
        "| raw forward (batch 1) | - | - | - | - | {} | 0 | 1 | - | - | - | {} | {:.2} | - |",
        readable(forward_1),
        readable(forward_1),
        share(forward_1, forward_ceiling),
    );
    println!(
        "| raw forward+VJP (batch 1) | - | - | - | - | {} | 1 | 0 | - | {} | {:.2} | - | - | - |",
        readable(vjp_1),
        readable(vjp_1),
        share(vjp_1, vjp_ceiling),
    );
    println!(
        "| ceiling: forward (batch {rows}) | - | - | - | - | {} | 0 | 1 | - | - | - | {} | 1 | 1 |",
        readable(forward_ceiling),
        readable(forward_ceiling),
    );
    println!(
        "| ceiling: forward+VJP (batch {rows}) | - | - | - | - | {} | 1 | 0 | - | {} | 1 | - | - | 1 |",
        readable(vjp_ceiling),
        readable(vjp_ceiling),
    );
    let models = [AuditModel {
        info: ModelInfo {
            name: name.clone(),
            sha256: name.clone(),
            ..ModelInfo::default()
        },
        model: &model,
    }];
    let settings = Settings {
        seed: 0,
        eps_linf: vec![0.3],
        eps_l2: vec![2.0],
        domain: Domain::DATASET,
        keep_examples: false,
        queue: queue_off.then(|| QueueSize {
            workers: rayon::current_num_threads(),
            rows: 1,
        }),
    };
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| names().contains(&a.as_str()))
        .collect();
    for name in names()
        .into_iter()
        .filter(|n| chosen.is_empty() || chosen.iter().any(|c| c == n))
    {
        let info = by_name(name)?;
        let overrides: Vec<(String, String)> = if timed {
            Vec::new()
        } else {
            info.params
                .iter()
                .filter(|p| p.name == "steps" || p.name == "binary_steps")
                .map(|p| (p.name.to_string(), "2".to_string()))
                .collect()
        };
        let (attack, params) = info.build(&overrides)?;
        let n = if timed {
            images_for(name, attack.targets(), rows)
        } else {
            1
        };
        let planned = [PlannedAttack { attack, params }];
        let batch = images.slice(s![..n.min(images.shape()[0]), .., .., ..]);
        let n = batch.shape()[0];
        eprintln!("{name} on {n} images");
        let before = beside()?;
        let report = audit::run(&models, batch, None, &planned, &settings, &())?;
        let after = beside()?;
        let forward_ceiling = (before.0 + after.0) / 2.0;
        let vjp_ceiling = (before.1 + after.1) / 2.0;
        let summary = report.summaries.first().ok_or("one summary")?;
        let seconds = summary.wall_seconds;
        let gradient_rate = summary.queries.gradient as f64 / seconds;
        let forward_rate = summary.queries.forward as f64 / seconds;
        // The audit's verification adds one forward image per run to the model's work.
        let verified_rate = (summary.queries.forward + summary.runs as u64) as f64 / seconds;
        let budget = summary.budget.map_or_else(
            || "minimal".to_string(),
            |b| format!("{} {b}", summary.norm),
        );
        println!(
            "| {name} | {budget} | {n} | {} | {seconds:.1} | {} | {:.0} | {:.0} | {} / {} | {} | {:.2} | {} | {:.2} | {:.2} |",
            summary.runs,
            readable(n as f64 / seconds),
            summary.queries.gradient as f64 / n as f64,
            summary.queries.forward as f64 / n as f64,
            readable(forward_ceiling),
            readable(vjp_ceiling),
            readable(gradient_rate),
            share(gradient_rate, vjp_ceiling),
            readable(forward_rate),
            share(forward_rate, forward_ceiling),
            share(gradient_rate, vjp_ceiling) + share(verified_rate, forward_ceiling),
        );
    }
    Ok(())
}

/// `rate` as a share of `ceiling`; 0 in a smoke run, where nothing is timed.
fn share(rate: f64, ceiling: f64) -> f64 {
    if ceiling > 0.0 {
        rate / ceiling
    } else {
        0.0
    }
}

/// A rate with about three significant digits, in plain notation down to 0.1.
fn readable(rate: f64) -> String {
    if rate >= 10.0 {
        format!("{rate:.1}")
    } else if rate >= 0.1 {
        format!("{rate:.2}")
    } else {
        format!("{rate:.2e}")
    }
}

/// Images per second of `work` on batches of `batch` images, repeated for `time` (once,
/// untimed, in a smoke run).
fn throughput<'a, F>(
    timed: bool,
    batch: usize,
    time: Duration,
    work: F,
) -> impl Fn(ArrayView4<f32>) -> robustaudit::error::Result<f64> + 'a
where
    F: Fn(ArrayView4<f32>) -> robustaudit::error::Result<()> + 'a,
{
    move |images| {
        let x = images.slice(s![..batch, .., .., ..]);
        work(x)?;
        if !timed {
            return Ok(0.0);
        }
        let start = Instant::now();
        let mut done = 0usize;
        while start.elapsed() < time {
            work(x)?;
            done += batch;
        }
        Ok(done as f64 / start.elapsed().as_secs_f64())
    }
}
