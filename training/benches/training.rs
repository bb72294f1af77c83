//! Training images per second on ONNX Runtime for the shipped specs, beside the forward-only
//! throughput of ONNX Runtime on the same network and batch, as a ratio.
//!
//! `cargo bench -p robustaudit-train --bench training` prints a markdown table on stdout
//! (progress on stderr). With `--features cuda`, `-- --cuda` measures on the GPU instead.
//! Batches are seeded uniform images in the datasets' range `[-0.5, 0.5]` with seeded
//! labels: throughput does not depend on the pixels.
//!
//! Without `--bench` (as under `cargo test --benches`), every cell runs a couple of steps
//! untimed: a smoke test of the wiring.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ndarray::Array4;
use ort::value::TensorRef;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use robustaudit_graph::arch::{forward_graph, ArchSpec, INPUT};
use robustaudit_graph::fixtures::spec_path;
use robustaudit_graph::grad::{training_graph, Loss, Optimizer};
use robustaudit_train::runtime::{self, Device};
use robustaudit_train::step::{Batch, StepRunner};

/// The specs measured, from `models/arch`.
const ARCHS: [&str; 3] = ["digits-small", "mnist-paper", "cifar-paper"];
/// The batch size of the paper's training.
const BATCH: usize = 128;
/// Intra-op threads of the CPU sessions.
const THREADS: usize = 2;
/// Wall time each timed cell aims for, after one warm-up run.
const CELL_TIME: Duration = Duration::from_secs(3);

fn main() -> Result<()> {
    let timed = std::env::args().any(|a| a == "--bench");
    let device = if std::env::args().any(|a| a == "--cuda") {
        Device::Cuda
    } else {
        Device::Cpu
    };
    println!("| network | device | ORT forward (img/s) | train step SGD (img/s) | train step Adam (img/s) | forward / SGD step |");
    println!("|---|---|---|---|---|---|");
    for arch in ARCHS {
        let spec = ArchSpec::from_file(&spec_path(arch))?;
        let model = forward_graph(&spec, 1, PathBuf::from(format!("{arch}.onnx")))?;
        let [c, h, w] = spec.input;
        let batch = if timed { BATCH } else { 2 };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let images = Array4::from_shape_fn((batch, c, h, w), |_| rng.gen_range(-0.5..0.5));
        let labels: Vec<usize> = (0..batch).map(|_| rng.gen_range(0..spec.classes)).collect();
        eprintln!("measuring {arch} on {device:?}");
        let mut forward = runtime::session(&model.to_bytes(), device, THREADS, arch)?;
        let forward_rate = measure(timed, batch, || {
            let x = TensorRef::from_array_view(images.view())?;
            forward.run(ort::inputs![INPUT => x])?;
            Ok(())
        })?;
        let mut rates = Vec::new();
        for (optimizer, lr) in [(Optimizer::PAPER_SGD, 0.01), (Optimizer::ADAM, 0.001)] {
            let graph = training_graph(&model, Loss::HardLabels, &optimizer, false)
                .with_context(|| format!("the training graph of {arch}"))?;
            let mut runner = StepRunner::new(graph, device, THREADS, 0)?;
            let batch = Batch {
                images: images.view(),
                labels: &labels,
                soft_labels: None,
            };
            rates.push(measure(timed, images.shape()[0], || {
                runner.step(&batch, 1.0, lr)?;
                Ok(())
            })?);
        }
        println!(
            "| {arch} | {device:?} | {forward_rate:.0} | {:.0} | {:.0} | {:.2} |",
            rates[0],
            rates[1],
            forward_rate / rates[0]
        );
    }
    Ok(())
}

/// Images per second of `run` on batches of `batch`: one warm-up run, then runs until
/// [`CELL_TIME`] has passed. Untimed, two runs and a rate of zero.
fn measure(timed: bool, batch: usize, mut run: impl FnMut() -> Result<()>) -> Result<f64> {
    run()?;
    if !timed {
        run()?;
        return Ok(0.0);
    }
    let start = Instant::now();
    let mut runs = 0usize;
    while start.elapsed() < CELL_TIME {
        run()?;
        runs += 1;
    }
    Ok((runs * batch) as f64 / start.elapsed().as_secs_f64())
}
