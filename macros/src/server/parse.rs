//! Parsing `server!`'s input: `#[attrs] vis struct Name { key: value, ... }`. Values are kept
//! as tokens; `validate` decides what each key's value must be. A malformed `key: value` line
//! is reported and skipped (or, without its `:`, still read), so that the struct is declared
//! anyway and the rest of the crate sees no second error.

use proc_macro2::{TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream};
use syn::{braced, Attribute, Ident, Token, Visibility};

/// The declaration as written.
pub struct Declaration {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub entries: Vec<Entry>,
    /// Mistakes in the `key: value` lines, reported with validation's.
    pub errors: Vec<syn::Error>,
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
        if !input.peek(Token![struct]) {
            let found = match input.cursor().token_tree() {
                Some((tt, _)) => format!(", not `{tt}`"),
                None => String::new(),
            };
            return Err(input.error(format!(
                "`server!` declares a struct{found}: write `struct Name {{ transport: ..., handler: ... }}`"
            )));
        }
        input.parse::<Token![struct]>()?;
        let ident: Ident = input.parse()?;
        let body;
        braced!(body in input);
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        while !body.is_empty() {
            entries.extend(entry(&body, &mut errors)?);
            // Whatever the line held, go on after its comma.
            skip_value(&body)?;
            if !body.is_empty() {
                body.parse::<Token![,]>()?;
            }
        }
        if !input.is_empty() {
            return Err(
                input.error("one server per `server!`: nothing may follow the struct's braces")
            );
        }
        Ok(Declaration {
            attrs,
            vis,
            ident,
            entries,
            errors,
        })
    }
}

/// One `key: value` line, up to (not including) its comma. A missing `:` is reported and the
/// value still read; a line that does not start with a name, or has no value, is reported and
/// skipped.
fn entry(input: ParseStream, errors: &mut Vec<syn::Error>) -> syn::Result<Option<Entry>> {
    let key = match input.parse::<Ident>() {
        Ok(key) => key,
        Err(_) => {
            let found = skip_value(&input.fork())?;
            errors.push(syn::Error::new(
                input.span(),
                format!(
                    "expected `name: value`, found `{}`",
                    crate::display::tidy(found)
                ),
            ));
            return Ok(None);
        }
    };
    let has_colon = input.peek(Token![:]) && !input.peek(Token![::]);
    if has_colon {
        input.parse::<Token![:]>()?;
    }
    let value = skip_value(input)?;
    if value.is_empty() {
        errors.push(syn::Error::new(
            key.span(),
            format!("`{key}` needs a value: write `{key}: ...`"),
        ));
        return Ok(None);
    }
    if !has_colon {
        errors.push(syn::Error::new(
            key.span(),
            format!(
                "missing `:` after `{key}`: write `{key}: {}`",
                crate::display::tidy(&value)
            ),
        ));
    }
    Ok(Some(Entry { key, value }))
}

/// The tokens up to the next comma outside angle brackets (`handler: Cache<K, V>` is one
/// value), consumed.
fn skip_value(input: ParseStream) -> syn::Result<TokenStream> {
    let mut value = TokenStream::new();
    let mut depth = 0usize;
    while !(input.is_empty() || depth == 0 && input.peek(Token![,])) {
        let tt: TokenTree = input.parse()?;
        if let TokenTree::Punct(p) = &tt {
            match p.as_char() {
                '<' => depth += 1,
                '>' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        value.extend([tt]);
    }
    Ok(value)
}
