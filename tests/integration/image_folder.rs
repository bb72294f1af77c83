//! Folders of images as `--data`: the 224x224 RGB MobileNetV2-style fixture audited from a
//! folder of PNG and JPEG files, and folders that do not fit refused before any attack.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use robustaudit::data::image_folder::{self, Channels, ImageOptions};
use robustaudit::model::{Classifier, InputTransform, TractDifferentiable, Transformed};

use super::{robustaudit, Run};

/// The MobileNetV2-style fixture exported by PyTorch's classic exporter: 3x224x224 inputs
/// in `[0, 1]`, ReLU6 as `Clip`, 10 classes.
fn mobilenet() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mobilenetv2/classic-opset17.onnx")
}

/// Classes of the fixture.
const CLASSES: usize = 10;

/// Seeded images of varied sizes: a colour ramp with noise.
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

/// An image folder of one image per class of `model`, PNG and JPEG mixed: the first image
/// of a seeded pool that the model predicts as that class where there is one, else the
/// next image of the pool. Returns the folder and how many of its images the model
/// classifies correctly.
fn folder_for(dir: &Path, model: &Path) -> (PathBuf, usize) {
    let pool = dir.join("pool");
    std::fs::create_dir_all(pool.join("all")).expect("mkdir");
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut names = Vec::new();
    for i in 0..24 {
        let name = format!("{i:02}.{}", if i % 2 == 0 { "png" } else { "jpg" });
        pool_image(&mut rng)
            .save(pool.join("all").join(&name))
            .expect("save");
        names.push(name);
    }
    let options = ImageOptions {
        size: Some((224, 224)),
        channels: Channels::Rgb,
    };
    let images = image_folder::load(&pool, options, usize::MAX).expect("pool");
    let net = TractDifferentiable::open(model).expect("model");
    // The fixture records input_range = 0,1: the auditor's map, without normalisation.
    let transform = InputTransform::new((0.0, 1.0), &[0.0], &[1.0], 3).expect("transform");
    let predictions = Transformed::new(&net, transform)
        .predict(images.images.view())
        .expect("predict");
    let data = dir.join("images");
    let mut used = vec![false; names.len()];
    let mut correct = 0;
    for class in 0..CLASSES {
        let pick = (0..names.len())
            .find(|&i| !used[i] && predictions[i] == class)
            .or_else(|| (0..names.len()).find(|&i| !used[i]))
            .expect("pool large enough");
        used[pick] = true;
        correct += usize::from(predictions[pick] == class);
        let class_dir = data.join(format!("class-{class}"));
        std::fs::create_dir_all(&class_dir).expect("mkdir");
        let name = &names[pick];
        std::fs::copy(pool.join("all").join(name), class_dir.join(name)).expect("copy");
    }
    (data, correct)
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
    let model = mobilenet();
    let (data, correct) = folder_for(dir.path(), &model);
    assert!(
        correct > 0,
        "no image of the pool is classified as its folder"
    );
    let out = dir.path().join("out");
    let run = audit(
        &[
            "--samples",
            "10",
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
        // ReLU6 is exported as Clip, which has a backward rule: gradients are exact.
        assert_eq!(&row[column(&header, "gradients")], "exact", "{row:?}");
    }
    let (header, samples) = rows(&out.join("samples.csv"));
    assert_eq!(samples.len(), 3 * CLASSES);
    let labels: Vec<String> = samples
        .iter()
        .take(CLASSES)
        .map(|r| r[column(&header, "label")].to_string())
        .collect();
    let expected: Vec<String> = (0..CLASSES).map(|c| c.to_string()).collect();
    assert_eq!(
        labels, expected,
        "one image per class folder, in name order"
    );
    for attack in samples.chunks(CLASSES) {
        let attacked = attack
            .iter()
            .filter(|r| &r[column(&header, "attacked")] == "true")
            .count();
        assert_eq!(
            attacked, correct,
            "only correctly classified images are attacked"
        );
    }
    for row in &samples {
        let linf: f64 = row[column(&header, "linf")].parse().unwrap_or(0.0);
        assert!(linf <= 0.03 + 1e-6, "{row:?}");
    }
}

#[test]
fn images_that_do_not_fit_the_model_are_refused_before_any_attack() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = mobilenet();
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
