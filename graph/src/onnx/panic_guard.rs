//! Calling tract on untrusted graphs: its errors and its panics both become one-line
//! [`OnnxError`]s, and a panic caught here prints nothing, so the user sees only the
//! `error:` line.
//!
//! The process-wide panic hook is wrapped once: while the current thread is inside a
//! guarded call the hook stays silent; any other panic (a bug elsewhere) is printed by the
//! hook that was installed before.
//!
//! Compiling a graph is also bounded in time ([`guard_within`]): tract's optimiser can loop
//! without end on some graphs (an `Einsum` such as `bcij,ck->bki` has been seen to), so it
//! runs on its own thread and the caller gives up after [`compile_limit`], leaving the
//! thread behind (the process exits with the error soon after).

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::mpsc;
use std::sync::Once;
use std::time::Duration;

use tract_onnx::prelude::TractResult;

use super::tract_facts::one_line;
use super::OnnxError;

thread_local! {
    /// How many guarded calls the current thread is inside.
    static GUARDED: Cell<usize> = const { Cell::new(0) };
}

static QUIET_HOOK: Once = Once::new();

/// Runs a tract call that analyses or compiles a graph; errors and panics become
/// [`OnnxError::Tract`].
pub fn guard<T>(path: &Path, call: impl FnOnce() -> TractResult<T>) -> Result<T, OnnxError> {
    guarded(call).map_err(|reason| OnnxError::Tract {
        path: path.to_path_buf(),
        reason,
    })
}

/// The environment variable that sets [`compile_limit`] in seconds.
pub const COMPILE_LIMIT_VARIABLE: &str = "ROBUSTAUDIT_COMPILE_SECONDS";

/// The longest a graph may take to compile: 300 s, or `ROBUSTAUDIT_COMPILE_SECONDS` when it
/// holds a positive number of seconds.
pub fn compile_limit() -> Duration {
    std::env::var(COMPILE_LIMIT_VARIABLE)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .map_or(Duration::from_secs(300), Duration::from_secs_f64)
}

/// As [`guard`], for a call that compiles a graph: it runs on its own thread and fails
/// with [`OnnxError::Tract`] when it takes longer than `limit` ([`compile_limit`] for
/// models).
pub fn guard_within<T: Send + 'static>(
    path: &Path,
    limit: Duration,
    call: impl FnOnce() -> TractResult<T> + Send + 'static,
) -> Result<T, OnnxError> {
    let (send, receive) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("tract-compile".into())
        .spawn(move || {
            // The receiver is gone only when the caller gave up waiting.
            let _ = send.send(guarded(call));
        });
    let failed = |reason: String| OnnxError::Tract {
        path: path.to_path_buf(),
        reason,
    };
    if let Err(e) = spawned {
        return Err(failed(format!(
            "cannot start a thread to compile the graph: {e}"
        )));
    }
    match receive.recv_timeout(limit) {
        Ok(outcome) => outcome.map_err(failed),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(failed(format!(
            "tract did not finish compiling the graph within {} s (set {COMPILE_LIMIT_VARIABLE} to allow longer)",
            limit.as_secs_f64()
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(failed("the compiling thread stopped without an answer".into()))
        }
    }
}

/// Runs a compiled plan; errors and panics become [`OnnxError::Run`].
pub fn guard_run<T>(path: &Path, call: impl FnOnce() -> TractResult<T>) -> Result<T, OnnxError> {
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
    fn a_compilation_past_its_limit_is_an_error_and_one_within_it_is_not() {
        let limit = Duration::from_millis(200);
        let endless = guard_within(Path::new("m.onnx"), limit, || -> TractResult<()> {
            std::thread::sleep(Duration::from_secs(30));
            Ok(())
        });
        let err = endless.expect_err("past the limit");
        assert!(
            err.to_string()
                .contains("did not finish compiling the graph within 0.2 s"),
            "{err}"
        );
        let quick = guard_within(Path::new("m.onnx"), limit, || -> TractResult<u8> { Ok(7) });
        assert_eq!(quick.expect("within the limit"), 7);
        let panicking = guard_within(Path::new("m.onnx"), limit, || -> TractResult<u8> {
            panic!("index out of bounds")
        });
        assert!(panicking
            .expect_err("a panic")
            .to_string()
            .contains("tract failed: index out of bounds"));
    }

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
