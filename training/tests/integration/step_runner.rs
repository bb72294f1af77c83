//! The step runner on ONNX Runtime's CPU provider: learning on the digits, dropout masks
//! reproducible from their seed, and a reloaded state continuing exactly.

use ndarray::Axis;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use robustaudit::data::{load, Dataset, Split};
use robustaudit::model::{Classifier, TractClassifier};
use robustaudit_graph::arch::forward_graph;
use robustaudit_graph::grad::{training_graph, with_state, Loss, Optimizer, StateRole};
use robustaudit_train::runtime::Device;
use robustaudit_train::step::{Batch, HostTensor, StepRunner};

use super::spec;

const BATCH: usize = 32;

fn digits(split: Split) -> (Dataset, Vec<usize>) {
    let data = load("digits", split).expect("digits (run scripts/setup)");
    let labels = data.labels.clone().expect("labelled");
    (data, labels)
}

fn runner(optimizer: Optimizer, mask_seed: u64) -> StepRunner {
    let spec = spec("digits-small");
    let model = forward_graph(&spec, 0, "digits-small.onnx".into()).expect("model");
    let graph = training_graph(&model, Loss::HardLabels, &optimizer, false).expect("graph");
    StepRunner::new(graph, Device::Cpu, 1, mask_seed).expect("runner")
}

/// Runs `steps` steps on batches drawn from a permutation of the training set that
/// depends on the step number only; returns the mean loss of the first and last 10 steps.
fn train(
    runner: &mut StepRunner,
    data: &Dataset,
    labels: &[usize],
    steps: usize,
    lr: f32,
) -> (f32, f32) {
    let n = data.images.len_of(Axis(0));
    let mut losses = Vec::new();
    for _ in 0..steps {
        let step = runner.steps() as usize;
        let per_epoch = n / BATCH;
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64((step / per_epoch) as u64));
        let rows = &order[(step % per_epoch) * BATCH..][..BATCH];
        let images = data.images.select(Axis(0), rows);
        let batch_labels: Vec<usize> = rows.iter().map(|&r| labels[r]).collect();
        let batch = Batch {
            images: images.view(),
            labels: &batch_labels,
            soft_labels: None,
        };
        let result = runner.step(&batch, 1.0, lr).expect("step");
        assert!(result.loss.is_finite() && result.correct <= BATCH);
        losses.push(result.loss);
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    (mean(&losses[..10]), mean(&losses[losses.len() - 10..]))
}

fn parameters(runner: &StepRunner) -> Vec<HostTensor> {
    runner
        .state()
        .expect("state")
        .into_iter()
        .filter(|t| {
            runner
                .graph()
                .state
                .iter()
                .any(|s| s.name == t.name && s.role == StateRole::Parameter)
        })
        .collect()
}

#[test]
fn a_few_hundred_steps_learn_the_digits() {
    let (train_set, train_labels) = digits(Split::Train);
    let (test_set, test_labels) = digits(Split::Test);
    for (name, optimizer, lr) in [
        ("sgd", Optimizer::PAPER_SGD, 0.05),
        ("adam", Optimizer::ADAM, 0.002),
    ] {
        let mut runner = runner(optimizer, 1);
        let (first, last) = train(&mut runner, &train_set, &train_labels, 300, lr);
        let spec = spec("digits-small");
        let model = forward_graph(&spec, 0, "digits-small.onnx".into()).expect("model");
        let values: Vec<_> = parameters(&runner)
            .into_iter()
            .map(|t| (t.name, t.dims, t.values))
            .collect();
        let trained = with_state(&model, &values).expect("trained model");
        let classifier = TractClassifier::new(trained).expect("tract");
        let predicted = classifier.predict(test_set.images.view()).expect("predict");
        let correct = predicted
            .iter()
            .zip(&test_labels)
            .filter(|(p, l)| p == l)
            .count();
        let accuracy = correct as f32 / test_labels.len() as f32;
        eprintln!(
            "digits-small, {name}, 300 steps of {BATCH}: loss {first:.3} -> {last:.3}, test accuracy {:.1}% (tract)",
            100.0 * accuracy
        );
        assert!(
            last < 0.5 * first,
            "{name}: the loss fell from {first} to {last} only"
        );
        assert!(accuracy >= 0.9, "{name}: test accuracy {accuracy}");
    }
}

#[test]
fn the_same_mask_seed_gives_the_same_weights_and_another_does_not() {
    let (data, labels) = digits(Split::Train);
    let mut weights = Vec::new();
    for mask_seed in [7, 7, 8] {
        let mut runner = runner(Optimizer::PAPER_SGD, mask_seed);
        train(&mut runner, &data, &labels, 20, 0.05);
        weights.push(parameters(&runner));
    }
    assert_eq!(weights[0], weights[1], "same seed, same bits");
    assert_ne!(weights[0], weights[2], "the masks depend on the seed");
}

#[test]
fn a_reloaded_state_continues_exactly_like_an_uninterrupted_run() {
    let (data, labels) = digits(Split::Train);
    let mut straight = runner(Optimizer::ADAM, 3);
    train(&mut straight, &data, &labels, 30, 0.002);

    let mut first_half = runner(Optimizer::ADAM, 3);
    train(&mut first_half, &data, &labels, 15, 0.002);
    let saved = first_half.state().expect("state");
    drop(first_half);
    let mut resumed = runner(Optimizer::ADAM, 3);
    resumed.load_state(&saved).expect("load");
    assert_eq!(resumed.steps(), 15);
    train(&mut resumed, &data, &labels, 15, 0.002);

    assert_eq!(
        straight.state().expect("state"),
        resumed.state().expect("state")
    );
}
