//! Loader safety and signature tests on graphs built here, written to temporary folders.

use std::path::{Path, PathBuf};

use prost::Message;
use tract_onnx::pb::{tensor_proto::DataLocation, ModelProto, StringStringEntryProto};

use super::*;
use crate::fixtures::{linear_batch, linear_logits, linear_network};
use crate::test_runner::TestPlan;

fn write_proto(dir: &Path, name: &str, proto: &ModelProto) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, proto.encode_to_vec()).expect("write model");
    path
}

#[test]
fn a_fixed_batch_above_the_limit_is_refused_before_any_probe_runs() {
    // A fuzzed model declared a fixed batch of 2^20: every probe ran a million images.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut proto = linear_network(&dir.path().join("m.onnx"), false)
        .proto()
        .clone();
    for (batch, refused) in [(signature::MAX_FIXED_BATCH as i64, false), (1 << 20, true)] {
        let graph = proto.graph.as_mut().expect("graph");
        if let Some(tract_onnx::pb::type_proto::Value::TensorType(t)) = graph.input[0]
            .r#type
            .as_mut()
            .and_then(|t| t.value.as_mut())
        {
            if let Some(shape) = t.shape.as_mut() {
                shape.dim[0].value =
                    Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(batch));
            }
        }
        let path = write_proto(dir.path(), "fixed.onnx", &proto);
        let model = OnnxModel::open(&path).expect("open");
        match model.signature() {
            Ok(s) => {
                assert!(!refused, "batch {batch} accepted");
                assert_eq!(s.input.fixed_batch, Some(batch as usize));
            }
            Err(e) => {
                assert!(refused, "batch {batch}: {e}");
                assert!(e.to_string().contains("fixed batch of 1048576"), "{e}");
                assert!(matches!(e, OnnxError::Invalid { .. }), "{e:?}");
            }
        }
    }
}

/// Moves initializer `w` to an external file named `location` holding `bytes`.
fn with_external_weights(dir: &Path, location: &str) -> ModelProto {
    let mut proto = linear_network(&dir.join("m.onnx"), false).proto().clone();
    let w = &mut proto.graph.as_mut().expect("graph").initializer[0];
    assert_eq!(w.name, "w");
    let bytes = std::mem::take(&mut w.raw_data);
    std::fs::write(dir.join("weights.bin"), &bytes).expect("write weights");
    w.data_location = Some(DataLocation::External as i32);
    w.external_data = vec![StringStringEntryProto {
        key: "location".into(),
        value: location.into(),
    }];
    proto
}

#[test]
fn external_data_inside_the_model_folder_is_inlined() {
    let dir = tempfile::tempdir().expect("tempdir");
    let proto = with_external_weights(dir.path(), "weights.bin");
    let model = OnnxModel::open(&write_proto(dir.path(), "ext.onnx", &proto)).expect("open");
    let x = linear_batch();
    let logits = TestPlan::new(&model)
        .expect("plan")
        .logits(x.view())
        .expect("run");
    let expected = linear_logits(&x);
    for (a, b) in logits.iter().zip(expected.iter()) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}

#[test]
fn external_data_outside_the_model_folder_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("model");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(root.path().join("secret.bin"), [0u8; 24]).expect("secret");
    std::os::unix::fs::symlink(root.path().join("secret.bin"), dir.join("link.bin")).expect("link");
    for (location, expected) in [
        ("../secret.bin", "relative path inside"),
        ("/etc/hostname", "relative path inside"),
        ("sub/../../secret.bin", "relative path inside"),
        ("link.bin", "resolves outside"),
        ("missing.bin", "cannot open"),
    ] {
        let proto = with_external_weights(&dir, location);
        let path = write_proto(&dir, "evil.onnx", &proto);
        let err = OnnxModel::open(&path).expect_err(location);
        assert!(
            matches!(err, OnnxError::ExternalData { ref reason, .. } if reason.contains(expected)),
            "{location}: {err}"
        );
    }
}

#[test]
fn external_data_shorter_than_the_tensor_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let proto = with_external_weights(dir.path(), "weights.bin");
    std::fs::write(dir.path().join("weights.bin"), [0u8; 10]).expect("shorten");
    let err = OnnxModel::open(&write_proto(dir.path(), "short.onnx", &proto)).expect_err("short");
    assert!(err.to_string().contains("24 bytes are needed"), "{err}");
}

#[test]
fn unsupported_ops_are_all_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut proto = linear_network(&dir.path().join("m.onnx"), false)
        .proto()
        .clone();
    let graph = proto.graph.as_mut().expect("graph");
    graph.node[0].op_type = "FancyFlatten".into();
    graph.node[1].domain = "com.vendor".into();
    let err = OnnxModel::open(&write_proto(dir.path(), "u.onnx", &proto)).expect_err("unsupported");
    match err {
        OnnxError::UnsupportedOps { ops, .. } => {
            assert_eq!(
                ops,
                vec!["FancyFlatten".to_string(), "com.vendor:Gemm".to_string()]
            )
        }
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn a_model_without_an_image_input_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut b = GraphBuilder::new("flat");
    b.input("x", &[None, Some(2)]);
    b.node("Relu", &["x"], &["y"], &[]);
    b.output("y", &[None, Some(2)]);
    let model = b.finish(dir.path().join("flat.onnx")).expect("valid graph");
    let err = model.signature().expect_err("no image input");
    assert!(
        matches!(err, OnnxError::NoImageInput { ref found, .. } if found.contains("float[batch, 2]")),
        "{err}"
    );
}

#[test]
fn garbage_bytes_are_a_malformed_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("garbage.onnx");
    std::fs::write(&path, b"this is not a protobuf message \xff\xff\xff").expect("write");
    let err = OnnxModel::open(&path).expect_err("garbage");
    assert!(matches!(err, OnnxError::Malformed { .. }), "{err}");
}

/// The committed hostile fixture `tests/fixtures/hostile/<name>`, checked against (or, with
/// `ROBUSTAUDIT_BLESS=1`, written from) the proto a test builds.
fn hostile_fixture(name: &str, proto: &ModelProto) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/hostile")
        .join(name);
    let bytes = proto.encode_to_vec();
    if std::env::var_os("ROBUSTAUDIT_BLESS").is_some() {
        std::fs::write(&path, &bytes).expect("write fixture");
    }
    assert_eq!(
        std::fs::read(&path).expect("committed fixture"),
        bytes,
        "{name} differs from its generator"
    );
    path
}

#[test]
fn external_data_past_the_model_size_limit_is_refused_before_reading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut proto = with_external_weights(dir.path(), "huge.bin");
    // 2^32 floats: 16 GiB, as many as the sparse file beside the model holds.
    proto.graph.as_mut().expect("graph").initializer[0].dims = vec![1 << 32];
    let fixture = hostile_fixture("external-sparse.onnx", &proto);
    let path = dir.path().join("external-sparse.onnx");
    std::fs::copy(fixture, &path).expect("copy fixture");
    let huge = std::fs::File::create(dir.path().join("huge.bin")).expect("create");
    huge.set_len(16 << 30).expect("sparse 16 GiB");
    let err = OnnxModel::open(&path).expect_err("over the limit");
    assert!(
        matches!(err, OnnxError::ExternalData { ref reason, .. }
            if reason.contains(&format!("past the limit of {MAX_MODEL_BYTES} bytes"))),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_or_a_device_given_as_the_model_is_refused_without_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("model.onnx");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    for (path, what) in [
        (fifo.as_path(), "a fifo"),
        (Path::new("/dev/zero"), "a device"),
        (Path::new("/dev/urandom"), "a device"),
    ] {
        let err = OnnxModel::open(path).expect_err("not a regular file");
        assert!(
            matches!(err, OnnxError::Read { .. }) && err.to_string().contains(what),
            "{err}"
        );
    }
}
