//! Giving memory back to the OS after a spike. glibc keeps what a request
//! freed (in up to 8 arenas per core, and above the heap's top), so one
//! multi-megabyte request left its peak resident for good. At start the
//! arenas are capped; after a request with a large body the allocator is
//! asked to return its free pages (`malloc_trim`), off the request path, by
//! [`trim_task`]. Both calls are glibc's (`target_env = "gnu"`) and no-ops
//! elsewhere: the static musl build allocates with mimalloc (`main.rs`),
//! which returns freed pages to the OS by itself shortly after they fall
//! free (its purge delay), so it needs neither an arena cap nor a trim.
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// A request body at least this large asks for a trim once it is done.
pub(crate) const LARGE_BODY: usize = 1 << 20;

/// How often [`trim_task`] looks whether a trim is due.
const TICK: Duration = Duration::from_millis(500);

/// Ticks left during which [`trim_task`] trims.
static TRIMS_DUE: AtomicU8 = AtomicU8::new(0);

/// Held while a large request is handled: when it is dropped (the request
/// is done), the next ticks trim.
pub(crate) struct LargeRequest;

impl Drop for LargeRequest {
    fn drop(&mut self) {
        TRIMS_DUE.store(2, Ordering::Relaxed);
    }
}

/// Caps glibc's malloc arenas (default: 8 per core), so freed memory is not
/// spread over arenas that are never trimmed. Called once at start.
pub(crate) fn cap_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 4);
    }
}

/// Returns the allocator's free pages to the OS.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the arenas' own locks; no pointer is passed.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Trims while trims are due (after a large request), checking every
/// [`TICK`]; runs until the server stops.
pub(crate) async fn trim_task() {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let due = TRIMS_DUE.load(Ordering::Relaxed);
        if due > 0 {
            TRIMS_DUE.store(due - 1, Ordering::Relaxed);
            trim();
        }
    }
}
