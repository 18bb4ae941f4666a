//! `#[handler]`: parse the `impl` block, validate its hook methods, expand to the runtime's
//! `RequestHandler` impls.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

/// The whole attribute: on error, the item is kept (so its other uses still type-check) and
/// stub impls stand in for the handler trait, so one mistake gives one message.
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let parsed = match parse::parse(args, item.clone()) {
        Ok(parsed) => parsed,
        Err(error) => {
            let mut out = error.to_compile_error();
            out.extend(item);
            return out;
        }
    };
    match validate::validate(&parsed) {
        Ok(handler) => expand::expand(&parsed, &handler),
        Err(error) => {
            let mut out = error.to_compile_error();
            out.extend(expand::fallback(&parsed));
            out
        }
    }
}
