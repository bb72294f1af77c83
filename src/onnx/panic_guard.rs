//! Calling tract on untrusted graphs: its errors and its panics both become one-line
//! [`OnnxError`]s, and a panic caught here prints nothing, so the user sees only the
//! `error:` line.
//!
//! The process-wide panic hook is wrapped once: while the current thread is inside a
//! guarded call the hook stays silent; any other panic (a bug elsewhere) is printed by the
//! hook that was installed before.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Once;

use tract_onnx::prelude::TractResult;

use super::tract_plan::one_line;
use super::OnnxError;

thread_local! {
    /// How many guarded calls the current thread is inside.
    static GUARDED: Cell<usize> = const { Cell::new(0) };
}

static QUIET_HOOK: Once = Once::new();

/// Runs a tract call that analyses or compiles a graph; errors and panics become
/// [`OnnxError::Tract`].
pub(super) fn guard<T>(path: &Path, call: impl FnOnce() -> TractResult<T>) -> Result<T, OnnxError> {
    guarded(call).map_err(|reason| OnnxError::Tract {
        path: path.to_path_buf(),
        reason,
    })
}

/// Runs a compiled plan; errors and panics become [`OnnxError::Run`].
pub(super) fn guard_run<T>(
    path: &Path,
    call: impl FnOnce() -> TractResult<T>,
) -> Result<T, OnnxError> {
    guarded(call).map_err(|reason| OnnxError::Run {
        path: path.to_path_buf(),
        reason,
    })
}

fn guarded<T>(call: impl FnOnce() -> TractResult<T>) -> Result<T, String> {
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
    GUARDED.with(|g| g.set(g.get() + 1));
    let outcome = catch_unwind(AssertUnwindSafe(call));
    GUARDED.with(|g| g.set(g.get() - 1));
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(one_line(&e)),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown failure".into());
            Err(format!("tract failed: {}", message.replace('\n', " ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_a_guarded_call_becomes_an_error() {
        let err = guard(Path::new("m.onnx"), || -> TractResult<()> {
            panic!("attempt to subtract with overflow")
        })
        .expect_err("panicked");
        assert_eq!(
            err.to_string(),
            "tract cannot load m.onnx: tract failed: attempt to subtract with overflow"
        );
        assert_eq!(GUARDED.with(Cell::get), 0);
    }
}
