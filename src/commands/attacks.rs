//! `robustaudit attacks`: every attack with its parameters, defaults and meanings.

use robustaudit::attacks::registry;
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
    }
    out.finish()
}
