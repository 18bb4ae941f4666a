//! Pointing generated code at the user's tokens, so that the compiler's errors about it land
//! there and not on the whole macro call.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::ToTokens;

/// The spans of the first and last token of `tokens` (call site when empty).
pub fn first_and_last(tokens: impl ToTokens) -> (Span, Span) {
    let mut spans = tokens.into_token_stream().into_iter().map(|t| t.span());
    let first = spans.next().unwrap_or_else(Span::call_site);
    (first, spans.last().unwrap_or(first))
}

/// `tokens` with every span set to `start`, except the last top-level token's, set to `end`:
/// the compiler then reports an error about the whole as spanning `start..end`.
pub fn across(tokens: TokenStream, (start, end): (Span, Span)) -> TokenStream {
    let mut trees: Vec<TokenTree> = tokens.into_iter().map(|t| respan(t, start)).collect();
    if let Some(last) = trees.last_mut() {
        *last = respan(last.clone(), end);
    }
    trees.into_iter().collect()
}

/// `tokens` with every span set to `span`.
pub fn at(tokens: TokenStream, span: Span) -> TokenStream {
    tokens.into_iter().map(|t| respan(t, span)).collect()
}

fn respan(tree: TokenTree, span: Span) -> TokenTree {
    match tree {
        TokenTree::Group(group) => {
            let stream = group
                .stream()
                .into_iter()
                .map(|t| respan(t, span))
                .collect();
            let mut respanned = Group::new(group.delimiter(), stream);
            respanned.set_span(span);
            TokenTree::Group(respanned)
        }
        mut other => {
            other.set_span(span);
            other
        }
    }
}
