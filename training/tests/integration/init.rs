//! `robustaudit-train init`.

use std::path::Path;

use robustaudit_graph::onnx::OnnxModel;

use super::{spec_path, train};

fn init(arch: &Path, seed: u64, out: &Path) -> (i32, String, String) {
    train(&[
        "init",
        "--arch",
        arch.to_str().expect("utf-8 path"),
        "--seed",
        &seed.to_string(),
        "--out",
        out.to_str().expect("utf-8 path"),
    ])
}

#[test]
fn init_writes_a_seeded_reproducible_graph() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b, c) = (
        dir.path().join("a.onnx"),
        dir.path().join("nested/b.onnx"),
        dir.path().join("c.onnx"),
    );
    let (code, stdout, stderr) = init(&spec_path("mnist-paper"), 1, &a);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        format!(
            "wrote {} (mnist-paper, 312202 trainable parameters, seed 1)\n",
            a.display()
        )
    );
    assert_eq!(init(&spec_path("mnist-paper"), 1, &b).0, 0);
    assert_eq!(init(&spec_path("mnist-paper"), 2, &c).0, 0);
    let read = |p: &Path| std::fs::read(p).expect("model written");
    assert_eq!(read(&a), read(&b));
    assert_ne!(read(&a), read(&c));
    // Only the model files: the temporary file of the atomic write is gone.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.onnx", "c.onnx", "nested"]);

    let model = OnnxModel::open(&a).expect("valid model");
    assert_eq!(model.metadata_value("role"), Some("init"));
    assert_eq!(model.metadata_value("arch"), Some("mnist-paper"));
    assert_eq!(model.metadata_value("seed"), Some("1"));
    assert_eq!(
        OnnxModel::open(&c).expect("valid").metadata_value("seed"),
        Some("2")
    );
    let signature = model.signature().expect("signature");
    assert_eq!(signature.input.chw(), [1, 28, 28]);
}

#[test]
fn init_matches_the_library_graph() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("d.onnx");
    assert_eq!(init(&spec_path("digits-small"), 9, &out).0, 0);
    let spec = super::spec("digits-small");
    let mut expected =
        robustaudit_graph::arch::forward_graph(&spec, 9, out.clone()).expect("forward graph");
    expected.set_metadata("role", "init");
    assert_eq!(std::fs::read(&out).expect("read"), expected.to_bytes());
}

#[test]
fn invalid_spec_exits_6_naming_the_layer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("bad.toml");
    std::fs::write(
        &spec,
        "name = \"bad\"\ninput = [1, 8, 8]\nclasses = 10\n\n\
         [[layers]]\nkind = \"conv\"\nfilters = 4\nkernel = 3\n\n\
         [[layers]]\nkind = \"dense\"\nunits = 10\n",
    )
    .expect("write spec");
    let out = dir.path().join("bad.onnx");
    let (code, stdout, stderr) = init(&spec, 0, &out);
    assert_eq!(code, 6, "{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        format!(
            "error: invalid architecture spec {}: layers[1] (dense): needs flat features but \
             receives a 4x6x6 image; add a flatten layer before it\n",
            spec.display()
        )
    );
    assert!(!out.exists());
}

#[test]
fn unknown_layer_kind_exits_6_with_a_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("kind.toml");
    std::fs::write(
        &spec,
        "name = \"k\"\ninput = [1, 8, 8]\nclasses = 10\n\n[[layers]]\nkind = \"lstm\"\n",
    )
    .expect("write spec");
    let (code, _, stderr) = init(&spec, 0, &dir.path().join("k.onnx"));
    assert_eq!(code, 6, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with(&format!(
            "error: invalid architecture spec {}: line 6, column 8: ",
            spec.display()
        )),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with("hint: layer kinds are conv, relu"),
        "{stderr}"
    );
}

#[test]
fn missing_spec_file_exits_6() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("absent.toml");
    let out = dir.path().join("x.onnx");
    let (code, _, stderr) = init(&spec, 0, &out);
    assert_eq!(code, 6, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: cannot read architecture spec {}: ",
            spec.display()
        )),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn bad_command_lines_exit_2() {
    let (code, _, stderr) = train(&["init", "--out", "x.onnx"]);
    assert_eq!(code, 2);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("--arch <ARCH>"), "{stderr}");
    let (code, _, stderr) = train(&["init", "--arch", "a.toml", "--out", "x.onnx", "--seed", "x"]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error: invalid value 'x' for '--seed <SEED>'"),
        "{stderr}"
    );
    assert!(!Path::new("x.onnx").exists());
}
