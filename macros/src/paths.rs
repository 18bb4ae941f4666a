//! Every runtime path the expansions name, in one place. Generated code reaches the runtime
//! only through the facade, by absolute path, so a user's own `__private`, `Server`, `io` or
//! `Result` cannot change what it means.

use proc_macro2::TokenStream;
use quote::quote;

/// `::socketserver::__private`, the facade's `#[doc(hidden)]` module for expansions.
pub fn private() -> TokenStream {
    quote!(::socketserver::__private)
}
