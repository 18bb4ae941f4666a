//! Parsing `server!`'s input: `#[attrs] vis struct Name { key: value, ... }`. Values are kept
//! as tokens; `validate` decides what each key's value must be.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{braced, Attribute, Ident, Token, Visibility};

/// The declaration as written.
pub struct Declaration {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub entries: Vec<Entry>,
}

/// One `key: value` line.
pub struct Entry {
    pub key: Ident,
    pub value: TokenStream,
}

impl Parse for Declaration {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        input.parse::<Token![struct]>().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected `struct Name { transport: ..., mixin: ..., handler: ... }`",
            )
        })?;
        let ident: Ident = input.parse()?;
        let body;
        braced!(body in input);
        let entries = Punctuated::<Entry, Token![,]>::parse_terminated(&body)?;
        if !input.is_empty() {
            return Err(
                input.error("one server per `server!`: nothing may follow the struct's braces")
            );
        }
        Ok(Declaration {
            attrs,
            vis,
            ident,
            entries: entries.into_iter().collect(),
        })
    }
}

impl Parse for Entry {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key: Ident = input.parse()?;
        input
            .parse::<Token![:]>()
            .map_err(|e| syn::Error::new(e.span(), format!("expected `{key}: value`")))?;
        // Up to the next comma outside angle brackets (`handler: Cache<K, V>` is one value).
        let mut value = TokenStream::new();
        let mut depth = 0usize;
        while !(input.is_empty() || depth == 0 && input.peek(Token![,])) {
            let tt: proc_macro2::TokenTree = input.parse()?;
            if let proc_macro2::TokenTree::Punct(p) = &tt {
                match p.as_char() {
                    '<' => depth += 1,
                    '>' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            value.extend([tt]);
        }
        if value.is_empty() {
            return Err(syn::Error::new(
                key.span(),
                format!("`{key}` needs a value"),
            ));
        }
        Ok(Entry { key, value })
    }
}
