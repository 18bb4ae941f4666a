//! `server!`: parse the declaration, validate keys and option values against the chosen
//! transport and mixin, expand to a struct over the runtime's `Server`.

mod expand;
mod options;
mod parse;
mod validate;

use proc_macro2::TokenStream;

/// The whole macro: on error, still declares the struct (with stand-ins for the parts that
/// are wrong) so the rest of the crate type-checks and only the real mistakes show.
pub fn expand(input: TokenStream) -> TokenStream {
    let parsed = match syn::parse2::<parse::Declaration>(input) {
        Ok(parsed) => parsed,
        Err(error) => return error.to_compile_error(),
    };
    match validate::validate(&parsed) {
        (server, None) => expand::expand(&server),
        (server, Some(error)) => {
            let mut out = error.to_compile_error();
            out.extend(expand::expand(&server));
            out
        }
    }
}
