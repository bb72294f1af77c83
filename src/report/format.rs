//! How numbers read in the report's tables.

/// A fraction as a percentage with one decimal: `0.9556` as `95.6%`.
pub fn percent(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// Three significant digits, in scientific notation below 0.01 and from 10000: `0.873`,
/// `12.4`, `3.21e-5`.
pub fn significant(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    // Rounded to three significant digits first, so that 0.09999 reads as 0.100.
    let v: f64 = format!("{v:.2e}").parse().unwrap_or(v);
    if v == 0.0 {
        return "0".into();
    }
    let exponent = v.abs().log10().floor() as i32;
    if (-2..4).contains(&exponent) {
        let decimals = (2 - exponent).max(0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.2e}")
    }
}

/// A value or an en dash for "none".
pub fn or_dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "–".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_three_significant_digits() {
        assert_eq!(percent(0.95555), "95.6%");
        assert_eq!(significant(0.87312), "0.873");
        assert_eq!(significant(12.44), "12.4");
        assert_eq!(significant(3.2109e-5), "3.21e-5");
        assert_eq!(significant(0.0), "0");
        assert_eq!(significant(0.099999), "0.100");
        assert_eq!(significant(9999.7), "1.00e4");
        assert_eq!(or_dash(None), "–");
    }
}
