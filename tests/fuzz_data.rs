//! A bounded, seeded mutation fuzzer for every data reader, run with the normal tests.
//!
//! Each reader gets valid inputs (IDX raw and gzip, the digits CSV, a CIFAR-10 batch, `.npy`
//! images and labels, an image folder of PNG and JPEG files), mutated by byte flips,
//! overwrites with boundary values, insertions, deletions, duplicated runs and truncations,
//! a few per case, from one seed. Every case must return `Ok` or a `DataError` (never panic),
//! within a wall-clock bound. The budget is fixed ([`CASES`] per reader), so the run takes
//! the same time and finds the same things every time; a case that fails prints its reader,
//! seed and case number, and its input belongs in `tests/fixtures/hostile/` with a test of
//! its own. Every file already there is replayed by its extension.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::{GrayImage, ImageFormat, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use robustaudit::data::{cifar, digits, idx, image_folder, npy, DataError, ImageOptions, Split};

/// Mutated inputs per reader: together a few thousand cases, seconds in a debug build.
const CASES: usize = 500;

/// The longest one case may take: generous for a debug build on a busy machine, far below a
/// hang or an allocation of gigabytes.
const CASE_BOUND: Duration = Duration::from_secs(5);

/// The seed every mutation derives from.
const SEED: u64 = 15;

/// A valid input and the reader that takes it.
struct Target {
    name: &'static str,
    /// The file name the mutated bytes are written under.
    file: &'static str,
    valid: Vec<u8>,
    read: fn(&Path) -> Result<(), DataError>,
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn idx_images() -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, 3];
    for d in [3u32, 4, 4] {
        out.extend(d.to_be_bytes());
    }
    out.extend((0..48u8).map(|i| i.wrapping_mul(37)));
    out
}

fn idx_labels() -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, 1];
    out.extend(3u32.to_be_bytes());
    out.extend([7, 0, 9]);
    out
}

fn digits_csv() -> Vec<u8> {
    let mut text = String::new();
    for row in 0..10 {
        let pixels: Vec<String> = (0..64).map(|i| ((i * 7 + row) % 17).to_string()).collect();
        text.push_str(&format!("{},{}\n", pixels.join(","), row % 10));
    }
    text.into_bytes()
}

fn cifar_batch() -> Vec<u8> {
    let mut out = Vec::new();
    for label in [3u8, 8] {
        out.push(label);
        out.extend((0..3072u32).map(|i| (i * 13 % 256) as u8));
    }
    out
}

/// A version 1.0 `.npy` file of `descr` and `shape` holding `data`.
fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let mut header = dict.into_bytes();
    let pad = (64 - (10 + header.len() + 1) % 64) % 64;
    header.extend(std::iter::repeat_n(b' ', pad));
    header.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header);
    out.extend_from_slice(data);
    out
}

fn npy_images() -> Vec<u8> {
    let values: Vec<u8> = (0..32)
        .flat_map(|i| (i as f32 / 64.0 - 0.25).to_le_bytes())
        .collect();
    npy("<f4", "(2, 1, 4, 4)", &values)
}

fn npy_labels() -> Vec<u8> {
    npy(
        "<i8",
        "(2,)",
        &[3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
    )
}

fn png() -> Vec<u8> {
    let img = RgbImage::from_fn(5, 4, |x, y| image::Rgb([x as u8 * 40, y as u8 * 60, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).expect("png");
    out.into_inner()
}

fn jpeg() -> Vec<u8> {
    let img = GrayImage::from_fn(5, 4, |x, y| image::Luma([(x * 50 + y * 10) as u8]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Jpeg).expect("jpeg");
    out.into_inner()
}

/// Reads an image folder whose class `a` holds the mutated file and class `b` a valid one.
fn image_folder_with(path: &Path) -> Result<(), DataError> {
    let dir = path.parent().expect("a folder").parent().expect("its root");
    let other = dir.join("b").join("ok.png");
    if !other.exists() {
        std::fs::create_dir_all(other.parent().expect("b")).expect("mkdir");
        std::fs::write(&other, png()).expect("write");
    }
    let options = ImageOptions {
        size: Some((4, 4)),
        ..ImageOptions::default()
    };
    image_folder::load(dir, options, usize::MAX).map(drop)
}

fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "idx images",
            file: "images-idx3-ubyte",
            valid: idx_images(),
            read: |p| idx::read_images(p).map(drop),
        },
        Target {
            name: "idx images, gzip",
            file: "images-idx3-ubyte.gz",
            valid: gzip(&idx_images()),
            read: |p| idx::read_images(p).map(drop),
        },
        Target {
            name: "idx labels, gzip",
            file: "labels-idx1-ubyte.gz",
            valid: gzip(&idx_labels()),
            read: |p| idx::read_labels(p, 10).map(drop),
        },
        Target {
            name: "digits csv",
            file: "digits.csv",
            valid: digits_csv(),
            read: |p| digits::load(p, Split::Test).map(drop),
        },
        Target {
            name: "digits csv, gzip",
            file: "digits.csv.gz",
            valid: gzip(&digits_csv()),
            read: |p| digits::load(p, Split::Train).map(drop),
        },
        Target {
            name: "cifar-10 batch",
            file: "test_batch.bin",
            valid: cifar_batch(),
            read: |p| cifar::read_batch(p, "cifar10/test").map(drop),
        },
        Target {
            name: "npy images",
            file: "batch.npy",
            valid: npy_images(),
            read: |p| npy::load(p).map(drop),
        },
        Target {
            name: "npy labels",
            file: "batch.labels.npy",
            valid: npy_labels(),
            read: |p| {
                let images = p.with_file_name("batch.npy");
                if !images.exists() {
                    std::fs::write(&images, npy_images()).expect("write");
                }
                npy::load(&images).map(drop)
            },
        },
        Target {
            name: "png in an image folder",
            file: "a/x.png",
            valid: png(),
            read: image_folder_with,
        },
        Target {
            name: "jpeg in an image folder",
            file: "a/x.jpg",
            valid: jpeg(),
            read: image_folder_with,
        },
    ]
}

/// One to four mutations of `bytes`.
fn mutate(rng: &mut ChaCha8Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.gen_range(1..=4) {
        let len = bytes.len();
        let at = if len == 0 { 0 } else { rng.gen_range(0..len) };
        match rng.gen_range(0..7) {
            0 if len > 0 => bytes[at] ^= 1 << rng.gen_range(0..8),
            1 if len > 0 => {
                bytes[at] = [0, 0xff, 0x7f, 0x80, b'9', b'-', b','][rng.gen_range(0..7)]
            }
            2 => {
                let run: Vec<u8> = (0..rng.gen_range(1..16)).map(|_| rng.gen()).collect();
                bytes.splice(at..at, run);
            }
            3 if len > 0 => {
                let end = (at + rng.gen_range(1..64)).min(len);
                bytes.drain(at..end);
            }
            4 if len > 0 => {
                let end = (at + rng.gen_range(1..32)).min(len);
                let run = bytes[at..end].to_vec();
                bytes.splice(at..at, run);
            }
            5 => bytes.truncate(at),
            _ if len >= 4 => {
                // A size field blown up: four bytes of 0xff or a large big-endian count.
                let end = (at + 4).min(len);
                for b in &mut bytes[at..end] {
                    *b = if rng.gen() { 0xff } else { 0x7f };
                }
            }
            _ => bytes.push(rng.gen()),
        }
    }
    bytes
}

/// Runs `read` on `bytes` written as `file` under a fresh folder; the failure, if any.
fn run_case(target: &Target, bytes: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(target.file);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, bytes).expect("write");
    let start = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| (target.read)(&path)));
    let took = start.elapsed();
    match outcome {
        Err(_) => Some("panicked".into()),
        Ok(Err(e)) if e.to_string().chars().any(char::is_control) => Some(format!(
            "an error of several lines or control characters: {e:?}"
        )),
        Ok(_) if took > CASE_BOUND => Some(format!("took {took:?}")),
        Ok(_) => None,
    }
}

#[test]
fn mutated_inputs_never_panic_hang_or_blow_up_any_data_reader() {
    let mut failures = Vec::new();
    let mut accepted = 0;
    let start = Instant::now();
    for (t, target) in targets().iter().enumerate() {
        assert_eq!(
            run_case(target, &target.valid),
            None,
            "{}: the valid input",
            target.name
        );
        let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ ((t as u64) << 32));
        for case in 0..CASES {
            let bytes = mutate(&mut rng, target.valid.clone());
            match run_case(target, &bytes) {
                Some(why) => {
                    failures.push(format!("{} case {case} (seed {SEED}): {why}", target.name))
                }
                None => accepted += 1,
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "fuzz_data: {} cases, {accepted} without failure, in {:?}",
        CASES * targets().len(),
        start.elapsed()
    );
}

/// The inputs that once broke a reader, replayed by their extension: each must be refused.
#[test]
fn every_hostile_fixture_is_refused_with_a_data_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/hostile")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e != "md"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let result = catch_unwind(|| {
            if name.ends_with(".npy") {
                npy::load(&path).map(drop)
            } else if name.contains("idx3") {
                idx::read_images(&path).map(drop)
            } else if name.contains("idx1") {
                idx::read_labels(&path, 10).map(drop)
            } else if name.ends_with(".bin") {
                cifar::read_batch(&path, "hostile").map(drop)
            } else {
                digits::load(&path, Split::Test).map(drop)
            }
        });
        let err = match result {
            Ok(Err(e)) => e,
            Ok(Ok(())) => panic!("{name} was accepted"),
            Err(_) => panic!("{name} panicked"),
        };
        let text = err.to_string();
        assert!(
            text.contains(name),
            "{name}: the error names the file: {text}"
        );
    }
}
