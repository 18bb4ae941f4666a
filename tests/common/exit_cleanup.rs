//! Directories a test process made, removed as it exits (after its last test: the examples
//! it started are gone by then), so that test runs leave nothing under the temp dir.

use std::path::PathBuf;
use std::sync::{Mutex, Once, PoisonError};

static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes `dir`, with what is in it, when this process exits.
pub fn remove_at_exit(dir: PathBuf) {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        extern "C" fn remove_all() {
            let dirs = std::mem::take(&mut *DIRS.lock().unwrap_or_else(PoisonError::into_inner));
            for dir in dirs {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        // SAFETY: registers a function without arguments, which the C library runs once as
        // the process exits.
        unsafe { libc::atexit(remove_all) };
    });
    DIRS.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(dir);
}
