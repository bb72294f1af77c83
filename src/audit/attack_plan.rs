//! The attacks of an audit, planned from the names and `ATTACK.PARAM=VALUE` overrides the
//! command line gives (`--attacks`, `--attack-param`): each built from the registry, every
//! override checked against the attacks it names.

use super::PlannedAttack;
use crate::attacks::by_listed_name;
use crate::error::{Error, Result};

/// The attacks of `--attacks`, built with the `--attack-param` overrides that name them.
pub fn plan_attacks(names: &[String], overrides: &[String]) -> Result<Vec<PlannedAttack>> {
    let mut parsed = Vec::with_capacity(overrides.len());
    for text in overrides {
        let bad = || Error::Usage {
            message: format!("--attack-param `{text}` is not ATTACK.PARAM=VALUE"),
            hint: Some("for example --attack-param pgd.steps=100".into()),
        };
        let (key, value) = text.split_once('=').ok_or_else(bad)?;
        let (attack, param) = key.split_once('.').ok_or_else(bad)?;
        let (_, fixed) = by_listed_name(attack)?;
        if fixed.iter().any(|(p, _)| *p == param) {
            return Err(Error::Usage {
                message: format!(
                    "--attack-param `{text}` sets {param}, which the name {attack} fixes"
                ),
                hint: None,
            });
        }
        if !names.iter().any(|n| n == attack) {
            return Err(Error::Usage {
                message: format!("--attack-param `{text}` sets a parameter of {attack}, which is not among --attacks"),
                hint: Some(format!("add {attack} to --attacks")),
            });
        }
        parsed.push((attack, param.to_string(), value.to_string()));
    }
    let mut planned = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(Error::Usage {
                message: format!("attack {name} is listed twice in --attacks"),
                hint: None,
            });
        }
        let (info, fixed) = by_listed_name(name)?;
        let mine: Vec<(String, String)> = fixed
            .iter()
            .map(|(p, v)| (p.to_string(), v.to_string()))
            .chain(
                parsed
                    .iter()
                    .filter(|(a, ..)| a == name)
                    .map(|(_, p, v)| (p.clone(), v.clone())),
            )
            .collect();
        let (attack, params) = info.build(&mine)?;
        if let Some(earlier) = planned
            .iter()
            .find(|p: &&PlannedAttack| p.attack.name() == attack.name())
        {
            return Err(Error::Usage {
                message: format!(
                    "attack {name} runs {}, which --attacks already runs",
                    earlier.attack.name()
                ),
                hint: Some("list each variant once".into()),
            });
        }
        planned.push(PlannedAttack { attack, params });
    }
    Ok(planned)
}
