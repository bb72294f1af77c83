//! Neutralising CSV cells against formula injection, and undoing it when a file is read back.
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
}
