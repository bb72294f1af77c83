//! `robustaudit schema`: the report columns as markdown (docs/report-schema.md).

/// Prints the schema on stdout.
pub fn run() {
    print!("{}", robustaudit::report::markdown());
}
