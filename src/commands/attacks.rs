//! `robustaudit attacks`: every attack with its parameters, defaults and meanings.

use robustaudit::attacks::registry;

/// Prints the registry on stdout.
pub fn run() {
    for info in registry() {
        println!("{:<9} {}", info.name, info.summary);
        for p in info.params {
            println!(
                "  {}.{}={}  ({})  {}",
                info.name, p.name, p.default, p.kind, p.doc
            );
        }
    }
}
