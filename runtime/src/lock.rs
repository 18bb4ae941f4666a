//! Locking that goes on past poisoning.

/// Locks `mutex`, going on past poisoning: a panic elsewhere must not stop the server, and
/// every mutex here guards state that is whole between statements.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
