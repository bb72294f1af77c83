//! `robustaudit schema`: the report columns as markdown (docs/report-schema.md).

use robustaudit::error::Result;

use robustaudit::stdout::Stdout;

/// Prints the schema on stdout.
pub fn run() -> Result<()> {
    let mut out = Stdout::new();
    out.print(format_args!("{}", robustaudit::report::markdown()))?;
    out.finish()
}
