//! Attack parameters: each attack declares its own (name, kind, literature default, meaning),
//! and the command line overrides any of them as `ATTACK.PARAM=VALUE`. Besides its own, every
//! attack with a radius budget takes [`RADII`] (`autoattack.eps=0.3`): radii of its own, which
//! replace the audit's `--eps` or `--eps-l2` for that attack alone, so that one audit can run
//! an ensemble at its standard budget beside a grid of budgets for the other attacks.

use std::collections::BTreeMap;
use std::fmt;

use super::losses::Loss;
use super::Targets;
use crate::error::{Error, Result};

/// The parameter every radius attack takes: its own comma-separated radii, in the input
/// scale, in place of `--eps` (L-infinity) or `--eps-l2` (L2). Unset by default.
pub const RADII: &str = "eps";

/// What [`RADII`] takes, as `robustaudit attacks` and errors say it.
pub const RADII_KIND: &str = "numbers > 0, comma-separated";

/// What values a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A whole number of at least 1.
    Count,
    /// A whole number of at least 0.
    Whole,
    /// A finite number above 0.
    Positive,
    /// A finite number of at least 0.
    NonNegative,
    /// A number in `(0, 1]`.
    Fraction,
    /// `true` or `false`.
    Flag,
    /// One of the listed words.
    Choice(&'static [&'static str]),
}

impl fmt::Display for ParamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamKind::Count => f.write_str("integer >= 1"),
            ParamKind::Whole => f.write_str("integer >= 0"),
            ParamKind::Positive => f.write_str("number > 0"),
            ParamKind::NonNegative => f.write_str("number >= 0"),
            ParamKind::Fraction => f.write_str("number in (0, 1]"),
            ParamKind::Flag => f.write_str("true|false"),
            ParamKind::Choice(words) => f.write_str(&words.join("|")),
        }
    }
}

/// One parameter an attack declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    /// Its name after the attack's, as in `pgd.steps`.
    pub name: &'static str,
    /// The values it takes.
    pub kind: ParamKind,
    /// The default, written as on the command line.
    pub default: &'static str,
    /// What it means, with its unit.
    pub doc: &'static str,
}

/// `targets` of an attack that is untargeted unless asked: `all` runs once per class other
/// than the label.
pub(super) const TARGETS_NONE: ParamSpec = ParamSpec {
    name: "targets",
    kind: ParamKind::Choice(&["all", "none"]),
    default: "none",
    doc: "all: one targeted run per class other than the label; none: untargeted",
};

/// `targets` of an attack that runs once per class other than the label unless asked.
pub(super) const TARGETS_ALL: ParamSpec = ParamSpec {
    default: "all",
    ..TARGETS_NONE
};

/// `loss` of a score-based attack: the C&W margin by default, or cross-entropy.
pub(super) const SCORE_LOSS: ParamSpec = ParamSpec {
    name: "loss",
    kind: ParamKind::Choice(Loss::CHOICES),
    default: "margin",
    doc: "loss to minimise: the C&W logit margin, or cross-entropy of the probabilities (ce)",
};

/// A parsed parameter value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttackParam {
    /// A whole number.
    Integer(usize),
    /// A real number.
    Number(f64),
    /// A switch.
    Flag(bool),
    /// A word of a [`ParamKind::Choice`].
    Choice(&'static str),
}

impl fmt::Display for AttackParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttackParam::Integer(n) => write!(f, "{n}"),
            AttackParam::Number(v) => write!(f, "{v}"),
            AttackParam::Flag(b) => write!(f, "{b}"),
            AttackParam::Choice(w) => f.write_str(w),
        }
    }
}

impl ParamSpec {
    /// Parses `text` as a value of this parameter; the error says what is expected.
    pub fn parse(&self, text: &str) -> std::result::Result<AttackParam, String> {
        let bad = || format!("`{text}` is not a valid value ({})", self.kind);
        match self.kind {
            ParamKind::Count | ParamKind::Whole => match text.parse::<usize>() {
                Ok(n) if n >= 1 || self.kind == ParamKind::Whole => Ok(AttackParam::Integer(n)),
                _ => Err(bad()),
            },
            ParamKind::Positive | ParamKind::NonNegative | ParamKind::Fraction => {
                let v = text.parse::<f64>().map_err(|_| bad())?;
                let ok = v.is_finite()
                    && match self.kind {
                        ParamKind::Positive => v > 0.0,
                        ParamKind::NonNegative => v >= 0.0,
                        _ => v > 0.0 && v <= 1.0,
                    };
                if ok {
                    Ok(AttackParam::Number(v))
                } else {
                    Err(bad())
                }
            }
            ParamKind::Flag => match text {
                "true" => Ok(AttackParam::Flag(true)),
                "false" => Ok(AttackParam::Flag(false)),
                _ => Err(bad()),
            },
            ParamKind::Choice(words) => words
                .iter()
                .find(|w| **w == text)
                .map(|w| AttackParam::Choice(w))
                .ok_or_else(bad),
        }
    }
}

/// The resolved parameters of one attack: its defaults with the overrides applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    attack: &'static str,
    values: BTreeMap<&'static str, AttackParam>,
    radii: Option<Vec<f64>>,
}

impl Params {
    /// The defaults of `specs` for `attack`, with `overrides` (`(param, value)` pairs)
    /// applied in order. Unknown names and bad values are usage errors (exit code 2).
    /// [`RADII`] is accepted here whatever the attack: whether the attack has a radius is
    /// known once it is built, and its registry entry refuses it there.
    pub fn resolve(
        attack: &'static str,
        specs: &'static [ParamSpec],
        overrides: &[(String, String)],
    ) -> Result<Params> {
        let mut values = BTreeMap::new();
        for spec in specs {
            let value = spec.parse(spec.default).map_err(|e| Error::Internal {
                message: format!("default of {attack}.{}: {e}", spec.name),
            })?;
            values.insert(spec.name, value);
        }
        let mut radii = None;
        for (name, text) in overrides {
            if name == RADII {
                radii = Some(parse_radii(text).ok_or_else(|| Error::Usage {
                    message: format!(
                        "--attack-param {attack}.{RADII}: `{text}` is not a valid value ({RADII_KIND})"
                    ),
                    hint: Some(format!(
                        "for example --attack-param {attack}.{RADII}=0.1,0.3"
                    )),
                })?);
                continue;
            }
            let Some(spec) = specs.iter().find(|s| s.name == name) else {
                let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
                return Err(Error::Usage {
                    message: format!("attack {attack} has no parameter `{name}`"),
                    hint: Some(if known.is_empty() {
                        format!("{attack} takes no parameters")
                    } else {
                        format!("its parameters are {}", known.join(", "))
                    }),
                });
            };
            let value = spec.parse(text).map_err(|e| Error::Usage {
                message: format!("--attack-param {attack}.{name}: {e}"),
                hint: Some(format!("{}: {}", spec.name, spec.doc)),
            })?;
            values.insert(spec.name, value);
        }
        Ok(Params {
            attack,
            values,
            radii,
        })
    }

    /// Every parameter with its value, sorted by name: `restarts=1 steps=40`, with
    /// [`RADII`] among them when set (`eps=0.1,0.3`, each radius in shortest round-trip form).
    pub fn describe(&self) -> String {
        let mut all: Vec<(&str, String)> = self
            .values
            .iter()
            .map(|(k, v)| (*k, v.to_string()))
            .collect();
        if let Some(radii) = &self.radii {
            let text: Vec<String> = radii.iter().map(|r| format!("{r}")).collect();
            all.push((RADII, text.join(",")));
        }
        all.sort_by(|a, b| a.0.cmp(b.0));
        all.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The attack's own radii ([`RADII`]) when they were set: the audit runs it at these in
    /// place of `--eps` or `--eps-l2`.
    pub fn radii(&self) -> Option<&[f64]> {
        self.radii.as_deref()
    }

    fn get(&self, name: &str) -> Result<AttackParam> {
        self.values
            .get(name)
            .copied()
            .ok_or_else(|| Error::Internal {
                message: format!("attack {} reads undeclared parameter {name}", self.attack),
            })
    }

    fn mismatch(&self, name: &str, wanted: &str) -> Error {
        Error::Internal {
            message: format!("parameter {}.{name} is not {wanted}", self.attack),
        }
    }

    /// A whole-number parameter.
    pub fn integer(&self, name: &str) -> Result<usize> {
        match self.get(name)? {
            AttackParam::Integer(n) => Ok(n),
            _ => Err(self.mismatch(name, "an integer")),
        }
    }

    /// A real-number parameter.
    pub fn number(&self, name: &str) -> Result<f64> {
        match self.get(name)? {
            AttackParam::Number(v) => Ok(v),
            _ => Err(self.mismatch(name, "a number")),
        }
    }

    /// A switch.
    pub fn flag(&self, name: &str) -> Result<bool> {
        match self.get(name)? {
            AttackParam::Flag(b) => Ok(b),
            _ => Err(self.mismatch(name, "a flag")),
        }
    }

    /// A word of a choice.
    pub fn choice(&self, name: &str) -> Result<&'static str> {
        match self.get(name)? {
            AttackParam::Choice(w) => Ok(w),
            _ => Err(self.mismatch(name, "a choice")),
        }
    }

    /// The `targets` choice of an attack that takes one: `all` (every other class) or
    /// `none` (untargeted).
    pub fn targets(&self) -> Result<Targets> {
        Ok(if self.choice("targets")? == "all" {
            Targets::All
        } else {
            Targets::Untargeted
        })
    }
}

/// Comma-separated finite radii above 0, at least one, as `--eps` takes them.
fn parse_radii(text: &str) -> Option<Vec<f64>> {
    text.split(',')
        .map(|r| r.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0))
        .collect()
}
