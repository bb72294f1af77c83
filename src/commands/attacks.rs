//! `robustaudit attacks`: every attack with its parameters, defaults and meanings, and for a
//! radius attack the radii of its own it takes in place of `--eps` or `--eps-l2`.

use robustaudit::attacks::{registry, BudgetKind, Norm, RADII, RADII_KIND};
use robustaudit::error::Result;

use robustaudit::outln;
use robustaudit::stdout::Stdout;

/// Prints the registry on stdout.
pub fn run() -> Result<()> {
    let mut out = Stdout::new();
    for info in registry() {
        outln!(out, "{:<9} {}", info.name, info.summary)?;
        for p in info.params {
            outln!(
                out,
                "  {}.{}={}  ({})  {}",
                info.name,
                p.name,
                p.default,
                p.kind,
                p.doc
            )?;
        }
        let (attack, _) = info.build(&[])?;
        if let BudgetKind::Radius(norm) = attack.budget_kind() {
            let flag = if norm == Norm::L2 {
                "--eps-l2"
            } else {
                "--eps"
            };
            outln!(
                out,
                "  {}.{RADII}={flag}  ({RADII_KIND})  radii of its own, in place of {flag}",
                info.name
            )?;
        }
    }
    out.finish()
}
