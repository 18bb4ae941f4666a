//! `Hooks`: Python's overridable server methods (`verify_request`, `handle_error`,
//! `handle_timeout`, `service_actions`) as a trait with Python's defaults, and `reload`
//! for `SIGHUP`.

use crate::address::SocketAddress;
use crate::error::RequestError;

/// The server's overridable methods. Implement the ones you need; the rest keep Python's
/// behaviour. Hooks run on the serving thread, except `handle_error`, which runs where the
/// request ran (a request thread, a forked child).
///
/// ```
/// use socketserver::{Hooks, SocketAddress};
///
/// /// Serves loopback clients only.
/// struct LocalOnly;
///
/// impl Hooks for LocalOnly {
///     fn verify_request(&self, client_address: &SocketAddress) -> bool {
///         client_address.as_inet().is_some_and(|a| a.ip().is_loopback())
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a hooks type",
    label = "`hooks:` takes a type that implements `Hooks`",
    note = "write `impl socketserver::Hooks for {Self} {{}}` and override the methods you need (`verify_request`, `handle_error`, `handle_timeout`, `service_actions`, `reload`)"
)]
pub trait Hooks: Send + Sync + 'static {
    /// Whether to serve a client; a rejected connection is closed at once (Python:
    /// `verify_request`, default true).
    fn verify_request(&self, client_address: &SocketAddress) -> bool {
        let _ = client_address;
        true
    }

    /// Reports a request that failed; the server goes on serving (Python: `handle_error`).
    /// Default: one line naming the client and the error, through the `log` facade
    /// (`log::error!`, target `socketserver`) when a logger is installed, else on stderr as
    /// Python does.
    fn handle_error(&self, client_address: &SocketAddress, error: &RequestError) {
        crate::report::error(format_args!(
            "error processing request from {client_address}: {error}"
        ));
    }

    /// Called when `handle_request` waited `timeout` for a request in vain (Python:
    /// `handle_timeout`). Default: nothing.
    fn handle_timeout(&self) {}

    /// Called on every turn of `serve_forever`'s loop (Python: `service_actions`). Default:
    /// nothing.
    fn service_actions(&self) {}

    /// Called when the process gets `SIGHUP` while it serves through
    /// [`serve_until_signal`](crate::Server::serve_until_signal) or
    /// [`serve_until`](crate::Server::serve_until): Unix's "read your configuration again"
    /// (certificates, allow-lists, ...). Runs where the signals are watched (a thread of
    /// `serve_until`'s, or a `Forking` server's serving thread) while requests go on being
    /// served. Default: nothing; the server keeps serving either way, a
    /// `SIGHUP` never stops it.
    fn reload(&self) {}

    /// Called in each pre-forked worker (`workers`) right after it is forked, before it
    /// serves: what a process needs of its own (a database connection, a random seed).
    /// An error ends the worker; its master replaces it, and stops with an error when
    /// workers keep failing at start. Default: nothing.
    fn post_fork(&self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Python's behaviour for every hook.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultHooks;

impl Hooks for DefaultHooks {}
