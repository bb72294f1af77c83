//! Neutralising CSV cells against formula injection, and undoing it when a file is read back;
//! the number a CSV cell holds for an f32.
//!
//! A spreadsheet runs a cell that begins with `=`, `+`, `-` or `@` (and, in some, a tab or
//! carriage return) as a formula, so a model called `=HYPERLINK(...)` or metadata such as
//! `=cmd|' /C calc'!A0` would run on the machine of whoever opens the report. Following
//! OWASP's rule, such a cell is written with a single quote `'` before it, which
//! spreadsheets show as text. Numbers the code writes (`-0.5`, `1e-3`) are not text and
//! stay as they are. A cell that itself begins with `'` gets one more, so reading back
//! removes exactly one leading quote and every value round-trips.

use std::borrow::Cow;

/// The characters that make a spreadsheet treat a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `cell` as written into a report: with a leading `'` when it would start a formula (or
/// starts with `'` itself) and is not a number.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    let risky = cell.starts_with(FORMULA_STARTS) && !is_number(cell) || cell.starts_with('\'');
    if risky {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A cell read back from a report: [`neutralise`] undone.
pub fn restore(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

/// Whether `cell` is a plain decimal number (`-0.5`, `+3`, `1e-3`): digits, signs, a point
/// and exponents only, and parses as one.
fn is_number(cell: &str) -> bool {
    cell.bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
        && cell.parse::<f64>().is_ok()
}

/// The f64 that stands for an f32 in a row shared by a writer that computes in f32 and a
/// reader that reads f64: the f64 nearest the decimal the CSV writer prints for the f32, so
/// that the value read back from its cell equals the value held, and `as f32` gives the
/// f32 back.
pub fn f32_cell(value: f32) -> f64 {
    // The writer's decimal (ryu's shortest round-trip form, which breaks ties unlike
    // `Display`) has at most 9 significant digits, so the nearest f64 rounds back to the
    // same f32.
    let mut digits = ryu::Buffer::new();
    digits.format(value).parse().unwrap_or(f64::from(value))
}

/// Writes a column of [`f32_cell`] values as the f32s they stand for
/// (`#[serde(serialize_with)]`): the cell shows what an f32 column always showed (an f64
/// of the same digits can print in another notation, `1.2692283e-6` for `0.0000012692283`).
pub(super) fn f32_column<S: serde::Serializer>(
    value: &f64,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_f32(*value as f32)
}

/// [`f32_column`] for a column that may be empty.
pub(super) fn f32_column_option<S: serde::Serializer>(
    value: &Option<f64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => serializer.serialize_some(&(*v as f32)),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_quoted_numbers_are_not_and_every_value_round_trips() {
        for (value, written) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "'=HYPERLINK(\"http://x\",\"y\")",
            ),
            ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("+1+cmd", "'+1+cmd"),
            ("-", "'-"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'quoted", "''quoted"),
            ("-0.5", "-0.5"),
            ("+3", "+3"),
            ("-1e-3", "-1e-3"),
            ("-inf", "'-inf"),
            ("models/a.onnx", "models/a.onnx"),
            ("", ""),
        ] {
            assert_eq!(neutralise(value), written, "{value:?}");
            assert_eq!(restore(&neutralise(value)), value, "{value:?}");
        }
    }

    #[test]
    fn an_f32_column_of_f32_cells_shows_and_reads_back_what_an_f32_column_did() {
        #[derive(serde::Serialize)]
        struct Shared(#[serde(serialize_with = "f32_column")] f64);
        let one_cell = |write: &dyn Fn(&mut csv::Writer<Vec<u8>>)| {
            let mut writer = csv::Writer::from_writer(Vec::new());
            write(&mut writer);
            String::from_utf8(writer.into_inner().expect("flush")).expect("utf-8")
        };
        // Every exponent, each with a spread of mantissas, and the values training writes.
        let mut values: Vec<f32> = (0..=255u32)
            .flat_map(|e| [0u32, 1, 0x2a_5a5a, 0x55_5555, 0x7f_ffff].map(|m| (e << 23) | m))
            .map(f32::from_bits)
            .collect();
        values.extend([
            0.9826,
            0.961_234_57,
            1.0,
            20.0,
            0.1,
            1.269_228_3e-6,
            -2.5,
            f32::NAN,
        ]);
        for value in values {
            let cell = f32_cell(value);
            assert!(
                value.is_nan() || cell as f32 == value,
                "{value:e} -> {cell:e}"
            );
            let as_f32 = one_cell(&|w| w.serialize([value]).expect("f32"));
            let shared = one_cell(&|w| w.serialize(Shared(cell)).expect("f64"));
            assert_eq!(shared, as_f32, "{value:e} ({:#x})", value.to_bits());
            let read: f64 = shared.trim().parse().expect("number");
            assert!(
                read.is_nan() || read == cell,
                "{value:e}: {read:e} read, {cell:e} held"
            );
        }
    }
}
