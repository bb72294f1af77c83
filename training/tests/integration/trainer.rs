//! `robustaudit-train train` and `chain` driven as a user would: learning on the digits,
//! exports that tract and ONNX Runtime agree on, distillation from soft labels, resumption
//! after `kill -9`, and bad configurations refused before any training.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ndarray::s;
use robustaudit::data::{load, Split};
use robustaudit::model::{Classifier, TractClassifier};
use robustaudit_graph::onnx::{OnnxModel, Values};
use robustaudit_train::chain_config::ChainConfig;
use robustaudit_train::inference::Inference;
use robustaudit_train::manifest;
use robustaudit_train::runtime::Device;
use robustaudit_train::trainer::file_sha256;

use super::{spec_path, train};

fn digits_args(out: &Path, epochs: usize, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "train",
        "--arch",
        spec_path("digits-small").to_str().expect("utf-8"),
        "--data",
        "digits",
        "--epochs",
        &epochs.to_string(),
        "--batch",
        "32",
        "--lr",
        "0.1",
        "--threads",
        "1",
        "--out",
        out.to_str().expect("utf-8"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn run(args: &[String]) -> (i32, String, String) {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    train(&refs)
}

/// Test accuracy and the number of rows of a run's per-epoch log.
fn log_rows(path: &Path) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(path)
        .expect("epoch log")
        .records()
        .collect::<Result<_, _>>()
        .expect("csv rows")
}

/// Every float initializer of a model, by name.
fn weights(path: &Path) -> Vec<(String, Vec<f32>)> {
    let model = OnnxModel::open(path).expect("model");
    let mut names: Vec<String> = ["weight", "bias"]
        .iter()
        .flat_map(|k| (0..12).map(move |i| format!("layer{i}.{k}")))
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|n| {
            model.initializer(&n).map(|t| match t.values {
                Values::F32(v) => (n, v),
                Values::I64(_) => panic!("integer weights"),
            })
        })
        .collect()
}

#[test]
fn train_learns_the_digits_and_exports_a_graph_tract_and_onnx_runtime_agree_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, stdout, stderr) = run(&digits_args(dir.path(), 12, &[]));
    assert_eq!(code, 0, "{stderr}");
    let model_path = dir.path().join("teacher-T1.onnx");
    assert!(stdout.contains("teacher-T1.onnx"), "{stdout}");
    let rows = log_rows(&dir.path().join("teacher-T1.log.csv"));
    assert_eq!(rows.len(), 12);
    let accuracy: f32 = rows[11][3].parse().expect("test accuracy");
    assert!(accuracy >= 0.9, "test accuracy {accuracy} after 12 epochs");
    let first_loss: f32 = rows[0][1].parse().expect("loss");
    let last_loss: f32 = rows[11][1].parse().expect("loss");
    assert!(
        last_loss < 0.3 * first_loss,
        "loss {first_loss} -> {last_loss}"
    );

    let model = OnnxModel::open(&model_path).expect("export");
    for (key, value) in [
        ("role", "teacher"),
        ("hop", "0"),
        ("temperature", "1"),
        ("dataset", "digits"),
        ("seed", "0"),
        ("input_range", "-0.5,0.5"),
        ("parent_sha256", ""),
        ("epochs", "12"),
    ] {
        assert_eq!(model.metadata_value(key), Some(value), "metadata {key}");
    }
    let recorded: f32 = model
        .metadata_value("test_accuracy")
        .and_then(|v| v.parse().ok())
        .expect("test_accuracy metadata");
    assert!((recorded - accuracy).abs() < 1e-5);
    let rows = manifest::read(dir.path()).expect("manifest");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].sha256, file_sha256(&model_path).expect("sha"));

    let test = load("digits", Split::Test).expect("digits");
    let images = test.images.slice(s![..64, .., .., ..]);
    let tract = TractClassifier::new(model.clone())
        .expect("tract")
        .logits(images)
        .expect("tract logits");
    let ort = Inference::new(&model, Device::Cpu, 1)
        .expect("ort")
        .logits(images)
        .expect("ort logits");
    let worst = tract
        .iter()
        .zip(ort.iter())
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= 1e-4, "tract and onnx runtime differ by {worst}");
}

#[test]
fn a_student_distilled_at_t_matches_its_parent_far_above_chance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, stderr) = run(&digits_args(dir.path(), 12, &["--temperature", "10"]));
    assert_eq!(code, 0, "{stderr}");
    let teacher = dir.path().join("teacher-T10.onnx");
    let parent = teacher.to_str().expect("utf-8").to_string();
    let (code, _, stderr) = run(&digits_args(
        dir.path(),
        12,
        &["--temperature", "10", "--parent", &parent],
    ));
    assert_eq!(code, 0, "{stderr}");
    let student_path = dir.path().join("student-T10.onnx");
    let student = OnnxModel::open(&student_path).expect("student");
    assert_eq!(student.metadata_value("role"), Some("student"));
    assert_eq!(student.metadata_value("hop"), Some("1"));
    assert_eq!(
        student.metadata_value("parent_sha256"),
        Some(file_sha256(&teacher).expect("sha").as_str())
    );
    assert_eq!(student.metadata_value("loss"), Some("SoftLabels"));

    let test = load("digits", Split::Test).expect("digits");
    let predict = |path: &Path| {
        TractClassifier::open(path)
            .expect("tract")
            .predict(test.images.view())
            .expect("predict")
    };
    let (t, st) = (predict(&teacher), predict(&student_path));
    let agreement = t.iter().zip(&st).filter(|(a, b)| a == b).count() as f32 / t.len() as f32;
    eprintln!(
        "student agrees with its teacher on {:.1}% of the digits test set",
        100.0 * agreement
    );
    assert!(agreement >= 0.8, "agreement {agreement} (chance is 0.1)");
    assert_eq!(manifest::read(dir.path()).expect("manifest").len(), 2);
}

#[test]
fn a_run_killed_mid_training_resumes_to_the_same_weights_as_an_uninterrupted_one() {
    let epochs = 40;
    let straight = tempfile::tempdir().expect("tempdir");
    let (code, _, stderr) = run(&digits_args(straight.path(), epochs, &[]));
    assert_eq!(code, 0, "{stderr}");

    let killed = tempfile::tempdir().expect("tempdir");
    let args = digits_args(killed.path(), epochs, &[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_robustaudit-train"))
        .args(&args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let checkpoint = killed.path().join("checkpoints").join("teacher-T1.ckpt");
    let started = Instant::now();
    while !checkpoint.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no checkpoint"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("kill -9");
    let status = child.wait().expect("wait");
    assert!(
        !status.success(),
        "the run finished before it could be killed"
    );
    assert!(!killed.path().join("teacher-T1.onnx").exists());

    let (code, _, stderr) = run(&args);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("resuming after epoch"), "{stderr}");
    let a = weights(&straight.path().join("teacher-T1.onnx"));
    let b = weights(&killed.path().join("teacher-T1.onnx"));
    assert!(!a.is_empty());
    assert_eq!(a, b, "resumed weights differ from the uninterrupted run's");
    assert_eq!(
        log_rows(&killed.path().join("teacher-T1.log.csv")).len(),
        epochs
    );

    // Rerunning a finished command trains nothing.
    let (code, _, stderr) = run(&args);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("already trained"), "{stderr}");
}

fn write_config(dir: &Path, body: &str) -> PathBuf {
    let arch = spec_path("digits-small");
    let text = body.replace("ARCH", arch.to_str().expect("utf-8"));
    let path = dir.join("chain.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

const SMOKE: &str = r#"name = "smoke"
dataset = "digits"
temperatures = [5]
baseline = "student"

[training]
epochs = 2
batch = 32
learning_rate = 0.1

[networks]
teacher = "ARCH"
assistant = "ARCH"
student = "ARCH"

[[chains]]
name = "distillation"
hops = ["teacher", "student"]

[[chains]]
name = "teacher-assistant"
hops = ["teacher", "assistant", "student"]
"#;

fn chain(config: &Path, out: &Path) -> (i32, String, String) {
    train(&[
        "chain",
        "--config",
        config.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--threads",
        "1",
    ])
}

#[test]
fn a_chain_trains_each_network_once_and_links_every_child_to_its_parent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), SMOKE);
    let out = dir.path().join("run");
    let (code, stdout, stderr) = chain(&config, &out);
    assert_eq!(code, 0, "{stderr}");
    let rows = manifest::read(&out).expect("manifest");
    let files: Vec<&str> = rows.iter().map(|r| r.file.as_str()).collect();
    assert_eq!(
        files,
        [
            "teacher-T5.onnx",
            "teacher-assistant-T5.onnx",
            "teacher-assistant-student-T5.onnx",
            "teacher-student-T5.onnx",
            "undistilled-student-T1.onnx",
        ],
        "{stdout}"
    );
    for row in &rows {
        let path = out.join(&row.file);
        assert_eq!(row.sha256, file_sha256(&path).expect("sha"), "{}", row.file);
        let model = OnnxModel::open(&path).expect("export");
        assert_eq!(model.metadata_value("role"), Some(row.role.as_str()));
        assert!(model
            .metadata_value("config")
            .is_some_and(|c| c.contains("teacher-assistant")));
        if !row.parent.is_empty() {
            let parent = rows
                .iter()
                .find(|r| r.file == row.parent)
                .expect("parent row");
            assert_eq!(row.parent_sha256, parent.sha256, "{}", row.file);
            assert_eq!(row.hop, parent.hop + 1);
        }
    }
    let teacher = rows
        .iter()
        .find(|r| r.file == "teacher-T5.onnx")
        .expect("teacher");
    assert_eq!(teacher.chains, "distillation;teacher-assistant");
    let baseline = rows
        .iter()
        .find(|r| r.role == "undistilled")
        .expect("baseline");
    assert_eq!(baseline.temperature, 1.0);

    let (code, _, stderr) = chain(&config, &out);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr.matches("already trained").count(), 5, "{stderr}");
}

/// Runs `chain` on a configuration and expects it refused with `code`, `needles` in the
/// message, and nothing written.
fn refused(body: &str, code: i32, needles: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), body);
    let out = dir.path().join("run");
    let (got, _, stderr) = chain(&config, &out);
    assert_eq!(got, code, "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    }
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1
    );
    assert!(!out.exists(), "something was written");
}

#[test]
fn every_shipped_chain_configuration_is_valid() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/chains"));
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("models/chains") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let config =
                ChainConfig::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!config.chains.is_empty(), "{}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 5, "only {seen} configurations found");
}

#[test]
fn bad_configurations_are_refused_before_training_naming_the_line_and_field() {
    refused(
        &SMOKE.replace("temperatures = [5]", "temperatures = [5, 0]"),
        6,
        &["line 3, temperatures[1]", "positive"],
    );
    refused(
        &SMOKE.replace(
            r#"hops = ["teacher", "student"]"#,
            r#"hops = ["teacher", "pupil"]"#,
        ),
        6,
        &["chains[0].hops[1]", "no network named 'pupil'"],
    );
    refused(
        &SMOKE.replace("learning_rate = 0.1", "learning_rate = 0.1\nmomentun = 0.9"),
        6,
        &["line 10", "momentun"],
    );
    refused(
        &SMOKE.replace("\"digits\"", "\"mnist\""),
        6,
        &["networks.", "[1, 8, 8]", "[1, 28, 28]"],
    );
    refused(
        &SMOKE.replace("\"digits\"", "\"cifar10:/nonexistent\""),
        3,
        &["/nonexistent"],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let arch = dir.path().join("bad.toml");
    std::fs::write(
        &arch,
        "name = \"bad\"\ninput = [1, 8, 8]\nclasses = 10\n[[layers]]\nkind = \"convolution\"\n",
    )
    .expect("write arch");
    let body = SMOKE.replacen(
        "\"ARCH\"",
        &format!("{:?}", arch.to_str().expect("utf-8")),
        1,
    );
    refused(&body, 6, &["networks.teacher", "bad.toml", "convolution"]);
}

#[test]
fn bad_train_flags_are_usage_errors_and_cuda_never_falls_back_to_the_cpu() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("run");
    let (code, _, stderr) = run(&digits_args(&out, 1, &["--temperature", "0"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--temperature 0") && stderr.contains("hint:"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&digits_args(&out, 1, &["--optimizer", "rmsprop"]));
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = run(&digits_args(&out, 1, &["--device", "cuda"]));
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("cuda") && stderr.contains("hint:"),
        "{stderr}"
    );
    assert!(
        !out.join("teacher-T1.onnx").exists(),
        "trained despite the error"
    );
}

#[test]
fn pretraining_starts_every_network_of_an_architecture_from_one_shared_network() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = SMOKE.replace("baseline = \"student\"", "pretrain_epochs = 1");
    let config = write_config(dir.path(), &body);
    let out = dir.path().join("run");
    let (code, _, stderr) = chain(&config, &out);
    assert_eq!(code, 0, "{stderr}");
    let rows = manifest::read(&out).expect("manifest");
    let init = rows
        .iter()
        .find(|r| r.role == "init")
        .expect("the shared network's row");
    assert_eq!(
        (init.file.as_str(), init.epochs, init.temperature),
        ("init-digits-small.onnx", Some(1), 1.0)
    );
    let expected = format!("init-digits-small.onnx sha256 {}", init.sha256);
    let others: Vec<_> = rows.iter().filter(|r| r.role != "init").collect();
    assert_eq!(others.len(), 4);
    for row in others {
        let model = OnnxModel::open(&out.join(&row.file)).expect("export");
        assert_eq!(
            model.metadata_value("init"),
            Some(expected.as_str()),
            "{}",
            row.file
        );
    }
}

#[test]
fn train_from_another_networks_weights_starts_where_it_ended() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("first");
    let (code, _, stderr) = run(&digits_args(&first, 3, &[]));
    assert_eq!(code, 0, "{stderr}");
    let source = first.join("teacher-T1.onnx");

    // A learning rate too small to move the weights: the copy keeps the source's weights,
    // while the same run from seeded weights stays far from them.
    let tiny = |out: &Path, extra: &[&str]| {
        let mut args = digits_args(out, 1, &[&["--role", "copy"], extra].concat());
        let at = args.iter().position(|a| a == "--lr").expect("--lr") + 1;
        args[at] = "1e-9".into();
        args
    };
    let copy = dir.path().join("copy");
    let init = source.to_str().expect("utf-8");
    let (code, _, stderr) = run(&tiny(&copy, &["--init", init]));
    assert_eq!(code, 0, "{stderr}");
    let fresh = dir.path().join("fresh");
    let (code, _, stderr) = run(&tiny(&fresh, &[]));
    assert_eq!(code, 0, "{stderr}");
    let distance = |a: &Path, b: &Path| {
        weights(a)
            .iter()
            .zip(weights(b))
            .flat_map(|((_, x), (_, y))| {
                x.iter()
                    .zip(y)
                    .map(|(p, q)| (p - q).abs())
                    .collect::<Vec<_>>()
            })
            .fold(0.0f32, f32::max)
    };
    assert!(distance(&source, &copy.join("copy-T1.onnx")) < 1e-5);
    assert!(distance(&source, &fresh.join("copy-T1.onnx")) > 1e-2);
    let model = OnnxModel::open(&copy.join("copy-T1.onnx")).expect("export");
    let sha = file_sha256(&source).expect("sha");
    assert_eq!(
        model.metadata_value("init"),
        Some(format!("teacher-T1.onnx sha256 {sha}").as_str())
    );

    // Weights of another architecture are refused before training.
    let other = dir.path().join("other.toml");
    let spec = std::fs::read_to_string(spec_path("digits-small"))
        .expect("spec")
        .replace("filters = 16", "filters = 8");
    std::fs::write(&other, spec).expect("write spec");
    let mut args = digits_args(&dir.path().join("other"), 1, &["--init", init]);
    let at = args.iter().position(|a| a == "--arch").expect("--arch") + 1;
    args[at] = other.to_str().expect("utf-8").to_string();
    let (code, _, stderr) = run(&args);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("cannot start from") && stderr.contains("hint:"),
        "{stderr}"
    );
}
