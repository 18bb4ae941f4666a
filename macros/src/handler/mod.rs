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
            out.extend(stand_in(item));
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

/// The item `#[handler]` could not take, kept as written, with stub handler impls when it
/// names a type (an `impl` block, a struct, an enum), so that a server using it reports
/// nothing more.
fn stand_in(item: TokenStream) -> TokenStream {
    let parsed = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(parsed) => parsed,
        Err(_) => return item,
    };
    let (ident, generics) = match &parsed {
        syn::Item::Impl(block) => {
            return expand::fallback(&parse::Parsed {
                item: block.clone(),
            })
        }
        syn::Item::Struct(s) => (&s.ident, &s.generics),
        syn::Item::Enum(e) => (&e.ident, &e.generics),
        _ => return item,
    };
    let (_, type_generics, _) = generics.split_for_impl();
    let self_ty: syn::Type = syn::parse_quote!(#ident #type_generics);
    let mut out = item;
    out.extend(expand::stub_impls(&self_ty, generics));
    out
}
