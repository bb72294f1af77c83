//! IDX files, the format of MNIST and Fashion-MNIST.
//!
//! An IDX file is a 4-byte magic number `00 00 <type> <rank>`, then `rank` big-endian `u32`
//! dimensions, then the elements in row-major order. Only unsigned-byte elements (type
//! `0x08`) are supported: images have rank 3 `(N, H, W)` and labels rank 1 `(N,)`.
//! Files may be gzip-compressed; compression is detected from the content (magic `1f 8b`),
//! not from the file name.

use std::path::{Path, PathBuf};

use ndarray::Array4;

use robustaudit_graph::hex::spaced_hex;

use super::{open_maybe_gzip, pixel_to_input, read_body, read_full, DataError, Dataset, Split};

const FORMAT: &str = "idx";

/// The unsigned-byte element type code.
const TYPE_U8: u8 = 0x08;

/// Contents of an IDX file of unsigned bytes.
struct IdxBytes {
    dims: Vec<usize>,
    data: Vec<u8>,
}

fn type_name(code: u8) -> &'static str {
    match code {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0b => "i16",
        0x0c => "i32",
        0x0d => "f32",
        0x0e => "f64",
        _ => "unknown",
    }
}

/// Reads an IDX file of unsigned bytes with the given rank; `describe` turns the declared
/// dimensions into words for error messages (e.g. `60000 images of 28x28`).
fn read_u8(
    path: &Path,
    rank: usize,
    what: &'static str,
    describe: fn(&[usize]) -> String,
) -> Result<IdxBytes, DataError> {
    let mut reader = open_maybe_gzip(path)?;
    let mut magic = [0u8; 4];
    let got = read_full(&mut reader, &mut magic, path)?;
    let header_len = 4 + 4 * rank as u64;
    if got < magic.len() {
        return Err(DataError::TooShort {
            path: path.to_path_buf(),
            format: FORMAT,
            needed: header_len,
            found: got as u64,
        });
    }
    let [z0, z1, code, found_rank] = magic;
    if z0 != 0 || z1 != 0 {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            format: FORMAT,
            found: spaced_hex(&magic),
            expected: spaced_hex(&[0, 0, TYPE_U8, rank as u8]),
        });
    }
    if code != TYPE_U8 {
        return Err(DataError::UnsupportedType {
            path: path.to_path_buf(),
            format: FORMAT,
            found: format!("0x{code:02x} ({})", type_name(code)),
            supported: "0x08 (unsigned byte)",
        });
    }
    if usize::from(found_rank) != rank {
        return Err(DataError::BadRank {
            path: path.to_path_buf(),
            format: FORMAT,
            found: usize::from(found_rank),
            expected: rank,
            what,
        });
    }
    let mut dim_bytes = vec![0u8; 4 * rank];
    let got = read_full(&mut reader, &mut dim_bytes, path)?;
    if got < dim_bytes.len() {
        return Err(DataError::TooShort {
            path: path.to_path_buf(),
            format: FORMAT,
            needed: header_len,
            found: 4 + got as u64,
        });
    }
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| {
            let dim = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            usize::try_from(dim).unwrap_or(usize::MAX)
        })
        .collect();
    let declared = describe(&dims);
    let overflow = || DataError::SizeOverflow {
        path: path.to_path_buf(),
        format: FORMAT,
        declared: declared.clone(),
    };
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(overflow)?;
    // A header may truthfully declare more than fits in memory (a 1.5 MB gzip stream can
    // inflate to gigabytes): refuse before reading rather than abort on allocation.
    if count > MAX_ELEMENTS {
        return Err(overflow());
    }
    let expected = u64::try_from(count).map_err(|_| overflow())?;
    let (data, found) = read_body(&mut reader, expected, path)?;
    if found < expected {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            format: FORMAT,
            declared,
            expected,
            found,
        });
    }
    if found > expected {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            format: FORMAT,
            declared,
            expected,
            found,
        });
    }
    if dims.first() == Some(&0) {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(IdxBytes { dims, data })
}

/// The most bytes one IDX file may declare: 2^30, above EMNIST's largest split (about
/// 547 million pixels) and far below what the `f32` copy of a larger file would need.
const MAX_ELEMENTS: usize = 1 << 30;

fn describe_images(dims: &[usize]) -> String {
    match dims {
        [n, h, w] => format!("{n} images of {h}x{w}"),
        _ => format!("dimensions {dims:?}"),
    }
}

fn describe_labels(dims: &[usize]) -> String {
    match dims {
        [n] => format!("{n} labels"),
        _ => format!("dimensions {dims:?}"),
    }
}

/// Reads an IDX images file (rank 3, unsigned bytes, raw or gzip) as an `(N, 1, H, W)`
/// tensor with values `pixel / 255 - 0.5`.
pub fn read_images(path: &Path) -> Result<Array4<f32>, DataError> {
    let idx = read_u8(path, 3, "images", describe_images)?;
    let (n, h, w) = match idx.dims[..] {
        [n, h, w] => (n, h, w),
        _ => {
            return Err(DataError::BadRank {
                path: path.to_path_buf(),
                format: FORMAT,
                found: idx.dims.len(),
                expected: 3,
                what: "images",
            })
        }
    };
    if h == 0 || w == 0 {
        return Err(DataError::BadShape {
            path: path.to_path_buf(),
            format: FORMAT,
            shape: idx.dims,
            expected: "(N, H, W) with H, W > 0",
        });
    }
    let values: Vec<f32> = idx.data.iter().map(|&p| pixel_to_input(p)).collect();
    Array4::from_shape_vec((n, 1, h, w), values).map_err(|e| DataError::Malformed {
        path: path.to_path_buf(),
        format: FORMAT,
        reason: e.to_string(),
    })
}

/// Reads an IDX labels file (rank 1, unsigned bytes, raw or gzip); every label must be
/// below `classes`.
pub fn read_labels(path: &Path, classes: usize) -> Result<Vec<usize>, DataError> {
    let idx = read_u8(path, 1, "labels", describe_labels)?;
    idx.data
        .iter()
        .enumerate()
        .map(|(index, &label)| {
            let label = usize::from(label);
            if label < classes {
                Ok(label)
            } else {
                Err(DataError::LabelOutOfRange {
                    path: path.to_path_buf(),
                    index,
                    label: label as i128,
                    classes,
                })
            }
        })
        .collect()
}

/// Reads a matching pair of IDX images and labels files into a dataset named `name`.
/// The two files must hold the same number of samples; labels must be below `classes`.
pub fn load_pair(
    name: &str,
    images_path: &Path,
    labels_path: &Path,
    classes: usize,
) -> Result<Dataset, DataError> {
    let images = read_images(images_path)?;
    let labels = read_labels(labels_path, classes)?;
    let images_count = images.shape()[0];
    if labels.len() != images_count {
        return Err(DataError::CountMismatch {
            images: images_path.to_path_buf(),
            labels: labels_path.to_path_buf(),
            images_count,
            labels_count: labels.len(),
        });
    }
    Ok(Dataset {
        name: name.to_owned(),
        images,
        labels: Some(labels),
        classes,
    })
}

/// Base names tried, in order, for the images and labels of a split: the standard names,
/// the variant with a dot (`train-images.idx3-ubyte`), each raw or with `.gz`.
fn candidates(split: Split) -> ([String; 4], [String; 4]) {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let names = |kind: &str, rank: u8| {
        [
            format!("{prefix}-{kind}-idx{rank}-ubyte"),
            format!("{prefix}-{kind}-idx{rank}-ubyte.gz"),
            format!("{prefix}-{kind}.idx{rank}-ubyte"),
            format!("{prefix}-{kind}.idx{rank}-ubyte.gz"),
        ]
    };
    (names("images", 3), names("labels", 1))
}

fn find(dir: &Path, dataset: &str, names: &[String; 4]) -> Result<PathBuf, DataError> {
    names
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::NotInstalled {
            dataset: dataset.to_owned(),
            dir: dir.to_path_buf(),
            missing: format!("{}[.gz]", names[0]),
        })
}

/// Loads one split of an MNIST-style folder (MNIST, Fashion-MNIST): `train-*` files for
/// [`Split::Train`], `t10k-*` files for [`Split::Test`], raw or gzip. The dataset is named
/// `<dataset>/<split>` and has 10 classes.
pub fn load_mnist_dir(dataset: &str, dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let (image_names, label_names) = candidates(split);
    let images = find(dir, dataset, &image_names)?;
    let labels = find(dir, dataset, &label_names)?;
    load_pair(
        &format!("{dataset}/{split}"),
        &images,
        &labels,
        super::DEFAULT_CLASSES,
    )
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{gzip, TempDir};
    use super::*;

    fn idx(code: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, code, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    fn two_images() -> Vec<u8> {
        // Two 2x3 images: 0, 51, 102, 153, 204, 255 and their reverse.
        let mut data = vec![0u8, 51, 102, 153, 204, 255];
        data.extend([255u8, 204, 153, 102, 51, 0]);
        idx(TYPE_U8, &[2, 2, 3], &data)
    }

    #[test]
    fn round_trip_raw_and_gzip() {
        let tmp = TempDir::new("idx-rt");
        let raw = tmp.write("images", &two_images());
        // A .gz name holding raw bytes and a plain name holding gzip: content decides.
        let gz = tmp.write("images.gz-not", &gzip(&two_images()));
        for path in [&raw, &gz] {
            let images = read_images(path).unwrap();
            assert_eq!(images.shape(), &[2, 1, 2, 3]);
            assert_eq!(images[[0, 0, 0, 0]], -0.5);
            assert_eq!(images[[0, 0, 0, 1]], 51.0 / 255.0 - 0.5);
            assert_eq!(images[[0, 0, 1, 2]], 0.5);
            assert_eq!(images[[1, 0, 0, 0]], 0.5);
            assert_eq!(images[[1, 0, 1, 2]], -0.5);
        }
        let labels = tmp.write("labels", &gzip(&idx(TYPE_U8, &[2], &[7, 3])));
        assert_eq!(read_labels(&labels, 10).unwrap(), vec![7, 3]);
        let ds = load_pair("t/test", &raw, &labels, 10).unwrap();
        assert_eq!(ds.name, "t/test");
        assert_eq!(ds.labels, Some(vec![7, 3]));
        assert_eq!(ds.images.shape(), &[2, 1, 2, 3]);
    }

    #[test]
    fn mnist_dir_accepts_raw_and_gz_names() {
        let tmp = TempDir::new("idx-dir");
        tmp.write("t10k-images-idx3-ubyte.gz", &gzip(&two_images()));
        tmp.write("t10k-labels-idx1-ubyte", &idx(TYPE_U8, &[2], &[1, 2]));
        let ds = load_mnist_dir("mnist", tmp.path(), Split::Test).unwrap();
        assert_eq!(ds.name, "mnist/test");
        assert_eq!(ds.images.shape(), &[2, 1, 2, 3]);
        assert_eq!(ds.labels, Some(vec![1, 2]));
        assert_eq!(ds.classes, 10);
        let err = load_mnist_dir("mnist", tmp.path(), Split::Train).unwrap_err();
        match err {
            DataError::NotInstalled { missing, dir, .. } => {
                assert_eq!(missing, "train-images-idx3-ubyte[.gz]");
                assert_eq!(dir, tmp.path());
            }
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn truncated_data_reports_sizes() {
        let tmp = TempDir::new("idx-trunc");
        let mut bytes = idx(TYPE_U8, &[60000, 28, 28], &[]);
        bytes.extend(vec![0u8; 1024]);
        for (name, content) in [("raw", bytes.clone()), ("gz", gzip(&bytes))] {
            let path = tmp.write(name, &content);
            let err = read_images(&path).unwrap_err();
            match &err {
                DataError::Truncated {
                    declared,
                    expected,
                    found,
                    ..
                } => {
                    assert_eq!(declared, "60000 images of 28x28");
                    assert_eq!(*expected, 47_040_000);
                    assert_eq!(*found, 1024);
                }
                other => panic!("unexpected error {other:?}"),
            }
            assert_eq!(
                err.to_string(),
                format!(
                    "truncated idx file {}: header declares 60000 images of 28x28 \
                     (47040000 bytes) but 1024 bytes follow",
                    path.display()
                )
            );
        }
    }

    #[test]
    fn truncated_gzip_stream_is_truncation() {
        let tmp = TempDir::new("idx-trunc-gz");
        // Pseudo-random pixels, so that half of the compressed stream decodes to some data.
        let pixels: Vec<u8> = (0u32..10_000)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let full = gzip(&idx(TYPE_U8, &[100, 10, 10], &pixels));
        let path = tmp.write("cut.gz", &full[..full.len() / 2]);
        let err = read_images(&path).unwrap_err();
        assert!(
            matches!(err, DataError::Truncated { expected: 10_000, found, .. } if found < 10_000),
            "{err:?}"
        );
    }

    #[test]
    fn short_header_and_trailing_bytes() {
        let tmp = TempDir::new("idx-short");
        let path = tmp.write("short", &[0, 0, 8, 3, 0, 0]);
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::TooShort {
                needed: 16,
                found: 6,
                ..
            }
        ));
        let path = tmp.write("long", &idx(TYPE_U8, &[2], &[1, 2, 3]));
        assert!(matches!(
            read_labels(&path, 10).unwrap_err(),
            DataError::TrailingBytes {
                expected: 2,
                found: 3,
                ..
            }
        ));
    }

    #[test]
    fn wrong_magic_type_and_rank() {
        let tmp = TempDir::new("idx-magic");
        let path = tmp.write("zip", b"PK\x03\x04rest of a zip file");
        match read_images(&path).unwrap_err() {
            DataError::BadMagic {
                found, expected, ..
            } => {
                assert_eq!(found, "50 4b 03 04");
                assert_eq!(expected, "00 00 08 03");
            }
            other => panic!("unexpected error {other:?}"),
        }
        let path = tmp.write("f32", &idx(0x0d, &[1, 1, 1], &[0; 4]));
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::UnsupportedType { ref found, .. } if found == "0x0d (f32)"
        ));
        // A labels file passed as images.
        let path = tmp.write("labels", &idx(TYPE_U8, &[3], &[1, 2, 3]));
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::BadRank {
                found: 1,
                expected: 3,
                ..
            }
        ));
    }

    #[test]
    fn huge_declared_sizes_do_not_allocate() {
        let tmp = TempDir::new("idx-huge");
        // 2^32-1 cubed overflows u64 on the way; 2^32-1 squared fits in u64 but is above
        // the bound on one file, so neither is read.
        let path = tmp.write("overflow", &idx(TYPE_U8, &[u32::MAX; 3], &[1, 2, 3]));
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::SizeOverflow { .. }
        ));
        let path = tmp.write("lying", &idx(TYPE_U8, &[u32::MAX, u32::MAX, 1], &[1, 2, 3]));
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::SizeOverflow { .. }
        ));
    }

    #[test]
    fn header_claiming_two_million_images_is_refused_before_reading() {
        // Issue 15: a gzip'd IDX truthfully declaring 2 million 28x28 images (1.5 GB of
        // pixels, 6 GB as f32) aborted on allocation; the header alone must now refuse it.
        let tmp = TempDir::new("idx-two-million");
        let bytes = idx(TYPE_U8, &[2_000_000, 28, 28], &[0u8; 784]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &bytes).unwrap();
        let path = tmp.write("images.gz", &gz.finish().unwrap());
        let err = read_images(&path).unwrap_err();
        assert!(matches!(err, DataError::SizeOverflow { .. }), "{err}");
        assert!(err.to_string().contains("2000000 images of 28x28"), "{err}");
        assert!(
            err.to_string().contains("images.gz"),
            "the error names the file: {err}"
        );
        // At the bound the header is trusted and the missing data is reported.
        let path = tmp.write("ok", &idx(TYPE_U8, &[1 << 20, 32, 32], &[0u8; 4]));
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::Truncated { found: 4, .. }
        ));
    }

    #[test]
    fn empty_and_zero_sized_images() {
        let tmp = TempDir::new("idx-empty");
        let path = tmp.write("none", &idx(TYPE_U8, &[0, 28, 28], &[]));
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::Empty { .. }
        ));
        let path = tmp.write("flat", &idx(TYPE_U8, &[3, 0, 28], &[]));
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::BadShape { ref shape, .. } if shape == &[3, 0, 28]
        ));
    }

    #[test]
    fn mismatched_label_count_and_range() {
        let tmp = TempDir::new("idx-count");
        let images = tmp.write("images", &two_images());
        let labels = tmp.write("labels", &idx(TYPE_U8, &[3], &[1, 2, 3]));
        match load_pair("t", &images, &labels, 10).unwrap_err() {
            DataError::CountMismatch {
                images_count,
                labels_count,
                ..
            } => {
                assert_eq!(images_count, 2);
                assert_eq!(labels_count, 3);
            }
            other => panic!("unexpected error {other:?}"),
        }
        let labels = tmp.write("bad-labels", &idx(TYPE_U8, &[2], &[4, 10]));
        assert!(matches!(
            load_pair("t", &images, &labels, 10).unwrap_err(),
            DataError::LabelOutOfRange {
                index: 1,
                label: 10,
                classes: 10,
                ..
            }
        ));
    }

    #[test]
    fn corrupt_gzip_is_an_io_error() {
        let tmp = TempDir::new("idx-corrupt");
        let mut bytes = gzip(&two_images());
        let n = bytes.len();
        for b in &mut bytes[10..n - 8] {
            *b ^= 0x5a;
        }
        let path = tmp.write("corrupt", &bytes);
        // Either the deflate stream is rejected or what it yields fails validation.
        assert!(read_images(&path).is_err());
    }
}
