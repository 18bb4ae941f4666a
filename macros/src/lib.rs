//! The macros of `socketserver`: `#[handler]` and `server!`. Use them through the
//! `socketserver` crate, which documents them; this crate holds their implementation,
//! each split parse -> validate -> expand.

mod display;
mod errors;
mod fuzzy;
mod handler;
mod paths;
mod server;
mod spans;

use proc_macro::TokenStream;

/// Implements the runtime's handler trait for the `setup` / `handle` / `finish` methods of an
/// inherent `impl` block. Documented in the `socketserver` crate.
#[proc_macro_attribute]
pub fn handler(args: TokenStream, item: TokenStream) -> TokenStream {
    handler::expand(args.into(), item.into()).into()
}

/// Declares a server type from a transport, a mixin, a handler and options. Documented in
/// the `socketserver` crate.
#[proc_macro]
pub fn server(input: TokenStream) -> TokenStream {
    server::expand(input.into()).into()
}
