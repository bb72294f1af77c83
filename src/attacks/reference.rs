//! What the documentation and the command line say about the attacks, generated from the
//! registry: the table of `docs/attacks.md` (a test keeps the file equal to it) and the
//! attack lists of `--attacks`, `--eps` and `--eps-l2`.

use super::registry::registry;
use super::{Attack, AttackInfo, BudgetKind, Norm, Signal, Targets};

/// The attack with its parameters' defaults; every registered attack builds from them (a
/// test checks it), so a failure here is a bug in the registry.
fn with_defaults(info: &AttackInfo) -> Box<dyn Attack> {
    match info.build(&[]) {
        Ok((attack, _)) => attack,
        Err(e) => panic!("{} does not build from its defaults: {e}", info.name),
    }
}

/// Its budget in words: `linf radius`, `minimal l2`, `l0: at most 14.5% of the values`.
fn budget_words(kind: BudgetKind) -> String {
    match kind {
        BudgetKind::Radius(norm) => format!("{norm} radius"),
        BudgetKind::Minimal(norm) => format!("minimal {norm}"),
        BudgetKind::Features(fraction) => {
            // A percentage to a tenth, as the literature states it (14.5%).
            format!(
                "l0: at most {}% of the values",
                (fraction * 1000.0).round() / 10.0
            )
        }
    }
}

/// What it learns from the model, in words.
fn signal_words(signal: Signal) -> &'static str {
    match signal {
        Signal::Gradient(_) => "gradients",
        Signal::Scores(_) => "scores",
        Signal::Decision => "decisions",
    }
}

/// The table of every attack in registry order: name, budget, goals, what it learns from
/// the model (derived from the attack itself), and its literature defaults.
pub fn markdown_table() -> String {
    let mut text = String::from(
        "| attack | budget | goals | learns from | literature defaults |\n|---|---|---|---|---|\n",
    );
    for info in registry() {
        let attack = with_defaults(info);
        let goals = match attack.targets() {
            Targets::Untargeted => "untargeted",
            Targets::All => "every other class",
        };
        text.push_str(&format!(
            "| `{}` | {} | {goals} | {} | {} |\n",
            info.name,
            budget_words(attack.budget_kind()),
            signal_words(attack.signal()),
            info.defaults.replace('|', "\\|"),
        ));
    }
    text
}

/// The attacks that run once per radius of this norm (`--eps` for L-infinity, `--eps-l2`
/// for L2), in registry order.
pub fn radius_attacks(norm: Norm) -> Vec<&'static str> {
    registry()
        .iter()
        .filter(|info| with_defaults(info).budget_kind() == BudgetKind::Radius(norm))
        .map(|info| info.name)
        .collect()
}

/// The attacks that learn from gradients, and those that need forward passes only, in
/// registry order.
pub fn by_signal() -> (Vec<&'static str>, Vec<&'static str>) {
    registry()
        .iter()
        .map(|info| (info.name, with_defaults(info).signal()))
        .fold(
            (Vec::new(), Vec::new()),
            |(mut gradient, mut forward), (name, signal)| {
                match signal {
                    Signal::Gradient(_) => gradient.push(name),
                    Signal::Scores(_) | Signal::Decision => forward.push(name),
                }
                (gradient, forward)
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attacks::registry::names;

    #[test]
    fn every_attack_builds_from_its_defaults() {
        for info in registry() {
            assert!(info.build(&[]).is_ok(), "{}", info.name);
        }
    }

    #[test]
    fn the_documented_table_is_generated_from_the_registry() {
        let table = markdown_table();
        assert_eq!(table.lines().count(), names().len() + 2);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/attacks.md");
        crate::generated_docs::check(&path, Some("attacks"), &table)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn radius_lists_split_the_radius_attacks_by_norm() {
        let linf = radius_attacks(Norm::Linf);
        let l2 = radius_attacks(Norm::L2);
        assert!(linf.contains(&"fgsm") && linf.contains(&"fab-t") && !linf.contains(&"pgd-l2"));
        assert!(l2.contains(&"pgd-l2") && l2.contains(&"square-l2") && !l2.contains(&"pgd"));
        assert!(!linf.contains(&"cw-l2") && !l2.contains(&"deepfool"));
        let (gradient, forward) = by_signal();
        assert_eq!(gradient.len() + forward.len(), names().len());
        assert!(forward.contains(&"hopskipjump") && gradient.contains(&"fgsm"));
    }
}
