//! The built-in datasets as installed by `scripts/setup`.

use robustaudit::data::{load, DataError, Dataset, Split};

fn check_labelled(set: &Dataset, name: &str, len: usize, chw: (usize, usize, usize)) {
    assert_eq!(set.name, name);
    assert_eq!(set.len(), len);
    assert_eq!(set.sample_shape(), chw);
    assert_eq!(set.classes, 10);
    let labels = set.labels.as_ref().expect("labelled");
    assert_eq!(labels.len(), len);
    let mut counts = [0usize; 10];
    for &label in labels {
        counts[label] += 1;
    }
    // Every class is present, none dominates.
    assert!(
        counts.iter().all(|&c| c > len / 20 && c < len / 5),
        "{counts:?}"
    );
}

fn range(set: &Dataset) -> (f32, f32) {
    set.images
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

#[test]
fn mnist_test_set() {
    let set = load("mnist", Split::Test).expect("mnist test");
    check_labelled(&set, "mnist/test", 10_000, (1, 28, 28));
    assert_eq!(range(&set), (-0.5, 0.5));
    // The first test digit of MNIST is a 7, then 2, 1, 0, 4.
    assert_eq!(set.labels.as_ref().expect("labels")[..5], [7, 2, 1, 0, 4]);
    assert!(set.images.is_standard_layout());
}

#[test]
fn mnist_train_set() {
    let set = load("mnist", Split::Train).expect("mnist train");
    check_labelled(&set, "mnist/train", 60_000, (1, 28, 28));
    assert_eq!(set.labels.as_ref().expect("labels")[..5], [5, 0, 4, 1, 9]);
}

#[test]
fn fashion_mnist_test_set() {
    let set = load("fashion-mnist", Split::Test).expect("fashion-mnist test");
    check_labelled(&set, "fashion-mnist/test", 10_000, (1, 28, 28));
    assert_eq!(range(&set), (-0.5, 0.5));
    // Fashion-MNIST's test set is balanced: 1000 images per class.
    let labels = set.labels.as_ref().expect("labels");
    for class in 0..10 {
        assert_eq!(labels.iter().filter(|&&l| l == class).count(), 1000);
    }
}

#[test]
fn digits_train_and_test_sets() {
    let train = load("digits", Split::Train).expect("digits train");
    check_labelled(&train, "digits/train", 1437, (1, 8, 8));
    let test = load("digits", Split::Test).expect("digits test");
    check_labelled(&test, "digits/test", 360, (1, 8, 8));
    let (lo, hi) = range(&train);
    assert_eq!((lo, hi), (-0.5, 0.5));
    // Intensities are whole sixteenths.
    for &v in test.images.iter() {
        let sixteenths = (v + 0.5) * 16.0;
        assert_eq!(sixteenths, sixteenths.round(), "{v}");
    }
}

#[test]
fn cifar10_in_a_missing_folder_is_not_installed() {
    let err = load("cifar10:/nonexistent", Split::Test).unwrap_err();
    assert!(
        matches!(&err, DataError::NotInstalled { dataset, missing, .. }
            if dataset == "cifar10" && missing == "test_batch.bin"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "dataset cifar10 is not installed: no test_batch.bin in /nonexistent"
    );
    assert!(err.hint().expect("hint").contains("cifar-10-binary.tar.gz"));
    let err = load("cifar10:/nonexistent", Split::Train).unwrap_err();
    assert_eq!(
        err.to_string(),
        "dataset cifar10 is not installed: no data_batch_1.bin in /nonexistent"
    );
}

#[test]
fn unknown_dataset_lists_the_known_names() {
    let err = load("imagenet", Split::Test).unwrap_err();
    assert!(matches!(err, DataError::UnknownDataset { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "unknown dataset `imagenet`: known names are mnist, fashion-mnist, digits, \
         cifar10:<dir>, <file>.npy, <dir of class folders>"
    );
    assert!(err.hint().expect("hint").contains(".npy"));
}
