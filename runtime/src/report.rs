//! Where the runtime's own messages go: the `log` facade when the program installed a
//! logger, otherwise one line on stderr, like Python's `socketserver`.

use std::fmt;

/// Reports what only someone debugging wants to see (`log::debug!`, target
/// `socketserver`); nothing without a logger.
pub(crate) fn debug(message: fmt::Arguments<'_>) {
    log::debug!(target: "socketserver", "{message}");
}

/// Reports an error: `log::error!` (target `socketserver`) when a logger is installed,
/// else a line on stderr.
pub(crate) fn error(message: fmt::Arguments<'_>) {
    if log::max_level() == log::LevelFilter::Off {
        eprintln!("{message}");
    } else {
        log::error!(target: "socketserver", "{message}");
    }
}
