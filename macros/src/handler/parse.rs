//! Parsing `#[handler]`'s input: no arguments, and an `impl` block.

use proc_macro2::TokenStream;
use syn::spanned::Spanned;
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
            let (what, span) = describe(&other);
            errors.push(syn::Error::new(
                span,
                format!(
                    "#[handler] goes on an `impl` block holding `handle` (and optionally `setup` and `finish`), not on {what}"
                ),
            ));
            None
        }
    };
    errors.finish(())?;
    Ok(Parsed {
        item: parsed.expect("an impl block when there is no error"),
    })
}

/// What kind of item the attribute was put on, and where to point.
fn describe(item: &Item) -> (&'static str, proc_macro2::Span) {
    match item {
        Item::Struct(s) => (
            "a struct: write `impl Name { fn handle(...) }` below it and mark that",
            s.struct_token.span,
        ),
        Item::Enum(e) => (
            "an enum: write `impl Name { fn handle(...) }` below it and mark that",
            e.enum_token.span,
        ),
        Item::Fn(f) => (
            "a function: put `fn handle` inside an `impl` block and mark the block",
            f.sig.fn_token.span,
        ),
        Item::Trait(t) => ("a trait definition", t.trait_token.span),
        other => ("this item", other.span()),
    }
}
