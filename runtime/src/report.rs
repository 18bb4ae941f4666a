//! Where the runtime's own messages go: the `log` facade when the program installed a
//! logger, otherwise one line on stderr, like Python's `socketserver`.

use std::fmt;

/// Reports an error: `log::error!` (target `socketserver`) when a logger is installed,
/// else a line on stderr.
pub(crate) fn error(message: fmt::Arguments<'_>) {
    if log::max_level() == log::LevelFilter::Off {
        eprintln!("{message}");
    } else {
        log::error!(target: "socketserver", "{message}");
    }
}
