//! Counting the client's threads of this process (Linux `/proc/self/task`).
//!
//! Include with `#[path = "support/threads.rs"] mod threads;`.

use std::time::{Duration, Instant};

/// Names of this process's threads whose name starts with `prefix` (the
/// kernel keeps the first 15 bytes of a thread name).
pub fn named(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .map(|n| n.trim_end().to_string())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// The threads named `prefix...` still listed after a short grace period
/// (empty once they are all gone).
///
/// Why a grace period after a `close()` that joined its threads: `join`
/// returns when the exiting thread clears its thread id (in the kernel's
/// exit_mm), a moment before the kernel removes the task from
/// `/proc/self/task` (exit_notify). On a busy machine the exiting thread can be
/// preempted in between: a plain `std::thread` joined and checked at once was
/// still listed 2 times in 20,000 here, and `tests/producer_close.rs` failed
/// that way in a full run. A thread that was not joined, or never ends, is
/// still listed after the grace period.
pub fn remaining_after_grace(prefix: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let left = named(prefix);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
