//! An overall deadline for a test: a stuck client fails the test instead of
//! hanging the run until CI's own limit.
//!
//! Include with `#[path = "support/deadline.rs"] mod deadline;` (kept out of
//! `support/mod.rs` so that binaries that do not need it do not compile it).

use std::panic;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// Runs `body` on its own thread and waits for it at most `limit`.
///
/// A panic in `body` is re-raised here with its own message. If `body` has not
/// finished by then, this panics ("did not finish within ..."): the test fails
/// and the test binary goes on; the stuck thread is left behind and dies with
/// the process when the binary exits. `limit` is a bound for a hang, not a speed
/// check: make it several times what the test needs on a busy machine.
pub fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let name = std::thread::current()
        .name()
        .map_or_else(|| "test".to_string(), |n| format!("{n}-body"));
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let result = panic::catch_unwind(panic::AssertUnwindSafe(body));
            let _ = tx.send(result);
        })
        .expect("spawn the test body");
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(RecvTimeoutError::Timeout) => {
            panic!("{what} did not finish within {limit:?}: a client is stuck (see the log above)")
        }
        Err(RecvTimeoutError::Disconnected) => panic!("{what}: the test thread vanished"),
    }
}
