//! The query queue on a real tract network: queries merge into batches, every run gets the
//! rows the model gives its images alone, and a failing or panicking run stops the queue
//! without leaving anyone waiting.

use std::sync::Mutex;

use ndarray::{s, Array2, Array4, ArrayView2, ArrayView4};

use super::{run_queued, QueueSize};
use crate::attacks::tests::{dense_model, images};
use crate::error::{Error, Result};
use crate::model::{Classifier, Differentiable, TractDifferentiable};

/// The network, recording the batch size of every call it gets.
struct Recording {
    model: TractDifferentiable,
    batches: Mutex<Vec<usize>>,
}

impl Recording {
    fn new() -> Self {
        Recording {
            model: dense_model(3),
            batches: Mutex::new(Vec::new()),
        }
    }

    fn batches(&self) -> Vec<usize> {
        self.batches.lock().expect("lock").clone()
    }
}

impl Classifier for Recording {
    fn input_chw(&self) -> [usize; 3] {
        self.model.input_chw()
    }
    fn classes(&self) -> usize {
        self.model.classes()
    }
    fn logits(&self, images: ArrayView4<f32>) -> Result<Array2<f32>> {
        self.batches.lock().expect("lock").push(images.shape()[0]);
        self.model.logits(images)
    }
}

impl Differentiable for Recording {
    fn vjp(
        &self,
        images: ArrayView4<f32>,
        seed: ArrayView2<f32>,
    ) -> Result<(Array2<f32>, Array4<f32>)> {
        self.batches.lock().expect("lock").push(images.shape()[0]);
        self.model.vjp(images, seed)
    }
}

/// A seed that differs per run, so that rows handed to the wrong run would show.
fn seed_of(run: usize, classes: usize) -> Array2<f32> {
    Array2::from_shape_fn((1, classes), |(_, k)| (run * 3 + k) as f32 % 5.0 - 2.0)
}

#[test]
fn queries_of_runs_in_flight_merge_into_one_batch_and_each_run_gets_its_own_rows() {
    let model = Recording::new();
    let x = images(12, -0.5, 0.5, 4);
    let classes = model.classes();
    let size = QueueSize {
        workers: 12,
        rows: 64,
    };
    let results = run_queued(&model, 12, size, |i, queued| {
        let image = x.slice(s![i..i + 1, .., .., ..]);
        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(queued.vjp(image, seed_of(i, classes).view())?);
            answers.push((queued.logits(image)?, Array4::zeros((0, 1, 8, 8))));
        }
        Ok(answers)
    })
    .expect("queue");
    let batches = model.batches();
    assert_eq!(
        batches.iter().sum::<usize>(),
        12 * 8,
        "every query ran once"
    );
    assert!(
        batches.iter().all(|&b| b == 12),
        "with every run waiting, each batch holds all 12 runs' queries: {batches:?}"
    );
    for (i, answers) in results.iter().enumerate() {
        let image = x.slice(s![i..i + 1, .., .., ..]);
        let (logits, grads) = model
            .model
            .vjp(image, seed_of(i, classes).view())
            .expect("alone");
        for pair in answers.chunks(2) {
            assert_eq!(pair[0].0, logits, "run {i}: logits of its own image");
            assert_eq!(pair[0].1, grads, "run {i}: gradient of its own image");
            assert_eq!(
                pair[1].0, logits,
                "run {i}: forward logits of its own image"
            );
        }
    }
}

#[test]
fn a_batch_starts_once_enough_rows_are_pending_and_runs_join_as_others_leave() {
    let model = Recording::new();
    let x = images(30, -0.5, 0.5, 5);
    let size = QueueSize {
        workers: 6,
        rows: 6,
    };
    // Run i makes i % 4 + 1 queries: runs leave at different times, and later runs join.
    let results = run_queued(&model, 30, size, |i, queued| {
        let image = x.slice(s![i..i + 1, .., .., ..]);
        (0..i % 4 + 1)
            .map(|_| queued.logits(image))
            .collect::<Result<Vec<_>>>()
    })
    .expect("queue");
    let batches = model.batches();
    let queries: usize = (0..30).map(|i| i % 4 + 1).sum();
    assert_eq!(batches.iter().sum::<usize>(), queries);
    assert!(batches.iter().all(|&b| b <= 6), "{batches:?}");
    assert!(
        batches.len() < queries / 2,
        "queries were merged: {} batches for {queries} queries",
        batches.len()
    );
    for (i, answers) in results.iter().enumerate() {
        let alone = model
            .model
            .logits(x.slice(s![i..i + 1, .., .., ..]))
            .expect("alone");
        assert_eq!(answers.len(), i % 4 + 1);
        assert!(answers.iter().all(|a| *a == alone), "run {i}");
    }
}

#[test]
fn the_first_error_stops_every_run_and_is_returned() {
    let model = Recording::new();
    let x = images(1, -0.5, 0.5, 6);
    let size = QueueSize {
        workers: 8,
        rows: 64,
    };
    let result = run_queued(&model, 40, size, |i, queued| {
        if i == 5 {
            return Err(Error::Usage {
                message: "run 5 gave up".into(),
                hint: None,
            });
        }
        // The other runs would query for a long time if nothing stopped them.
        for _ in 0..100_000 {
            queued.logits(x.view())?;
        }
        Ok(i)
    });
    match result {
        Err(Error::Usage { message, .. }) => assert_eq!(message, "run 5 gave up"),
        other => panic!("expected run 5's error, got {other:?}"),
    }
    assert!(model.batches().len() < 100_000, "the queue stopped early");
}

#[test]
fn a_panicking_run_leaves_nobody_waiting() {
    let model = Recording::new();
    let x = images(1, -0.5, 0.5, 7);
    let size = QueueSize {
        workers: 4,
        rows: 64,
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_queued(&model, 8, size, |i, queued| {
            queued.logits(x.view())?;
            assert!(i != 2, "run 2 panics");
            for _ in 0..10 {
                queued.logits(x.view())?;
            }
            Ok(i)
        })
    }));
    assert!(outcome.is_err(), "the panic reaches the caller");
}

#[test]
fn the_paper_network_computes_every_row_the_same_whatever_batch_it_runs_in() {
    // The queue's determinism rests on this: tract gives a row the same bits alone, at any
    // position of a batch and in batches of any size (within and across its chunks).
    let graph = robustaudit_graph::fixtures::network("mnist-paper", 1, "mnist-paper.onnx");
    let model = TractDifferentiable::new(graph).expect("vjp graph");
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(2);
    let x = Array4::from_shape_fn((40, 1, 28, 28), |_| {
        rand::Rng::gen_range(&mut rng, -0.5..0.5)
    });
    let seeds = Array2::from_shape_fn((40, 10), |(i, k)| ((i * 7 + k * 3) % 5) as f32 - 2.0);
    let (logits, grads) = model.vjp(x.view(), seeds.view()).expect("whole batch");
    let forward = model.logits(x.view()).expect("whole batch");
    for (start, n) in [(0, 1), (7, 1), (3, 5), (10, 16), (5, 17), (2, 33)] {
        let rows = s![start..start + n, ..];
        let (l, g) = model
            .vjp(x.slice(s![start..start + n, .., .., ..]), seeds.slice(rows))
            .expect("part");
        let f = model
            .logits(x.slice(s![start..start + n, .., .., ..]))
            .expect("part");
        assert_eq!(l, logits.slice(rows), "vjp logits of rows {start}..+{n}");
        assert_eq!(
            f,
            forward.slice(rows),
            "forward logits of rows {start}..+{n}"
        );
        assert_eq!(
            g,
            grads.slice(s![start..start + n, .., .., ..]),
            "gradients of rows {start}..+{n}"
        );
    }
}
