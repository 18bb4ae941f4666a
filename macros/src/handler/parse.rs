//! Parsing `#[handler]`'s input: no arguments, and an `impl` block.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{Item, ItemImpl};

/// The `impl` block `#[handler]` was put on.
pub struct Parsed {
    pub item: ItemImpl,
}

pub fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Parsed> {
    let mut errors = crate::errors::Errors::default();
    if !args.is_empty() {
        errors.at(
            &args,
            "#[handler] takes no arguments: options such as timeouts go in `server!`",
        );
    }
    let parsed = match syn::parse2::<Item>(item)? {
        Item::Impl(item) => Some(item),
        other => {
            let (what, tokens) = describe(&other);
            errors.at(
                tokens,
                format!(
                    "#[handler] goes on an `impl` block holding `handle` (and optionally `setup` and `finish`), not on {what}"
                ),
            );
            None
        }
    };
    errors.finish(())?;
    Ok(Parsed {
        item: parsed.expect("an impl block when there is no error"),
    })
}

/// What kind of item the attribute was put on, and the tokens to point at (its keyword and
/// name).
fn describe(item: &Item) -> (String, TokenStream) {
    match item {
        Item::Struct(s) => (
            format!(
                "a struct: write `impl {} {{ fn handle(...) }}` below it and mark that",
                s.ident
            ),
            keyword_and_name(s.struct_token, &s.ident),
        ),
        Item::Enum(e) => (
            format!(
                "an enum: write `impl {} {{ fn handle(...) }}` below it and mark that",
                e.ident
            ),
            keyword_and_name(e.enum_token, &e.ident),
        ),
        Item::Fn(f) => (
            format!(
                "a function: move `fn {}` into an `impl` block and mark the block",
                f.sig.ident
            ),
            keyword_and_name(f.sig.fn_token, &f.sig.ident),
        ),
        Item::Trait(t) => (
            "a trait definition: mark an `impl` block of the handler type instead (`impl Name { fn handle(...) }`)".into(),
            keyword_and_name(t.trait_token, &t.ident),
        ),
        other => (
            "this item: mark an `impl` block of the handler type instead (`impl Name { fn handle(...) }`)".into(),
            other.to_token_stream(),
        ),
    }
}

/// An item's keyword and name, to point at.
fn keyword_and_name(keyword: impl ToTokens, name: impl ToTokens) -> TokenStream {
    quote!(#keyword #name)
}
