//! Axes with chosen ticks: linear, or logarithmic drawn as a linear axis of log10 values,
//! so every panel is one kind of chart whatever its scales.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

use super::style::{compact, percent};

/// How an axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Values as they are.
    Linear,
    /// log10 of the values; values of 0 or below are drawn at the axis' low end.
    Log,
}

/// How tick labels read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `25%` for 0.25.
    Percent,
    /// A compact number.
    Number,
}

/// One axis: its scale, its span and its ticks (in axis space: log10 for a log axis).
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The scale.
    pub scale: Scale,
    /// The low end, in axis space.
    pub lo: f64,
    /// The high end, in axis space.
    pub hi: f64,
    /// The ticks, in axis space.
    pub ticks: Vec<f64>,
    /// The labels' format.
    pub format: Format,
}

impl Axis {
    /// A linear axis over `[lo, hi]` with about five round ticks.
    pub fn linear(lo: f64, hi: f64, format: Format) -> Axis {
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, lo + 0.5)
        };
        let step = round_step((hi - lo) / 5.0);
        // Each tick rounded to the step's decimals: 0.6, not 0.6000000000000001.
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        let ticks = ((lo / step).ceil() as i64..=(hi / step + 1e-9).floor() as i64)
            .map(|k| {
                let t = k as f64 * step;
                format!("{t:.decimals$}").parse().unwrap_or(t)
            })
            .collect();
        Axis {
            scale: Scale::Linear,
            lo,
            hi,
            ticks,
            format,
        }
    }

    /// A logarithmic axis spanning the positive `values` with some room, ticks at powers of
    /// ten (and at 2 and 5 times them when the span is short); `None` when no value is
    /// positive.
    pub fn log(values: &[f64], format: Format) -> Option<Axis> {
        let positive: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0).collect();
        let min = positive.iter().copied().reduce(f64::min)?;
        let max = positive.iter().copied().reduce(f64::max)?;
        let (mut lo, mut hi) = (min.log10(), max.log10());
        let room = ((hi - lo) * 0.08).max(0.15);
        lo -= room;
        hi += room;
        let mut ticks = Vec::new();
        let multipliers: &[f64] = if hi - lo < 2.5 {
            &[1.0, 2.0, 5.0]
        } else {
            &[1.0]
        };
        // At most about eight labelled decades.
        let every = ((hi - lo) / 8.0).ceil().max(1.0) as i32;
        for decade in (lo.floor() as i32..=hi.ceil() as i32).filter(|d| d.rem_euclid(every) == 0) {
            for m in multipliers {
                let t = (m * 10f64.powi(decade)).log10();
                if t >= lo && t <= hi {
                    ticks.push(t);
                }
            }
        }
        Some(Axis {
            scale: Scale::Log,
            lo,
            hi,
            ticks,
            format,
        })
    }

    /// A logarithmic axis with ticks at exactly `values` (positive; the temperatures).
    pub fn log_at(values: &[f64]) -> Option<Axis> {
        let mut axis = Axis::log(values, Format::Number)?;
        let room = ((axis.hi - axis.lo) * 0.06).max(0.12);
        let (min, max) = values
            .iter()
            .filter(|v| **v > 0.0)
            .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
        axis.lo = min.log10() - room;
        axis.hi = max.log10() + room;
        axis.ticks = values
            .iter()
            .filter(|v| **v > 0.0)
            .map(|v| v.log10())
            .collect();
        Some(axis)
    }

    /// `v` in axis space; a non-positive value on a log axis goes to the low end.
    pub fn map(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Linear => v,
            Scale::Log if v > 0.0 => v.log10(),
            Scale::Log => self.lo,
        }
    }

    /// The value at axis-space position `t`.
    pub fn value(&self, t: f64) -> f64 {
        match self.scale {
            Scale::Linear => t,
            Scale::Log => 10f64.powf(t),
        }
    }

    /// The label of the tick at axis-space position `t`.
    pub fn label(&self, t: f64) -> String {
        let v = self.value(t);
        match self.format {
            Format::Percent => percent(&v),
            Format::Number => compact(&v),
        }
    }

    /// The plotters coordinate of this axis.
    pub fn coord(&self) -> Ticked {
        Ticked {
            lo: self.lo,
            hi: self.hi,
            ticks: self.ticks.clone(),
        }
    }
}

/// A linear plotters coordinate over `[lo, hi]` whose only grid lines and labels are at
/// `ticks`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticked {
    /// The low end.
    pub lo: f64,
    /// The high end.
    pub hi: f64,
    /// Where the ticks go.
    pub ticks: Vec<f64>,
}

impl Ranged for Ticked {
    // Labels always come from a formatter of the chart's; this only satisfies the mesh.
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = self.hi - self.lo;
        if span == 0.0 {
            return (limit.0 + limit.1) / 2;
        }
        let fraction = (v - self.lo) / span;
        limit.0 + (f64::from(limit.1 - limit.0) * fraction).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// A round step (1, 2 or 5 times a power of ten) of about `raw`.
fn round_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction < 1.5 {
        1.0
    } else if fraction < 3.5 {
        2.0
    } else if fraction < 7.5 {
        5.0
    } else {
        10.0
    };
    nice * power
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_and_inside() {
        let axis = Axis::linear(0.0, 1.0, Format::Percent);
        assert_eq!(axis.ticks, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(axis.label(0.4), "40%");
        let axis = Axis::linear(0.013, 0.87, Format::Number);
        assert!(axis.ticks.iter().all(|t| *t >= 0.013 && *t <= 0.87));
        assert_eq!(axis.ticks.first(), Some(&0.2));
    }

    #[test]
    fn log_axes_span_the_positive_values_and_tick_at_decades() {
        let axis = Axis::log(&[0.0, 1e-4, 3e-2], Format::Number).unwrap();
        assert!(axis.lo < -4.0 && axis.hi > 3e-2f64.log10());
        assert!(axis.ticks.contains(&-3.0) && axis.ticks.contains(&-2.0));
        assert_eq!(axis.map(0.0), axis.lo);
        assert_eq!(axis.label(-3.0), "10⁻³");
        assert!(Axis::log(&[0.0, -1.0], Format::Number).is_none());
        let wide = Axis::log(&[1e-15, 1e-2], Format::Number).unwrap();
        assert!(wide.ticks.len() <= 9, "{:?}", wide.ticks);
    }

    #[test]
    fn temperature_axes_tick_at_the_temperatures() {
        let axis = Axis::log_at(&[5.0, 20.0, 50.0]).unwrap();
        let labels: Vec<String> = axis.ticks.iter().map(|t| axis.label(*t)).collect();
        assert_eq!(labels, ["5", "20", "50"]);
        assert!(axis.lo < 5f64.log10() && axis.hi > 50f64.log10());
    }
}
