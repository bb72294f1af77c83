//! `.npy` batches of inputs, as written by `numpy.save`.
//!
//! Images must have shape `(N, C, H, W)` or `(N, H, W)` (read as `C = 1`) and dtype
//! `float32`, `float64` or `uint8` (either byte order, C or Fortran order):
//!
//! * `uint8` pixels `p` become `p / 255 - 0.5`;
//! * floats are taken as they are, and must be finite and within `[-0.5, 0.5]`.
//!
//! Labels are optional: for `dir/batch.npy` they are read from `dir/batch.labels.npy` when
//! that file exists. They must be integers (any width, signed or not) of shape `(N,)`, each in
//! `0..`[`MAX_CLASSES`]. An `.npy` file does not record how many classes the task has, so the
//! dataset's `classes` is [`DEFAULT_CLASSES`] (10), or one more than the largest label when
//! that is larger.
//!
//! The header is checked before anything is allocated: the data size it declares must match
//! the file length exactly, so a damaged or hostile file yields an error, never a panic or
//! a huge allocation.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use ndarray::{Array4, ArrayD};
use ndarray_npy::{ReadNpyExt, ReadableElement};

use robustaudit_graph::hex::spaced_hex;

use super::{io_error, pixel_to_input, read_full, DataError, Dataset, DEFAULT_CLASSES};

const FORMAT: &str = "npy";

/// The 6-byte magic string that opens every `.npy` file.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Largest header accepted, in bytes (NumPy itself refuses headers over 10000 bytes by default).
pub const MAX_HEADER_BYTES: usize = 65_536;

/// Bracket nesting accepted in the header dictionary (a genuine header nests a tuple in a dict).
const MAX_NESTING: usize = 4;

/// Labels must be below this bound, which also caps the `classes` of an `.npy` dataset.
pub const MAX_CLASSES: usize = 100_000;

/// Element types this reader understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elem {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

impl Elem {
    /// Maps a NumPy type descriptor to an element type; the descriptors are the ones the
    /// `ndarray-npy` reader accepts.
    fn from_descr(descr: &str) -> Option<Elem> {
        Some(match descr {
            "|u1" | "u1" | "B" => Elem::U8,
            "|i1" | "i1" | "b" => Elem::I8,
            "<u2" | ">u2" => Elem::U16,
            "<i2" | ">i2" => Elem::I16,
            "<u4" | ">u4" => Elem::U32,
            "<i4" | ">i4" => Elem::I32,
            "<u8" | ">u8" => Elem::U64,
            "<i8" | ">i8" => Elem::I64,
            "<f4" | ">f4" => Elem::F32,
            "<f8" | ">f8" => Elem::F64,
            _ => return None,
        })
    }

    /// Size of one element in bytes.
    fn size(self) -> u64 {
        match self {
            Elem::U8 | Elem::I8 => 1,
            Elem::U16 | Elem::I16 => 2,
            Elem::U32 | Elem::I32 | Elem::F32 => 4,
            Elem::U64 | Elem::I64 | Elem::F64 => 8,
        }
    }
}

/// What the header of an `.npy` file declares.
struct Header {
    descr: String,
    elem: Option<Elem>,
    shape: Vec<usize>,
}

impl Header {
    fn declared(&self) -> String {
        format!("shape {:?} of {}", self.shape, self.descr)
    }
}

/// A [`DataError::Malformed`] whose reason is put on one line: the header parser's own
/// messages span several lines and quote the file's bytes, control characters included,
/// which must not reach the terminal as they are.
fn malformed(path: &Path, reason: impl Into<String>) -> DataError {
    let reason: String = reason.into();
    let reason = reason
        .split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    DataError::Malformed {
        path: path.to_path_buf(),
        format: FORMAT,
        reason,
    }
}

/// Rejects header text that no genuine NumPy header contains, before it reaches the Python
/// literal parser: non-ASCII text, arithmetic signs or escapes, and deep nesting.
fn screen_header(text: &[u8]) -> Result<(), String> {
    let mut depth = 0usize;
    for &b in text {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(format!("header nests deeper than {MAX_NESTING} levels"));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'+' | b'-' | b'\\' => {
                return Err(format!(
                    "unexpected character `{}` in header",
                    char::from(b)
                ))
            }
            _ if !b.is_ascii() => return Err("header is not ASCII text".to_owned()),
            _ => {}
        }
    }
    Ok(())
}

/// Reads and validates the header of the `.npy` file at `path`, checking that the data size
/// it declares matches the file length exactly.
fn read_header(path: &Path) -> Result<Header, DataError> {
    let mut file = robustaudit_graph::regular_file::open(path).map_err(|e| io_error(path, e))?;
    let file_len = file.metadata().map_err(|e| io_error(path, e))?.len();
    let too_short = |needed: u64| DataError::TooShort {
        path: path.to_path_buf(),
        format: FORMAT,
        needed,
        found: file_len,
    };

    let mut prefix = [0u8; 12];
    let got = read_full(&mut file, &mut prefix[..10], path)?;
    // Bytes that disagree with the magic string mean another format; a correct but short
    // start means a cut file.
    let head = prefix.get(..got.min(MAGIC.len())).unwrap_or_default();
    if MAGIC.get(..head.len()) != Some(head) {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            format: FORMAT,
            found: spaced_hex(head),
            expected: spaced_hex(MAGIC),
        });
    }
    if got < 10 {
        return Err(too_short(10));
    }
    let (major, minor) = (prefix[6], prefix[7]);
    let (header_len, prefix_len) = match major {
        1 => (usize::from(u16::from_le_bytes([prefix[8], prefix[9]])), 10),
        2 | 3 => {
            let more = read_full(&mut file, &mut prefix[10..12], path)?;
            if more < 2 {
                return Err(too_short(12));
            }
            let len = u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]);
            (usize::try_from(len).unwrap_or(usize::MAX), 12)
        }
        _ => {
            return Err(malformed(
                path,
                format!("unsupported format version {major}.{minor}"),
            ))
        }
    };
    if header_len > MAX_HEADER_BYTES {
        return Err(malformed(
            path,
            format!(
                "header declares {header_len} bytes, more than the {MAX_HEADER_BYTES} supported"
            ),
        ));
    }
    let header_end = (prefix_len + header_len) as u64;
    if header_end > file_len {
        return Err(too_short(header_end));
    }
    let mut text = vec![0u8; header_len];
    if read_full(&mut file, &mut text, path)? < header_len {
        return Err(too_short(header_end));
    }
    screen_header(&text).map_err(|reason| malformed(path, reason))?;

    let mut bytes = prefix.get(..prefix_len).unwrap_or_default().to_vec();
    bytes.extend_from_slice(&text);
    let parsed = ndarray_npy::npy::header::Header::from_reader(&mut bytes.as_slice())
        .map_err(|e| malformed(path, format!("bad header: {e}")))?;
    let descr = match parsed.type_descriptor.as_string() {
        Some(descr) => descr.clone(),
        None => parsed.type_descriptor.to_string(),
    };
    let header = Header {
        elem: Elem::from_descr(&descr),
        descr,
        shape: parsed.shape,
    };

    // The data must fill the rest of the file exactly.
    let overflow = || DataError::SizeOverflow {
        path: path.to_path_buf(),
        format: FORMAT,
        declared: header.declared(),
    };
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(overflow)?;
    if let Some(elem) = header.elem {
        let expected = u64::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(elem.size()))
            .filter(|&bytes| bytes <= isize::MAX as u64)
            .ok_or_else(overflow)?;
        let found = file_len - header_end;
        if found < expected {
            return Err(DataError::Truncated {
                path: path.to_path_buf(),
                format: FORMAT,
                declared: header.declared(),
                expected,
                found,
            });
        }
        if found > expected {
            return Err(DataError::TrailingBytes {
                path: path.to_path_buf(),
                format: FORMAT,
                declared: header.declared(),
                expected,
                found,
            });
        }
    }
    Ok(header)
}

/// Reads the array once the header has been validated.
fn read_array<T: ReadableElement>(path: &Path) -> Result<ArrayD<T>, DataError> {
    let file = robustaudit_graph::regular_file::open(path).map_err(|e| io_error(path, e))?;
    // The header was checked against this length; a file that grew since is read no further.
    let len = file.metadata().map_err(|e| io_error(path, e))?.len();
    ArrayD::<T>::read_npy(BufReader::new(file.take(len)))
        .map_err(|e| malformed(path, e.to_string()))
}

/// Integer array contents, widened so that every stored value is represented exactly.
fn read_integers(path: &Path, elem: Elem) -> Result<Option<Vec<i128>>, DataError> {
    fn widen<T: ReadableElement + Copy + Into<i128>>(path: &Path) -> Result<Vec<i128>, DataError> {
        Ok(read_array::<T>(path)?.iter().map(|&v| v.into()).collect())
    }
    Ok(Some(match elem {
        Elem::U8 => widen::<u8>(path)?,
        Elem::I8 => widen::<i8>(path)?,
        Elem::U16 => widen::<u16>(path)?,
        Elem::I16 => widen::<i16>(path)?,
        Elem::U32 => widen::<u32>(path)?,
        Elem::I32 => widen::<i32>(path)?,
        Elem::U64 => widen::<u64>(path)?,
        Elem::I64 => widen::<i64>(path)?,
        Elem::F32 | Elem::F64 => return Ok(None),
    }))
}

/// Checks a float value and converts it to `f32`.
fn checked_input(path: &Path, index: usize, value: f64) -> Result<f32, DataError> {
    if !value.is_finite() {
        return Err(DataError::NonFinite {
            path: path.to_path_buf(),
            index,
            value,
        });
    }
    if !(-0.5..=0.5).contains(&value) {
        return Err(DataError::OutOfRange {
            path: path.to_path_buf(),
            index,
            value,
        });
    }
    Ok(value as f32)
}

/// Reads an images array: `(N, C, H, W)` tensor with values in `[-0.5, 0.5]`.
pub fn read_images(path: &Path) -> Result<Array4<f32>, DataError> {
    let header = read_header(path)?;
    const EXPECTED: &str = "(N, C, H, W) or (N, H, W)";
    let bad_shape = || DataError::BadShape {
        path: path.to_path_buf(),
        format: FORMAT,
        shape: header.shape.clone(),
        expected: EXPECTED,
    };
    let dims = match header.shape[..] {
        // Colour images saved channels-last would otherwise be silently misread.
        [_, c, _, w] if matches!(w, 1 | 3) && !matches!(c, 1 | 3) => {
            return Err(DataError::BadShape {
                path: path.to_path_buf(),
                format: FORMAT,
                shape: header.shape.clone(),
                expected: "(N, C, H, W) with C first, not channels-last (N, H, W, C)",
            })
        }
        [n, c, h, w] => (n, c, h, w),
        [n, h, w] => (n, 1, h, w),
        _ => return Err(bad_shape()),
    };
    if dims.0 == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    if dims.1 == 0 || dims.2 == 0 || dims.3 == 0 {
        return Err(bad_shape());
    }
    let values: Vec<f32> = match header.elem {
        Some(Elem::U8) => read_array::<u8>(path)?
            .iter()
            .map(|&p| pixel_to_input(p))
            .collect(),
        Some(Elem::F32) => read_array::<f32>(path)?
            .iter()
            .enumerate()
            .map(|(i, &v)| checked_input(path, i, f64::from(v)))
            .collect::<Result<_, _>>()?,
        Some(Elem::F64) => read_array::<f64>(path)?
            .iter()
            .enumerate()
            .map(|(i, &v)| checked_input(path, i, v))
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(DataError::UnsupportedType {
                path: path.to_path_buf(),
                format: FORMAT,
                found: header.descr,
                supported: "float32 (<f4), float64 (<f8) or uint8 (|u1)",
            })
        }
    };
    Array4::from_shape_vec(dims, values).map_err(|e| malformed(path, e.to_string()))
}

/// Reads a labels array of shape `(N,)` with integer values in `0..MAX_CLASSES`.
pub fn read_labels(path: &Path) -> Result<Vec<usize>, DataError> {
    let header = read_header(path)?;
    if header.shape.len() != 1 {
        return Err(DataError::BadShape {
            path: path.to_path_buf(),
            format: FORMAT,
            shape: header.shape,
            expected: "(N,) integer labels",
        });
    }
    let unsupported = || DataError::UnsupportedType {
        path: path.to_path_buf(),
        format: FORMAT,
        found: header.descr.clone(),
        supported: "an integer dtype such as int64 (<i8) or uint8 (|u1)",
    };
    let elem = header.elem.ok_or_else(unsupported)?;
    let values = read_integers(path, elem)?.ok_or_else(unsupported)?;
    values
        .into_iter()
        .enumerate()
        .map(|(index, label)| {
            usize::try_from(label)
                .ok()
                .filter(|&l| l < MAX_CLASSES)
                .ok_or_else(|| DataError::LabelOutOfRange {
                    path: path.to_path_buf(),
                    index,
                    label,
                    classes: MAX_CLASSES,
                })
        })
        .collect()
}

/// The labels file that goes with `path`: `<stem>.labels.npy` beside it.
pub fn labels_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}.labels.npy"))
}

/// Loads a `.npy` batch (see the module docs), with labels from `<stem>.labels.npy` when
/// that file exists. The dataset is named after the path.
///
/// A labels path that exists in any form (a dangling link, a FIFO, a folder) is read, so that
/// it fails loudly instead of being skipped: skipping it would silently audit against the
/// model's own predictions.
pub fn load(path: &Path) -> Result<Dataset, DataError> {
    let images = read_images(path)?;
    let labels_file = labels_path(path);
    let labels = if std::fs::symlink_metadata(&labels_file).is_ok() {
        if std::fs::metadata(&labels_file).is_err() {
            return Err(io_error(
                &labels_file,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "it is a link to a file that does not exist",
                ),
            ));
        }
        let labels = read_labels(&labels_file)?;
        let images_count = images.shape()[0];
        if labels.len() != images_count {
            return Err(DataError::CountMismatch {
                images: path.to_path_buf(),
                labels: labels_file,
                images_count,
                labels_count: labels.len(),
            });
        }
        Some(labels)
    } else {
        None
    };
    let classes = labels
        .as_ref()
        .and_then(|l| l.iter().max())
        .map_or(DEFAULT_CLASSES, |&max| DEFAULT_CLASSES.max(max + 1));
    Ok(Dataset {
        name: path.display().to_string(),
        images,
        labels,
        classes,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::TempDir;
    use super::*;
    use ndarray::{Array1, Array3};
    use ndarray_npy::WriteNpyExt;

    /// A version 1.0 `.npy` file, laid out as NumPy writes it.
    fn npy(descr: &str, shape: &[usize], fortran: bool, data: &[u8]) -> Vec<u8> {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let shape = if dims.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        };
        let order = if fortran { "True" } else { "False" };
        let dict = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
        raw_npy(&dict, data)
    }

    fn raw_npy(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut header = dict.as_bytes().to_vec();
        let pad = (64 - (10 + header.len() + 1) % 64) % 64;
        header.extend(std::iter::repeat_n(b' ', pad));
        header.push(b'\n');
        let mut out = MAGIC.to_vec();
        out.extend([1, 0]);
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header);
        out.extend_from_slice(data);
        out
    }

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn f32_nchw_round_trip_with_labels() {
        let tmp = TempDir::new("npy-f32");
        let values: Vec<f32> = (0..12).map(|i| i as f32 / 24.0 - 0.25).collect();
        let path = tmp.write(
            "batch.npy",
            &npy("<f4", &[2, 3, 1, 2], false, &f32_bytes(&values)),
        );
        let mut labels = Vec::new();
        Array1::from(vec![4i64, 11]).write_npy(&mut labels).unwrap();
        tmp.write("batch.labels.npy", &labels);
        let ds = load(&path).unwrap();
        assert_eq!(ds.images.shape(), &[2, 3, 1, 2]);
        assert_eq!(ds.images.iter().copied().collect::<Vec<_>>(), values);
        assert_eq!(ds.images[[1, 2, 0, 1]], 11.0 / 24.0 - 0.25);
        assert_eq!(ds.labels, Some(vec![4, 11]));
        // A label of 11 implies at least 12 classes.
        assert_eq!(ds.classes, 12);
        assert_eq!(ds.name, path.display().to_string());
    }

    #[test]
    fn written_by_ndarray_npy_without_labels() {
        let tmp = TempDir::new("npy-crate");
        let arr = Array4::from_shape_fn((2, 1, 2, 2), |(n, _, y, x)| {
            (n * 4 + y * 2 + x) as f64 / 10.0 - 0.4
        });
        let mut bytes = Vec::new();
        arr.write_npy(&mut bytes).unwrap();
        let path = tmp.write("x.npy", &bytes);
        let ds = load(&path).unwrap();
        assert_eq!(ds.labels, None);
        assert_eq!(ds.classes, 10);
        assert_eq!(ds.images, arr.mapv(|v| v as f32));
    }

    #[test]
    fn u8_nhw_is_scaled_and_gets_one_channel() {
        let tmp = TempDir::new("npy-u8");
        let arr = Array3::from_shape_vec((2, 2, 2), vec![0u8, 255, 51, 102, 1, 2, 3, 4]).unwrap();
        let mut bytes = Vec::new();
        arr.write_npy(&mut bytes).unwrap();
        let path = tmp.write("digits.npy", &bytes);
        let images = read_images(&path).unwrap();
        assert_eq!(images.shape(), &[2, 1, 2, 2]);
        assert_eq!(images[[0, 0, 0, 0]], -0.5);
        assert_eq!(images[[0, 0, 0, 1]], 0.5);
        assert_eq!(images[[0, 0, 1, 0]], 51.0 / 255.0 - 0.5);
        assert_eq!(images[[1, 0, 1, 1]], 4.0 / 255.0 - 0.5);
    }

    #[test]
    fn fortran_order_and_big_endian() {
        let tmp = TempDir::new("npy-order");
        // Logical (1, 1, 2, 3) array [[0.0, 0.1, 0.2], [0.3, 0.4, 0.5]] stored column-major.
        let column_major = [0.0f32, 0.3, 0.1, 0.4, 0.2, 0.5];
        let path = tmp.write(
            "f.npy",
            &npy("<f4", &[1, 1, 2, 3], true, &f32_bytes(&column_major)),
        );
        let images = read_images(&path).unwrap();
        assert_eq!(images[[0, 0, 0, 1]], 0.1);
        assert_eq!(images[[0, 0, 1, 0]], 0.3);
        assert_eq!(images[[0, 0, 1, 2]], 0.5);
        let be: Vec<u8> = [0.25f32, -0.5]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let path = tmp.write("be.npy", &npy(">f4", &[1, 1, 1, 2], false, &be));
        let images = read_images(&path).unwrap();
        assert_eq!(images.iter().copied().collect::<Vec<_>>(), vec![0.25, -0.5]);
    }

    #[test]
    fn nan_and_infinity_name_the_first_index() {
        let tmp = TempDir::new("npy-nan");
        let path = tmp.write(
            "nan.npy",
            &npy(
                "<f4",
                &[1, 1, 2, 2],
                false,
                &f32_bytes(&[0.0, 0.1, f32::NAN, f32::NAN]),
            ),
        );
        let err = load(&path).unwrap_err();
        assert!(
            matches!(&err, DataError::NonFinite { index: 2, value, .. } if value.is_nan()),
            "{err:?}"
        );
        assert!(err.to_string().contains(&path.display().to_string()));
        assert!(err.hint().is_some());
        let inf: Vec<u8> = [0.0f64, f64::NEG_INFINITY]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let path = tmp.write("inf.npy", &npy("<f8", &[1, 1, 2], false, &inf));
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::NonFinite { index: 1, value, .. } if value == f64::NEG_INFINITY
        ));
    }

    #[test]
    fn out_of_range_names_index_with_hint() {
        let tmp = TempDir::new("npy-range");
        let path = tmp.write(
            "unit.npy",
            &npy("<f4", &[1, 1, 1, 3], false, &f32_bytes(&[0.5, -0.5, 0.75])),
        );
        let err = load(&path).unwrap_err();
        assert!(
            matches!(&err, DataError::OutOfRange { index: 2, value, .. } if *value == 0.75),
            "{err:?}"
        );
        assert!(err.hint().unwrap().contains("subtract 0.5"));
    }

    #[test]
    fn truncated_and_trailing_data() {
        let tmp = TempDir::new("npy-trunc");
        let full = npy("<f4", &[2, 1, 28, 28], false, &f32_bytes(&[0.0; 2 * 784]));
        let path = tmp.write("cut.npy", &full[..full.len() - 100]);
        match read_images(&path).unwrap_err() {
            DataError::Truncated {
                expected, found, ..
            } => {
                assert_eq!(expected, 6272);
                assert_eq!(found, 6172);
            }
            other => panic!("unexpected error {other:?}"),
        }
        let mut long = full.clone();
        long.push(0);
        let path = tmp.write("long.npy", &long);
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::TrailingBytes {
                expected: 6272,
                found: 6273,
                ..
            }
        ));
        // Cut inside the header, and inside the magic string.
        let path = tmp.write("head.npy", &full[..40]);
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::TooShort { found: 40, .. }
        ));
        let path = tmp.write("tiny.npy", &full[..3]);
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::TooShort { found: 3, .. }
        ));
    }

    #[test]
    fn lying_headers_do_not_allocate_or_panic() {
        let tmp = TempDir::new("npy-lying");
        let path = tmp.write(
            "huge.npy",
            &npy("<f4", &[1 << 40, 1, 1 << 30, 1], false, &[0; 16]),
        );
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::SizeOverflow { .. }
        ));
        let path = tmp.write(
            "big.npy",
            &npy("<f4", &[1 << 30, 1, 28, 28], false, &[0; 16]),
        );
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::Truncated { found: 16, .. }
        ));
        // Header length larger than the file.
        let mut bytes = MAGIC.to_vec();
        bytes.extend([1, 0, 0xff, 0xff, b'{']);
        let path = tmp.write("hlen.npy", &bytes);
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::TooShort { needed: 65_545, .. }
        ));
        // Version 2 header length of 4 GiB.
        let mut bytes = MAGIC.to_vec();
        bytes.extend([2, 0, 0xff, 0xff, 0xff, 0xff, b'{']);
        let path = tmp.write("hlen2.npy", &bytes);
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::Malformed { .. }
        ));
    }

    #[test]
    fn malformed_headers_are_errors() {
        let tmp = TempDir::new("npy-header");
        let cases: &[(&str, Vec<u8>)] = &[
            ("garbage", raw_npy("not a dict at all", &[])),
            ("arith", raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1e0 + 99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999, 1, 1, 1), }", &[])),
            ("nested", raw_npy(&format!("{}{}", "(".repeat(5000), ")".repeat(5000)), &[])),
            ("negative", raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 1, 1, 1), }", &[])),
            ("float-shape", raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1.5, 1, 1, 1), }", &[])),
            ("missing-key", raw_npy("{'descr': '<f4', 'shape': (1, 1, 1, 1), }", &[0; 4])),
            ("no-newline", {
                let mut b = npy("<f4", &[1, 1, 1, 1], false, &[0; 4]);
                let nl = b.iter().position(|&c| c == b'\n').unwrap();
                b[nl] = b' ';
                b
            }),
            ("version", {
                let mut b = npy("<f4", &[1, 1, 1, 1], false, &[0; 4]);
                b[6] = 9;
                b
            }),
        ];
        for (name, bytes) in cases {
            let path = tmp.write(&format!("{name}.npy"), bytes);
            let err = read_images(&path).unwrap_err();
            assert!(
                matches!(err, DataError::Malformed { .. }),
                "{name}: {err:?}"
            );
        }
        let path = tmp.write("zip.npy", b"PK\x03\x04 this is an npz archive");
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::BadMagic { ref found, .. } if found == "50 4b 03 04 20 74"
        ));
    }

    #[test]
    fn shape_and_dtype_checks() {
        let tmp = TempDir::new("npy-shape");
        let path = tmp.write("i8.npy", &npy("<i8", &[1, 1, 1, 1], false, &[0; 8]));
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::UnsupportedType { ref found, .. } if found == "<i8"
        ));
        let path = tmp.write("nhwc.npy", &npy("|u1", &[1, 28, 28, 3], false, &[0; 2352]));
        let err = read_images(&path).unwrap_err();
        assert!(matches!(err, DataError::BadShape { ref shape, .. } if shape == &[1, 28, 28, 3]));
        assert!(err.hint().unwrap().contains("transpose"));
        let path = tmp.write("nchw.npy", &npy("|u1", &[1, 3, 2, 3], false, &[0; 18]));
        assert_eq!(read_images(&path).unwrap().shape(), &[1, 3, 2, 3]);
        let path = tmp.write("flat.npy", &npy("|u1", &[4, 784], false, &[0; 3136]));
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::BadShape { ref shape, .. } if shape == &[4, 784]
        ));
        let path = tmp.write("empty.npy", &npy("<f4", &[0, 1, 28, 28], false, &[]));
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::Empty { .. }
        ));
        let path = tmp.write("nowidth.npy", &npy("<f4", &[2, 1, 28, 0], false, &[]));
        assert!(matches!(
            read_images(&path).unwrap_err(),
            DataError::BadShape { .. }
        ));
    }

    #[test]
    fn label_file_checks() {
        let tmp = TempDir::new("npy-labels");
        let images = npy("|u1", &[2, 1, 1, 1], false, &[0, 255]);
        let path = tmp.write("b.npy", &images);
        let labels_file = labels_path(&path);
        assert_eq!(labels_file, tmp.path().join("b.labels.npy"));

        std::fs::write(&labels_file, npy("<i4", &[3], false, &[0; 12])).unwrap();
        assert!(matches!(
            load(&path).unwrap_err(),
            DataError::CountMismatch {
                images_count: 2,
                labels_count: 3,
                ..
            }
        ));
        let neg: Vec<u8> = [1i32, -1].iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&labels_file, npy("<i4", &[2], false, &neg)).unwrap();
        assert!(matches!(
            load(&path).unwrap_err(),
            DataError::LabelOutOfRange {
                index: 1,
                label: -1,
                ..
            }
        ));
        std::fs::write(&labels_file, npy("<f4", &[2], false, &[0; 8])).unwrap();
        assert!(matches!(
            load(&path).unwrap_err(),
            DataError::UnsupportedType { .. }
        ));
        std::fs::write(&labels_file, npy("|u1", &[2], false, &[9, 3])).unwrap();
        let ds = load(&path).unwrap();
        assert_eq!(ds.labels, Some(vec![9, 3]));
        assert_eq!(ds.classes, 10);
        assert_eq!(ds.images[[1, 0, 0, 0]], 0.5);
    }

    #[cfg(unix)]
    #[test]
    fn a_labels_path_that_is_a_dangling_link_a_fifo_or_a_folder_is_an_error() {
        let tmp = TempDir::new("npy-labels-hostile");
        let path = tmp.write("b.npy", &npy("|u1", &[2, 1, 1, 1], false, &[0, 255]));
        let labels_file = labels_path(&path);
        let named = |err: DataError| {
            assert!(matches!(err, DataError::Io { .. }), "{err}");
            assert!(err.to_string().contains("b.labels.npy"), "{err}");
            err.to_string()
        };

        std::os::unix::fs::symlink(tmp.path().join("gone.npy"), &labels_file).unwrap();
        assert!(named(load(&path).unwrap_err()).contains("a link to a file that does not exist"));
        std::fs::remove_file(&labels_file).unwrap();

        std::fs::create_dir(&labels_file).unwrap();
        assert!(named(load(&path).unwrap_err()).contains("a folder"));
        std::fs::remove_dir(&labels_file).unwrap();

        let made = std::process::Command::new("mkfifo")
            .arg(&labels_file)
            .status()
            .unwrap();
        assert!(made.success());
        // Refused before it is opened: opening a FIFO would block until a writer comes.
        assert!(named(load(&path).unwrap_err()).contains("a fifo"));
        std::fs::remove_file(&labels_file).unwrap();

        assert_eq!(
            load(&path).unwrap().labels,
            None,
            "no labels file: no labels"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_an_endless_device_given_as_the_batch_is_refused() {
        let tmp = TempDir::new("npy-hostile");
        let fifo = tmp.path().join("fifo.npy");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = load(&fifo).unwrap_err().to_string();
        assert!(err.contains("fifo.npy") && err.contains("a fifo"), "{err}");
        for device in ["/dev/zero", "/dev/urandom"] {
            let link = tmp.path().join("device.npy");
            std::os::unix::fs::symlink(device, &link).unwrap();
            let err = load(&link).unwrap_err().to_string();
            assert!(
                err.contains("device.npy") && err.contains("a device"),
                "{err}"
            );
            std::fs::remove_file(&link).unwrap();
        }
    }

    #[test]
    fn a_header_syntax_error_is_reported_on_one_line() {
        // Found by tests/fuzz_data.rs: the header parser's message spans several lines.
        let tmp = TempDir::new("npy-syntax");
        let bytes = raw_npy(
            "{'descr': '<f4' 'fortran_order': False, 'shape': (1,), }",
            &[0; 4],
        );
        let err = load(&tmp.write("b.npy", &bytes)).unwrap_err().to_string();
        assert!(err.contains("b.npy") && err.contains("bad header"), "{err}");
        assert!(!err.chars().any(char::is_control), "{err:?}");
    }

    #[test]
    fn missing_file_is_io_error_with_hint() {
        let tmp = TempDir::new("npy-missing");
        let err = load(&tmp.path().join("nope.npy")).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }));
        assert_eq!(err.hint().as_deref(), Some("check the path"));
    }
}
