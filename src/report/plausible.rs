//! What a row read back for a report may hold: every number finite and within the range its
//! column can take (accuracies and rates in [0, 1], distances and losses not negative), so
//! that an edited or damaged file is refused naming its line instead of reaching the plots.

/// A row that can say which of its values cannot be right.
pub trait Plausible {
    /// `Err("column NAME: ...")` for the first value out of its column's range.
    fn plausible(&self) -> Result<(), String>;
}

/// `value` as a person reads it: `1e308`, not three hundred digits.
pub(super) fn shown(value: f64) -> String {
    if value == 0.0 || (1e-4..1e6).contains(&value.abs()) {
        format!("{value}")
    } else {
        format!("{value:e}")
    }
}

/// A fraction: finite and in [0, 1].
pub(super) fn fraction(column: &str, value: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "column {column}: {} is not a fraction in [0, 1]",
            shown(value)
        ))
    }
}

/// A size, distance or loss: finite and not negative.
pub(super) fn magnitude(column: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(format!(
            "column {column}: {} is not a finite value of at least 0",
            shown(value)
        ))
    }
}

/// `check` on a value the row may leave empty.
pub(super) fn if_present(
    check: fn(&str, f64) -> Result<(), String>,
    column: &str,
    value: Option<f64>,
) -> Result<(), String> {
    value.map_or(Ok(()), |v| check(column, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::EpochRow;

    fn epoch(loss: f64, train: f64, test: f64) -> EpochRow {
        EpochRow {
            epoch: 1,
            loss,
            train_accuracy: train,
            test_accuracy: test,
            seconds: None,
            images_per_second: None,
        }
    }

    #[test]
    fn nan_infinite_and_absurd_values_are_named_by_column() {
        assert_eq!(epoch(0.3, 0.9, 1.0).plausible(), Ok(()));
        let err = epoch(0.3, f64::NAN, 0.9).plausible().unwrap_err();
        assert_eq!(
            err,
            "column train_accuracy: NaN is not a fraction in [0, 1]"
        );
        let err = epoch(0.3, 0.9, 1e308).plausible().unwrap_err();
        assert_eq!(
            err,
            "column test_accuracy: 1e308 is not a fraction in [0, 1]"
        );
        let err = epoch(-1e308, 0.9, 0.9).plausible().unwrap_err();
        assert_eq!(
            err,
            "column loss: -1e308 is not a finite value of at least 0"
        );
        let err = epoch(f64::INFINITY, 0.9, 0.9).plausible().unwrap_err();
        assert_eq!(err, "column loss: inf is not a finite value of at least 0");
    }
}
