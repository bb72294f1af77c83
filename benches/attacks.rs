//! Images per second of every attack at its default settings and budget on the MNIST
//! network of the paper (random weights, real MNIST test images), against the raw forward
//! and forward + VJP throughput of the same network.
//!
//! `cargo bench -p robustaudit --bench attacks` prints a markdown table on stdout (progress
//! goes to stderr). `ROBUSTAUDIT_BENCH_MODEL=path.onnx` measures that model instead (a
//! trained MNIST network: on random weights the iterative attacks succeed after a step or
//! two and say little about their cost). Each attack runs through the auditor on a batch of
//! images in parallel, and is timed from the start of its runs to the end of their
//! verification (the model's clean pass and its sensitivity are not counted),
//! as `robustaudit audit` runs it, verification included, with the network's own
//! predictions as labels so that every image is attacked (random weights get most labels
//! wrong); the budget is `--eps 0.3` for
//! L-infinity and `--eps-l2 2` for L2 attacks. The throughputs are measured on batches of
//! one image (how gradient attacks query) and of 32. The last two columns give the forward
//! queries each attack makes per second and their ratio to the raw forward throughput at
//! batch 32: how much of the model's speed a forward-only attack, which queries in batches
//! of tens to hundreds of images, turns into queries (above 1 where its batches are larger
//! than 32).
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
use robustaudit::arch::{forward_graph, ArchSpec};
use robustaudit::attacks::{by_name, Domain, NAMES};
use robustaudit::audit::{self, AuditModel, ModelInfo, PlannedAttack, Settings};
use robustaudit::data::{load, Split};
use robustaudit::model::{Classifier, Differentiable, TractDifferentiable};

/// The network measured, from `models/arch`.
const ARCH: &str = "mnist-paper";
/// Seeds its weights.
const WEIGHT_SEED: u64 = 1;
/// Images per attack: the Carlini-Wagner attacks run for minutes per image, ZOO and
/// HopSkipJump for seconds.
fn images_for(attack: &str) -> usize {
    match attack {
        "cw-l2" | "cw-linf" => 2,
        "zoo" | "hopskipjump" => 4,
        _ => 16,
    }
}
/// Wall time each throughput measurement aims for.
const THROUGHPUT_TIME: Duration = Duration::from_secs(3);

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
            let spec_path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models/arch"))
                .join(format!("{ARCH}.toml"));
            let spec = ArchSpec::from_file(&spec_path)?;
            let graph = forward_graph(&spec, WEIGHT_SEED, PathBuf::from(format!("{ARCH}.onnx")))?;
            (
                TractDifferentiable::new(graph)?,
                format!("{ARCH} (random weights)"),
            )
        }
    };
    // Reading the file, checking it and planning the optimised forward and VJP graphs: what a
    // device pays before its first image (README "Edge devices").
    let load_ms = opened.elapsed().as_secs_f64() * 1e3;
    eprintln!("measuring {name}");
    println!("model load + optimise: {load_ms:.1} ms\n");
    let set = load("mnist", Split::Test)?;
    let images = set.images.slice(s![..32, .., .., ..]).to_owned();

    let forward_1 = throughput(timed, 1, |x| model.logits(x).map(drop))(images.view())?;
    let forward_32 = throughput(timed, 32, |x| model.logits(x).map(drop))(images.view())?;
    let vjp = |x: ArrayView4<f32>| {
        let seed = Array2::<f32>::ones((x.shape()[0], model.classes()));
        model.vjp(x, seed.view()).map(drop)
    };
    let vjp_1 = throughput(timed, 1, vjp)(images.view())?;
    let vjp_32 = throughput(timed, 32, vjp)(images.view())?;
    eprintln!(
        "forward {forward_1:.0}/{forward_32:.0} images/s, forward+vjp {vjp_1:.0}/{vjp_32:.0}"
    );

    println!("{name} on MNIST test images\n");
    println!(
        "| attack | budget | images | seconds | images/s | forward queries/image | gradient queries/image | vs forward (batch 1) | vs forward+VJP (batch 1) | vs forward (batch 32) | vs forward+VJP (batch 32) | forward queries/s | forward queries/s vs forward (batch 32) |"
    );
    println!("| :-- | :-- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |");
    println!(
        "| raw forward | - | - | - | {forward_1:.0} (batch 1), {forward_32:.0} (batch 32) | 1 | 0 | 1 | - | 1 | - | {forward_32:.0} | 1 |"
    );
    println!(
        "| raw forward+VJP | - | - | - | {vjp_1:.0} (batch 1), {vjp_32:.0} (batch 32) | 0 | 1 | - | 1 | - | 1 | - | - |"
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
    };
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| NAMES.contains(&a.as_str()))
        .collect();
    for name in NAMES
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
        let planned = [PlannedAttack { attack, params }];
        let n = if timed { images_for(name) } else { 1 };
        let batch = images.slice(s![..n, .., .., ..]);
        eprintln!("{name} on {n} images");
        let report = audit::run(&models, batch, None, &planned, &settings, &())?;
        let summary = report.summaries.first().ok_or("one summary")?;
        let seconds = summary.wall_seconds;
        let rate = n as f64 / seconds;
        let budget = summary.budget.map_or_else(
            || "minimal".to_string(),
            |b| format!("{} {b}", summary.norm),
        );
        let forward_rate = summary.queries.forward as f64 / seconds;
        println!(
            "| {name} | {budget} | {n} | {seconds:.1} | {} | {:.0} | {:.0} | {:.2e} | {:.2e} | {:.2e} | {:.2e} | {} | {:.2} |",
            readable(rate),
            summary.queries.forward as f64 / n as f64,
            summary.queries.gradient as f64 / n as f64,
            rate / forward_1,
            rate / vjp_1,
            rate / forward_32,
            rate / vjp_32,
            readable(forward_rate),
            forward_rate / forward_32,
        );
    }
    Ok(())
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

/// Images per second of `work` on batches of `batch` images, repeated for
/// [`THROUGHPUT_TIME`] (once, untimed, in a smoke run).
fn throughput<'a, F>(
    timed: bool,
    batch: usize,
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
        while start.elapsed() < THROUGHPUT_TIME {
            work(x)?;
            done += batch;
        }
        Ok(done as f64 / start.elapsed().as_secs_f64())
    }
}
