//! scikit-learn's 8x8 handwritten digits (`digits.csv.gz`, from the UCI optdigits test set).
//!
//! Each line holds 64 pixel intensities in `0..=16` (row-major 8x8) followed by the label
//! `0..=9`, comma-separated, without a header. Values may be written as integers (`5`) or
//! floats (`5.000000000000000000e+00`) but must be whole numbers. The file may be gzip
//! compressed or plain (detected from the content).
//!
//! The set has no official train/test split. This reader uses a fixed one: the first
//! `floor(4N/5)` rows are the training set and the remaining rows the test set, which for the
//! standard 1797-row file gives 1437 training and 360 test samples.

use std::io::Read;
use std::path::Path;

use ndarray::Array4;

use super::{io_error, open_maybe_gzip, DataError, Dataset, Split, DEFAULT_CLASSES};

/// Side of a digits image in pixels.
pub const SIDE: usize = 8;

/// Largest pixel intensity in the file; intensities are scaled as `x / 16 - 0.5`.
pub const MAX_INTENSITY: f64 = 16.0;

/// Values per row: 64 pixels and the label.
const FIELDS: usize = SIDE * SIDE + 1;

/// Number of training rows for a file of `rows` rows: `floor(4 * rows / 5)`.
pub fn train_rows(rows: usize) -> usize {
    rows / 5 * 4 + rows % 5 * 4 / 5
}

/// Parses one whole-number field within `0..=max`.
fn parse_field(field: &str, max: f64, what: &str) -> Result<f64, String> {
    let raw = field.trim();
    // Quoted escaped: a control character from the file must not reach the terminal.
    let text = raw.escape_debug();
    let value: f64 = raw
        .parse()
        .map_err(|_| format!("{what} `{text}` is not a number"))?;
    if !value.is_finite() {
        return Err(format!("{what} `{text}` is not finite"));
    }
    if value.fract() != 0.0 || !(0.0..=max).contains(&value) {
        return Err(format!(
            "{what} `{text}` is not a whole number in 0..={max}"
        ));
    }
    Ok(value)
}

/// Reads every row of a digits CSV: `(pixels scaled to [-0.5, 0.5], labels)`.
fn read_rows(path: &Path) -> Result<(Vec<f32>, Vec<usize>), DataError> {
    let mut reader = open_maybe_gzip(path)?;
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (i, raw_line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let csv_error = |reason: String| DataError::Csv {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let text = std::str::from_utf8(raw_line)
            .map_err(|_| csv_error("not valid UTF-8 text".to_owned()))?
            .trim();
        if text.is_empty() {
            continue;
        }
        let fields: Vec<&str> = text.split(',').collect();
        if fields.len() != FIELDS {
            return Err(csv_error(format!(
                "expected {FIELDS} comma-separated values (64 pixels and a label), found {}",
                fields.len()
            )));
        }
        let (label_field, pixel_fields) = match fields.split_last() {
            Some(split) => split,
            None => continue,
        };
        for (column, field) in pixel_fields.iter().enumerate() {
            let value = parse_field(field, MAX_INTENSITY, &format!("pixel {}", column + 1))
                .map_err(csv_error)?;
            pixels.push((value / MAX_INTENSITY - 0.5) as f32);
        }
        let label =
            parse_field(label_field, (DEFAULT_CLASSES - 1) as f64, "label").map_err(csv_error)?;
        labels.push(label as usize);
    }
    Ok((pixels, labels))
}

/// Loads one split of the digits CSV at `path` as `(N, 1, 8, 8)` images with values
/// `x / 16 - 0.5` and labels in `0..10`, named `digits/<split>` (see the module docs for
/// the split).
pub fn load(path: &Path, split: Split) -> Result<Dataset, DataError> {
    let (pixels, labels) = read_rows(path)?;
    let rows = labels.len();
    let train = train_rows(rows);
    let range = match split {
        Split::Train => 0..train,
        Split::Test => train..rows,
    };
    if range.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let per_image = SIDE * SIDE;
    let chosen = pixels
        .get(range.start * per_image..range.end * per_image)
        .map(<[f32]>::to_vec)
        .unwrap_or_default();
    let chosen_labels = labels
        .get(range.clone())
        .map(<[usize]>::to_vec)
        .unwrap_or_default();
    let images = Array4::from_shape_vec((range.len(), 1, SIDE, SIDE), chosen).map_err(|e| {
        DataError::Malformed {
            path: path.to_path_buf(),
            format: "csv",
            reason: e.to_string(),
        }
    })?;
    Ok(Dataset {
        name: format!("digits/{split}"),
        images,
        labels: Some(chosen_labels),
        classes: DEFAULT_CLASSES,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{gzip, TempDir};
    use super::*;

    /// Row `r`: pixel k is `(k + r) % 17`, label `r % 10`.
    fn row(r: usize, float_style: bool) -> String {
        let mut fields: Vec<String> = (0..64)
            .map(|k| {
                let v = (k + r) % 17;
                if float_style {
                    format!("{v:.18e}")
                } else {
                    v.to_string()
                }
            })
            .collect();
        fields.push((r % 10).to_string());
        fields.join(",")
    }

    fn csv(rows: usize, float_style: bool) -> String {
        (0..rows).map(|r| row(r, float_style) + "\n").collect()
    }

    #[test]
    fn split_sizes_match_the_standard_file() {
        assert_eq!(train_rows(1797), 1437);
        assert_eq!(1797 - train_rows(1797), 360);
        assert_eq!(train_rows(10), 8);
        assert_eq!(train_rows(usize::MAX), usize::MAX / 5 * 4);
    }

    #[test]
    fn round_trip_gzip_and_split() {
        let tmp = TempDir::new("digits-rt");
        let path = tmp.write("digits.csv.gz", &gzip(csv(10, true).as_bytes()));
        let train = load(&path, Split::Train).unwrap();
        let test = load(&path, Split::Test).unwrap();
        assert_eq!(train.name, "digits/train");
        assert_eq!(train.images.shape(), &[8, 1, 8, 8]);
        assert_eq!(test.images.shape(), &[2, 1, 8, 8]);
        assert_eq!(train.labels, Some((0..8).collect()));
        assert_eq!(test.labels, Some(vec![8, 9]));
        // Test sample 0 is row 8: pixel (y=1, x=2) is k=10, value (10 + 8) % 17 = 1.
        assert_eq!(test.images[[0, 0, 1, 2]], 1.0 / 16.0 - 0.5);
        // Row 0, pixel k=16 (y=2, x=0): 16 % 17 = 16 -> 0.5.
        assert_eq!(train.images[[0, 0, 2, 0]], 0.5);
        assert_eq!(train.images[[0, 0, 0, 0]], -0.5);
    }

    #[test]
    fn plain_integer_csv() {
        let tmp = TempDir::new("digits-plain");
        let path = tmp.write("digits.csv", csv(5, false).as_bytes());
        let train = load(&path, Split::Train).unwrap();
        assert_eq!(train.len(), 4);
        assert_eq!(train.images[[3, 0, 0, 1]], 4.0 / 16.0 - 0.5);
    }

    fn csv_error(content: &str) -> (usize, String) {
        let tmp = TempDir::new("digits-bad");
        let path = tmp.write("digits.csv", content.as_bytes());
        match load(&path, Split::Train).unwrap_err() {
            DataError::Csv {
                path: p,
                line,
                reason,
            } => {
                assert_eq!(p, path);
                (line, reason)
            }
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn malformed_rows_report_line() {
        let good = csv(3, false);
        let short = format!("{good}{}", ["0"; 64].join(","));
        let (line, reason) = csv_error(&short);
        assert_eq!(line, 4);
        assert!(reason.contains("found 64"), "{reason}");

        let (line, reason) = csv_error(&format!("{good}{}", row(3, false).replace("3,", "x,")));
        assert_eq!(line, 4);
        assert!(reason.contains("not a number"), "{reason}");

        let nan_row = row(0, false).replacen("0,", "nan,", 1);
        let (line, reason) = csv_error(&(nan_row + "\n"));
        assert_eq!(line, 1);
        assert!(reason.contains("not finite"), "{reason}");

        let big = row(0, false).replacen("0,", "17,", 1);
        let (_, reason) = csv_error(&big);
        assert!(reason.contains("pixel 1"), "{reason}");

        let mut bad_label = row(0, false);
        bad_label.truncate(bad_label.len() - 1);
        bad_label.push_str("10");
        let (_, reason) = csv_error(&bad_label);
        assert!(reason.contains("label `10`"), "{reason}");

        // Found by tests/fuzz_data.rs: a control character was quoted as it is.
        let control = row(0, false).replacen("0,", "1\u{1b}[2J,", 1);
        let (_, reason) = csv_error(&control);
        assert!(
            reason.contains("pixel 1 `1\\u{1b}[2J` is not a number"),
            "{reason}"
        );
    }

    #[test]
    fn empty_file_is_empty() {
        let tmp = TempDir::new("digits-empty");
        let path = tmp.write("digits.csv", b"\n\n");
        assert!(matches!(
            load(&path, Split::Test).unwrap_err(),
            DataError::Empty { .. }
        ));
    }
}
