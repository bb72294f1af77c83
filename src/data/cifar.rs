//! CIFAR-10 binary batches.
//!
//! A batch file is a sequence of 3073-byte records: one label byte (0..=9), then the
//! 32x32 red plane, the green plane and the blue plane, each 1024 bytes in row-major order.
//! The training set is `data_batch_1.bin` .. `data_batch_5.bin` (10000 records each), the test
//! set `test_batch.bin`.

use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::Array4;

use super::{io_error, pixel_to_input, DataError, Dataset, Split, DEFAULT_CLASSES};

/// Side of a CIFAR-10 image in pixels.
pub const SIDE: usize = 32;

/// Colour channels of a CIFAR-10 image (red, green, blue).
pub const CHANNELS: usize = 3;

/// Bytes per record: one label byte and `3 * 32 * 32` pixel bytes.
pub const RECORD_BYTES: usize = 1 + CHANNELS * SIDE * SIDE;

/// Training batch file names, in loading order.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];

/// Test batch file name.
pub const TEST_FILE: &str = "test_batch.bin";

/// Sub-folder created by extracting `cifar-10-binary.tar.gz`, also searched.
const EXTRACTED_DIR: &str = "cifar-10-batches-bin";

/// Accumulates records from one or more batch files.
#[derive(Default)]
struct Records {
    pixels: Vec<f32>,
    labels: Vec<usize>,
}

impl Records {
    /// Appends the records of the batch file at `path`.
    fn read_file(&mut self, path: &Path) -> Result<(), DataError> {
        let file = robustaudit_graph::regular_file::open(path).map_err(|e| io_error(path, e))?;
        let len = file.metadata().map_err(|e| io_error(path, e))?.len();
        let mut bytes = Vec::new();
        // Bounded by the length found when opened: a file that grows is read no further.
        file.take(len)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(path, e))?;
        let len = bytes.len() as u64;
        if bytes.is_empty() {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }
        if bytes.len() % RECORD_BYTES != 0 {
            return Err(DataError::RecordLength {
                path: path.to_path_buf(),
                len,
                record: RECORD_BYTES as u64,
            });
        }
        let records = bytes.len() / RECORD_BYTES;
        self.labels.reserve(records);
        self.pixels.reserve(records * (RECORD_BYTES - 1));
        for (index, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
            let (label, pixels) = match record.split_first() {
                Some((&label, pixels)) => (usize::from(label), pixels),
                None => continue,
            };
            if label >= DEFAULT_CLASSES {
                return Err(DataError::LabelOutOfRange {
                    path: path.to_path_buf(),
                    index,
                    label: label as i128,
                    classes: DEFAULT_CLASSES,
                });
            }
            self.labels.push(label);
            self.pixels
                .extend(pixels.iter().map(|&p| pixel_to_input(p)));
        }
        Ok(())
    }

    fn into_dataset(self, name: String, path: &Path) -> Result<Dataset, DataError> {
        let n = self.labels.len();
        let images =
            Array4::from_shape_vec((n, CHANNELS, SIDE, SIDE), self.pixels).map_err(|e| {
                DataError::Malformed {
                    path: path.to_path_buf(),
                    format: "cifar-10",
                    reason: e.to_string(),
                }
            })?;
        Ok(Dataset {
            name,
            images,
            labels: Some(self.labels),
            classes: DEFAULT_CLASSES,
        })
    }
}

/// Reads one CIFAR-10 binary batch file into a dataset named `name`: `(N, 3, 32, 32)`
/// images with values `pixel / 255 - 0.5`, labels in `0..10`.
pub fn read_batch(path: &Path, name: &str) -> Result<Dataset, DataError> {
    let mut records = Records::default();
    records.read_file(path)?;
    records.into_dataset(name.to_owned(), path)
}

/// The folder actually holding the batches: `dir` itself, or its `cifar-10-batches-bin`
/// sub-folder when only that holds them.
fn batches_dir(dir: &Path, first: &str) -> PathBuf {
    let nested = dir.join(EXTRACTED_DIR);
    if !dir.join(first).is_file() && nested.join(first).is_file() {
        nested
    } else {
        dir.to_path_buf()
    }
}

/// Loads one split of CIFAR-10 from a folder of binary batches (or from its
/// `cifar-10-batches-bin` sub-folder): the five `data_batch_*.bin` files for
/// [`Split::Train`], `test_batch.bin` for [`Split::Test`]. The dataset is named
/// `cifar10/<split>`.
pub fn load_dir(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let files: &[&str] = match split {
        Split::Train => &TRAIN_FILES,
        Split::Test => &[TEST_FILE],
    };
    let first = files.first().copied().unwrap_or(TEST_FILE);
    let dir = batches_dir(dir, first);
    let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(f)).collect();
    if let Some(missing) = files.iter().zip(&paths).find(|(_, p)| !p.is_file()) {
        return Err(DataError::NotInstalled {
            dataset: "cifar10".to_owned(),
            dir: dir.clone(),
            missing: (*missing.0).to_owned(),
        });
    }
    let mut records = Records::default();
    for path in &paths {
        records.read_file(path)?;
    }
    records.into_dataset(format!("cifar10/{split}"), &dir)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::TempDir;
    use super::*;

    /// A record whose label is `label` and whose pixel at (c, y, x) is `(c * 7 + y + x + seed) % 256`.
    fn record(label: u8, seed: usize) -> Vec<u8> {
        let mut out = vec![label];
        for c in 0..CHANNELS {
            for y in 0..SIDE {
                for x in 0..SIDE {
                    out.push(((c * 7 + y + x + seed) % 256) as u8);
                }
            }
        }
        out
    }

    #[test]
    fn round_trip_test_split() {
        let tmp = TempDir::new("cifar-rt");
        let mut bytes = record(3, 0);
        bytes.extend(record(9, 100));
        tmp.write(TEST_FILE, &bytes);
        let ds = load_dir(tmp.path(), Split::Test).unwrap();
        assert_eq!(ds.name, "cifar10/test");
        assert_eq!(ds.images.shape(), &[2, 3, 32, 32]);
        assert_eq!(ds.labels, Some(vec![3, 9]));
        assert_eq!(ds.classes, 10);
        // Sample 1, green plane, row 2, column 5: (7 + 2 + 5 + 100) % 256 = 114.
        assert_eq!(ds.images[[1, 1, 2, 5]], 114.0 / 255.0 - 0.5);
        // Sample 0, blue plane, last pixel: (14 + 31 + 31) = 76.
        assert_eq!(ds.images[[0, 2, 31, 31]], 76.0 / 255.0 - 0.5);
        assert_eq!(ds.images[[0, 0, 0, 0]], -0.5);
    }

    #[test]
    fn train_split_concatenates_five_batches_from_nested_folder() {
        let tmp = TempDir::new("cifar-train");
        let nested = tmp.path().join(EXTRACTED_DIR);
        std::fs::create_dir_all(&nested).unwrap();
        for (i, name) in TRAIN_FILES.iter().enumerate() {
            std::fs::write(nested.join(name), record(i as u8, i)).unwrap();
        }
        let ds = load_dir(tmp.path(), Split::Train).unwrap();
        assert_eq!(ds.name, "cifar10/train");
        assert_eq!(ds.images.shape(), &[5, 3, 32, 32]);
        assert_eq!(ds.labels, Some(vec![0, 1, 2, 3, 4]));
        assert_eq!(ds.images[[4, 0, 0, 0]], 4.0 / 255.0 - 0.5);
    }

    #[test]
    fn wrong_length_names_file_and_length() {
        let tmp = TempDir::new("cifar-len");
        let mut bytes = record(1, 0);
        bytes.push(0);
        let path = tmp.write(TEST_FILE, &bytes);
        let err = load_dir(tmp.path(), Split::Test).unwrap_err();
        assert!(matches!(
            &err,
            DataError::RecordLength { path: p, len: 3074, record: 3073 } if p == &path
        ));
        let msg = err.to_string();
        assert!(
            msg.contains("3074") && msg.contains(&path.display().to_string()),
            "{msg}"
        );
    }

    #[test]
    fn label_out_of_range_and_missing_files() {
        let tmp = TempDir::new("cifar-bad");
        let mut bytes = record(2, 0);
        bytes.extend(record(10, 0));
        tmp.write(TEST_FILE, &bytes);
        assert!(matches!(
            load_dir(tmp.path(), Split::Test).unwrap_err(),
            DataError::LabelOutOfRange {
                index: 1,
                label: 10,
                ..
            }
        ));
        match load_dir(tmp.path(), Split::Train).unwrap_err() {
            DataError::NotInstalled { missing, .. } => assert_eq!(missing, "data_batch_1.bin"),
            other => panic!("unexpected error {other:?}"),
        }
        let empty = tmp.write("empty.bin", &[]);
        assert!(matches!(
            read_batch(&empty, "x").unwrap_err(),
            DataError::Empty { .. }
        ));
    }
}
