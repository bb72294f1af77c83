//! What a row read back for a report may hold: every number finite and within the range its
//! column can take (accuracies and rates in [0, 1], distances and losses not negative), so
//! that an edited or damaged file is refused naming its line instead of reaching the plots.

use super::page_input::{DiagnosisRow, EpochRow, ManifestEntry, SummaryRow};

/// A row that can say which of its values cannot be right.
pub trait Plausible {
    /// `Err("column NAME: ...")` for the first value out of its column's range.
    fn plausible(&self) -> Result<(), String>;
}

/// `value` as a person reads it: `1e308`, not three hundred digits.
fn shown(value: f64) -> String {
    if value == 0.0 || (1e-4..1e6).contains(&value.abs()) {
        format!("{value}")
    } else {
        format!("{value:e}")
    }
}

/// A fraction: finite and in [0, 1].
fn fraction(column: &str, value: f64) -> Result<(), String> {
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
fn magnitude(column: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(format!(
            "column {column}: {} is not a finite value of at least 0",
            shown(value)
        ))
    }
}

fn optional(
    check: fn(&str, f64) -> Result<(), String>,
    column: &str,
    value: Option<f64>,
) -> Result<(), String> {
    value.map_or(Ok(()), |v| check(column, v))
}

impl Plausible for SummaryRow {
    fn plausible(&self) -> Result<(), String> {
        optional(magnitude, "budget", self.budget)?;
        fraction("clean_accuracy", self.clean_accuracy)?;
        fraction("adversarial_accuracy", self.adversarial_accuracy)?;
        optional(fraction, "success_rate", self.success_rate)?;
        optional(magnitude, "mean_min_l2", self.mean_min_l2)?;
        optional(magnitude, "mean_l2_pairs", self.mean_l2_pairs)?;
        optional(magnitude, "mean_min_linf", self.mean_min_linf)?;
        optional(magnitude, "mean_min_l0", self.mean_min_l0)?;
        magnitude("sensitivity_logit_sum", self.sensitivity_logit_sum)?;
        magnitude("sensitivity_softmax", self.sensitivity_softmax)
    }
}

impl Plausible for DiagnosisRow {
    fn plausible(&self) -> Result<(), String> {
        Ok(())
    }
}

impl Plausible for ManifestEntry {
    fn plausible(&self) -> Result<(), String> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(format!(
                "column temperature: {} is not a finite temperature above 0",
                shown(self.temperature)
            ));
        }
        optional(fraction, "test_accuracy", self.test_accuracy)
    }
}

impl Plausible for EpochRow {
    fn plausible(&self) -> Result<(), String> {
        magnitude("loss", self.loss)?;
        fraction("train_accuracy", self.train_accuracy)?;
        fraction("test_accuracy", self.test_accuracy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(loss: f64, train: f64, test: f64) -> EpochRow {
        EpochRow {
            epoch: 1,
            loss,
            train_accuracy: train,
            test_accuracy: test,
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
