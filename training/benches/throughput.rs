//! Images per second of tract and ONNX Runtime on the MNIST network of the paper (random
//! weights), forward and forward + VJP, at a few batch sizes.
//!
//! `cargo bench -p robustaudit-train --bench throughput` prints a markdown table on stdout
//! (progress goes to stderr). Each cell is warmed up, then timed in several repetitions of
//! enough iterations to fill a fixed time; the median repetition is reported.
//!
//! Without `--bench` (as under `cargo test --benches`), every cell runs once on tiny batches
//! and nothing is timed: a smoke test of the wiring.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use ndarray::{s, Array2, Array4, ArrayView2, ArrayView4, Ix2, Ix4};
use ort::session::Session;
use ort::value::TensorRef;
use robustaudit::data::{load, Split};
use robustaudit::model::LogitSeeds;
use robustaudit::model::{Classifier, Differentiable, TractDifferentiable, CHUNK};
use robustaudit_graph::arch::{forward_graph, ArchSpec, INPUT, LOGITS};
use robustaudit_graph::fixtures::spec_path;
use robustaudit_graph::grad::{
    GRAD_INPUT, SEED, SEED_SOFTMAX_CLASS, SEED_SOFTMAX_WEIGHT, SEED_TOP_MASK, SEED_TOP_WEIGHT,
};
use robustaudit_train::runtime::{self, Device};

/// The network measured, from `models/arch`.
const ARCH: &str = "mnist-paper";
/// The dataset whose test images are fed to it.
const DATASET: &str = "mnist";
/// Seeds the network's weights.
const WEIGHT_SEED: u64 = 1;
/// Intra-op threads of the ONNX Runtime sessions.
const ORT_THREADS: usize = 2;
/// Batch sizes measured.
const BATCHES: [usize; 4] = [1, 16, 64, 256];
/// Batch sizes of the smoke run.
const SMOKE_BATCHES: [usize; 2] = [1, 2];
/// Timed repetitions per cell; the median is reported.
const REPETITIONS: usize = 5;
/// Wall time one repetition aims for.
const REPETITION_TIME: Duration = Duration::from_millis(300);
/// Least warm-up time per cell (at least two runs are made in any case).
const WARM_UP_TIME: Duration = Duration::from_millis(200);
/// Largest relative difference between the engines accepted before measuring.
const AGREEMENT: f32 = 1e-4;

/// What one cell runs: a batch through one engine, forward only or forward + VJP.
type Workload<'a> = Box<dyn FnMut(ArrayView4<f32>, ArrayView2<f32>) -> Result<()> + 'a>;

fn main() -> Result<()> {
    let timed = std::env::args().any(|arg| arg == "--bench");
    let batches: &[usize] = if timed { &BATCHES } else { &SMOKE_BATCHES };
    let largest = *batches.iter().max().expect("batch sizes");

    let spec = ArchSpec::from_file(&spec_path(ARCH))?;
    let model = forward_graph(&spec, WEIGHT_SEED, PathBuf::from(format!("{ARCH}.onnx")))?;
    let tract = TractDifferentiable::new(model.clone())
        .with_context(|| format!("building the vjp graph of {ARCH}"))?;
    let mut ort_forward =
        runtime::session(&model.to_bytes(), Device::Cpu, ORT_THREADS, "forward graph")?;
    let mut ort_vjp = runtime::session(
        &tract.vjp_model().to_bytes(),
        Device::Cpu,
        ORT_THREADS,
        "vjp graph",
    )?;

    let set = load(DATASET, Split::Test)?;
    ensure!(
        set.len() >= largest,
        "{DATASET} has fewer than {largest} test images"
    );
    let images = set.images.slice(s![..largest, .., .., ..]).to_owned();
    let seed = uniform((largest, spec.classes), 7);
    check_agreement(&tract, &mut ort_forward, &mut ort_vjp, &images, &seed)?;

    let mut workloads: [(&str, Workload); 4] = [
        (
            "tract forward",
            Box::new(|x, _| {
                black_box(tract.logits(x)?);
                Ok(())
            }),
        ),
        (
            "tract forward+VJP",
            Box::new(|x, s| {
                black_box(tract.vjp(x, s)?);
                Ok(())
            }),
        ),
        (
            "ORT forward",
            Box::new(|x, _| {
                black_box(ort_logits(&mut ort_forward, x)?);
                Ok(())
            }),
        ),
        (
            "ORT forward+VJP",
            Box::new(|x, s| {
                black_box(ort_logits_and_grad(&mut ort_vjp, x, s)?);
                Ok(())
            }),
        ),
    ];

    // rates[batch][workload], images per second.
    let mut rates = Vec::new();
    for &batch in batches {
        let x = images.slice(s![..batch, .., .., ..]);
        let sd = seed.slice(s![..batch, ..]);
        let mut row = Vec::new();
        for (name, workload) in workloads.iter_mut() {
            eprintln!("measuring {name} at batch {batch}");
            let rate = if timed {
                images_per_second(batch, || workload(x, sd))?
            } else {
                let start = Instant::now();
                workload(x, sd)?;
                batch as f64 / start.elapsed().as_secs_f64()
            };
            row.push(rate);
        }
        rates.push(row);
    }

    let names: Vec<&str> = workloads.iter().map(|(name, _)| *name).collect();
    print_table(&spec, batches, &names, &rates, timed);
    Ok(())
}

/// Median images per second of `run` over [`REPETITIONS`] timed repetitions, after a
/// warm-up that also sizes the repetitions.
fn images_per_second(batch: usize, mut run: impl FnMut() -> Result<()>) -> Result<f64> {
    let start = Instant::now();
    let mut warm_up_runs = 0u32;
    while warm_up_runs < 2 || start.elapsed() < WARM_UP_TIME {
        run()?;
        warm_up_runs += 1;
    }
    let per_run = start.elapsed().as_secs_f64() / f64::from(warm_up_runs);
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

/// Logits of the forward graph from ONNX Runtime.
fn ort_logits(session: &mut Session, images: ArrayView4<f32>) -> Result<Array2<f32>> {
    let x = TensorRef::from_array_view(images)?;
    let outputs = session.run(ort::inputs![INPUT => x])?;
    let logits = outputs[LOGITS].try_extract_array::<f32>()?;
    Ok(logits.into_dimensionality::<Ix2>()?.to_owned())
}

/// Logits and input gradient of the VJP graph from ONNX Runtime.
fn ort_logits_and_grad(
    session: &mut Session,
    images: ArrayView4<f32>,
    seed: ArrayView2<f32>,
) -> Result<(Array2<f32>, Array4<f32>)> {
    // A fixed seed: the logit-dependent terms weighted 0.
    let seeds = LogitSeeds::fixed(seed);
    let parts = seeds.inputs();
    let outputs = session.run(ort::inputs![
        INPUT => TensorRef::from_array_view(images)?,
        SEED => TensorRef::from_array_view(parts.fixed)?,
        SEED_SOFTMAX_WEIGHT => TensorRef::from_array_view(parts.softmax_weight)?,
        SEED_SOFTMAX_CLASS => TensorRef::from_array_view(parts.softmax_class)?,
        SEED_TOP_WEIGHT => TensorRef::from_array_view(parts.top_weight)?,
        SEED_TOP_MASK => TensorRef::from_array_view(parts.top_mask)?,
    ])?;
    let logits = outputs[LOGITS].try_extract_array::<f32>()?;
    let grad = outputs[GRAD_INPUT].try_extract_array::<f32>()?;
    Ok((
        logits.into_dimensionality::<Ix2>()?.to_owned(),
        grad.into_dimensionality::<Ix4>()?.to_owned(),
    ))
}

/// Makes sure both engines compute the same thing before timing them.
fn check_agreement(
    tract: &TractDifferentiable,
    ort_forward: &mut Session,
    ort_vjp: &mut Session,
    images: &Array4<f32>,
    seed: &Array2<f32>,
) -> Result<()> {
    let n = images.shape()[0].min(CHUNK + 1);
    let x = images.slice(s![..n, .., .., ..]);
    let sd = seed.slice(s![..n, ..]);
    let forward = relative_diff(&tract.logits(x)?, &ort_logits(ort_forward, x)?);
    let (tract_logits, tract_grad) = tract.vjp(x, sd)?;
    let (ort_logits, ort_grad) = ort_logits_and_grad(ort_vjp, x, sd)?;
    let logits = relative_diff(&tract_logits, &ort_logits);
    let grad = relative_diff(&tract_grad, &ort_grad);
    eprintln!(
        "tract vs onnx runtime on {n} images, max relative difference: forward logits \
         {forward:.1e}, vjp logits {logits:.1e}, input gradient {grad:.1e}"
    );
    ensure!(
        forward <= AGREEMENT && logits <= AGREEMENT && grad <= AGREEMENT,
        "tract and onnx runtime disagree (more than {AGREEMENT:e} relative)"
    );
    Ok(())
}

/// Largest `|a - b|` over the largest `|b|` (at least 1e-30).
fn relative_diff<D: ndarray::Dimension>(
    a: &ndarray::Array<f32, D>,
    b: &ndarray::Array<f32, D>,
) -> f32 {
    let scale = b.iter().fold(1e-30f32, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    diff / scale
}

/// Values uniform in [-1, 1] from a fixed SplitMix64 sequence.
fn uniform(shape: (usize, usize), seed: u64) -> Array2<f32> {
    let mut state = seed;
    Array2::from_shape_simple_fn(shape, || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    })
}

fn print_table(
    spec: &ArchSpec,
    batches: &[usize],
    names: &[&str],
    rates: &[Vec<f64>],
    timed: bool,
) {
    println!(
        "{ARCH} ({} parameters, random weights, seed {WEIGHT_SEED}) on {DATASET} test images, images/s",
        spec.trainable_parameters()
    );
    println!(
        "rayon threads {}, tract chunk {CHUNK} images, onnx runtime intra-op threads {ORT_THREADS}",
        rayon::current_num_threads()
    );
    if timed {
        println!(
            "median of {REPETITIONS} repetitions of ~{} ms each, after >= {} ms warm-up",
            REPETITION_TIME.as_millis(),
            WARM_UP_TIME.as_millis()
        );
    } else {
        println!("smoke run: each cell ran once on tiny batches, not a measurement (pass --bench)");
    }
    println!();

    let mut header: Vec<String> = vec!["batch".into()];
    header.extend(names.iter().map(|n| n.to_string()));
    header.extend(
        [
            "ORT/tract forward",
            "ORT/tract forward+VJP",
            "VJP/forward tract",
            "VJP/forward ORT",
        ]
        .map(String::from),
    );
    let mut rows = vec![header];
    for (batch, r) in batches.iter().zip(rates) {
        let mut row = vec![batch.to_string()];
        row.extend(r.iter().map(|v| format!("{v:.0}")));
        row.extend(
            [r[2] / r[0], r[3] / r[1], r[1] / r[0], r[3] / r[2]].map(|ratio| format!("{ratio:.2}")),
        );
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|row| row[c].len()).max().unwrap_or(0))
        .collect();
    let line = |row: &[String]| {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| {
                if c == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        println!("| {} |", cells.join(" | "));
    };
    line(&rows[0]);
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(c, &w)| {
            if c == 0 {
                format!(":{}", "-".repeat(w - 1))
            } else {
                format!("{}:", "-".repeat(w - 1))
            }
        })
        .collect();
    println!("| {} |", rule.join(" | "));
    for row in &rows[1..] {
        line(row);
    }
}
