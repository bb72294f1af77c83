//! Folders of images as `--data`: a 224x224 RGB MobileNet-style network audited from a
//! folder of PNG and JPEG files, and folders that do not fit refused before any attack.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use robustaudit::data::image_folder::{self, Channels, ImageOptions};
use robustaudit::model::{Classifier, InputTransform, TractDifferentiable, Transformed};
use robustaudit::onnx::{Attr, GraphBuilder};

use super::{robustaudit, Run};

/// Classes of the network.
const CLASSES: usize = 2;

/// ImageNet's per-channel mean and standard deviation, as torchvision's models take them.
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

fn join(values: &[f32]) -> String {
    values
        .iter()
        .map(f32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A MobileNet-style network on `[batch, 3, 224, 224]`: a strided 3x3 convolution, a
/// depthwise 3x3 and a pointwise convolution (inverted-residual style), global average
/// pooling and a linear classifier, with seeded weights; `shift` is added to the bias of
/// class 1.
fn mobilenet_style(dir: &Path, shift: f32) -> PathBuf {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut uniform =
        |n: usize, s: f32| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-s..s)).collect() };
    let mut b = GraphBuilder::new("mobilenet-style");
    b.input("input", &[None, Some(3), Some(224), Some(224)]);
    b.initializer("stem_w", &[8, 3, 3, 3], &uniform(8 * 27, 0.4));
    b.initializer("stem_b", &[8], &uniform(8, 0.1));
    b.initializer("dw_w", &[8, 1, 3, 3], &uniform(8 * 9, 0.6));
    b.initializer("dw_b", &[8], &uniform(8, 0.1));
    b.initializer("pw_w", &[16, 8, 1, 1], &uniform(16 * 8, 0.7));
    b.initializer("pw_b", &[16], &uniform(16, 0.1));
    b.initializer("fc_w", &[CLASSES, 16], &uniform(CLASSES * 16, 1.0));
    let mut fc_b = uniform(CLASSES, 0.1);
    fc_b[1] += shift;
    b.initializer("fc_b", &[CLASSES], &fc_b);
    let conv = |stride: i64, group: i64| {
        vec![
            ("kernel_shape", Attr::Ints(vec![3, 3])),
            ("strides", Attr::Ints(vec![stride, stride])),
            ("pads", Attr::Ints(vec![1, 1, 1, 1])),
            ("group", Attr::Int(group)),
        ]
    };
    b.node("Conv", &["input", "stem_w", "stem_b"], &["c1"], &conv(2, 1));
    b.node("Relu", &["c1"], &["a1"], &[]);
    b.node("Conv", &["a1", "dw_w", "dw_b"], &["c2"], &conv(2, 8));
    b.node("Relu", &["c2"], &["a2"], &[]);
    b.node("Conv", &["a2", "pw_w", "pw_b"], &["c3"], &[]);
    b.node("Relu", &["c3"], &["a3"], &[]);
    b.node("GlobalAveragePool", &["a3"], &["pooled"], &[]);
    b.node("Flatten", &["pooled"], &["flat"], &[("axis", Attr::Int(1))]);
    let t = [("transB", Attr::Int(1))];
    b.node("Gemm", &["flat", "fc_w", "fc_b"], &["logits"], &t);
    b.output("logits", &[None, Some(CLASSES)]);
    b.metadata("input_range", "0,1");
    let path = dir.join("mobilenet-style.onnx");
    b.finish(path.clone())
        .expect("valid model")
        .write(&path)
        .expect("write model");
    path
}

/// Seeded images of varied sizes: a colour ramp with noise, so the network's two classes
/// both occur.
fn pool_image(rng: &mut ChaCha8Rng) -> RgbImage {
    let (w, h) = (rng.gen_range(40..90), rng.gen_range(40..90));
    let base: [f32; 3] = [rng.gen(), rng.gen(), rng.gen()];
    RgbImage::from_fn(w, h, |x, y| {
        let t = (x + y) as f32 / (w + h) as f32;
        let mut px = [0u8; 3];
        for (c, v) in px.iter_mut().enumerate() {
            let value = 255.0 * (base[c] * (1.0 - t) + (1.0 - base[c]) * t);
            *v = (value + rng.gen_range(-20.0..20.0)).clamp(0.0, 255.0) as u8;
        }
        Rgb(px)
    })
}

/// The network of [`mobilenet_style`] with its class-1 bias moved so that it splits the
/// seeded pool of images in half, and an image folder of two images per class, each filed
/// under the class the network predicts for it (so that every image is attacked), PNG and
/// JPEG files mixed.
fn model_and_folder(dir: &Path) -> (PathBuf, PathBuf) {
    let pool = dir.join("pool");
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for i in 0..16 {
        let ext = if i % 2 == 0 { "png" } else { "jpg" };
        let path = pool.join("all").join(format!("{i:02}.{ext}"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        pool_image(&mut rng).save(&path).expect("save");
    }
    let options = ImageOptions {
        size: Some((224, 224)),
        channels: Channels::Rgb,
    };
    let images = image_folder::load(&pool, options, usize::MAX).expect("pool");
    let logits = |model: &Path| {
        let net = TractDifferentiable::open(model).expect("model");
        let transform = InputTransform::new((0.0, 1.0), &MEAN, &STD, 3).expect("transform");
        Transformed::new(&net, transform)
            .logits(images.images.view())
            .expect("logits")
    };
    let first = logits(&mobilenet_style(dir, 0.0));
    let mut margins: Vec<f32> = first.rows().into_iter().map(|r| r[0] - r[1]).collect();
    margins.sort_by(f32::total_cmp);
    let model = mobilenet_style(dir, (margins[7] + margins[8]) / 2.0);
    let predictions: Vec<usize> = logits(&model)
        .rows()
        .into_iter()
        .map(|r| usize::from(r[1] > r[0]))
        .collect();
    let data = dir.join("images");
    let mut names: Vec<_> = std::fs::read_dir(pool.join("all"))
        .expect("pool")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    let mut filed = [0usize; CLASSES];
    for (name, &class) in names.iter().zip(&predictions) {
        if filed[class] == 2 {
            continue;
        }
        let class_dir = data.join(format!("class-{class}"));
        std::fs::create_dir_all(&class_dir).expect("mkdir");
        std::fs::copy(pool.join("all").join(name), class_dir.join(name)).expect("copy");
        filed[class] += 1;
    }
    assert_eq!(filed, [2; CLASSES], "predictions {predictions:?}");
    (model, data)
}

fn audit(args: &[&str], extra: &[&Path]) -> Run {
    let mut all: Vec<OsString> = vec!["audit".into()];
    all.extend(args.iter().map(OsString::from));
    all.extend(extra.iter().map(OsString::from));
    let refs: Vec<&OsStr> = all.iter().map(OsString::as_os_str).collect();
    robustaudit(&refs)
}

fn rows(path: &Path) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_path(path).expect("csv");
    let header = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader.records().collect::<Result<_, _>>().expect("rows");
    (header, rows)
}

fn column(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

#[test]
fn a_224_rgb_mobilenet_style_model_is_audited_from_an_image_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (model, data) = model_and_folder(dir.path());
    let out = dir.path().join("out");
    let run = audit(
        &[
            "--samples",
            "4",
            "--attacks",
            "fgsm,pgd,square",
            "--eps",
            "0.03",
            "--attack-param",
            "pgd.steps=10",
            "--attack-param",
            "square.queries=100",
            "--image-size",
            "224,224",
            "--channels",
            "3",
            "--mean",
            &join(&MEAN),
            "--std",
            &join(&STD),
        ],
        &[
            Path::new("--model"),
            &model,
            Path::new("--data"),
            &data,
            Path::new("--out"),
            &out,
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    let (header, summaries) = rows(&out.join("summary.csv"));
    let attacks: Vec<&str> = summaries
        .iter()
        .map(|r| &r[column(&header, "attack")])
        .collect();
    assert_eq!(attacks, ["fgsm", "pgd", "square"]);
    for row in &summaries {
        assert_eq!(&row[column(&header, "gradients")], "exact", "{row:?}");
    }
    let (header, samples) = rows(&out.join("samples.csv"));
    assert_eq!(samples.len(), 3 * 4);
    for row in &samples {
        // Filed under the predicted class, every image is correctly classified and attacked.
        assert_eq!(&row[column(&header, "attacked")], "true", "{row:?}");
        let linf: f64 = row[column(&header, "linf")].parse().expect("linf");
        assert!(linf <= 0.03 + 1e-6, "{row:?}");
    }
    let labels: Vec<&str> = samples
        .iter()
        .take(4)
        .map(|r| &r[column(&header, "label")])
        .collect();
    assert_eq!(labels, ["0", "0", "1", "1"], "class folders in name order");
}

#[test]
fn images_that_do_not_fit_the_model_are_refused_before_any_attack() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = mobilenet_style(dir.path(), 0.0);
    let data = dir.path().join("images");
    std::fs::create_dir_all(data.join("a")).expect("mkdir");
    RgbImage::from_pixel(32, 32, Rgb([10, 20, 30]))
        .save(data.join("a/0.png"))
        .expect("save");
    let out = dir.path().join("out");
    let paths = [
        Path::new("--model"),
        &model,
        Path::new("--data"),
        &data,
        Path::new("--out"),
        &out,
    ];
    let run = audit(&["--attacks", "fgsm"], &paths);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("3x32x32"), "{}", run.stderr);
    assert!(run.stderr.contains("3x224x224"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("hint: read the images as the model takes them: --image-size 224,224"),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "nothing ran");

    let run = audit(&["--attacks", "fgsm", "--channels", "1"], &paths);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("1x32x32"), "{}", run.stderr);

    std::fs::write(data.join("a/1.png"), b"\x89PNG but cut").expect("write");
    let run = audit(&["--attacks", "fgsm", "--image-size", "224,224"], &paths);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("1.png"), "{}", run.stderr);
    assert!(!out.exists(), "nothing ran");

    let run = audit(
        &[
            "--attacks",
            "fgsm",
            "--data",
            "digits",
            "--image-size",
            "8,8",
        ],
        &[Path::new("--model"), &model, Path::new("--out"), &out],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("apply to image folders"),
        "{}",
        run.stderr
    );
}
