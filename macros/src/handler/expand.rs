//! Writing the `RequestHandler` impls for a validated `#[handler]` block.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{ImplItem, ItemImpl};

use super::parse::Parsed;
use super::validate::{is_helper, Handler, Kind, HELPER_ATTR};
use crate::paths::private;

/// The user's block (minus `#[helper]` markers) and one `RequestHandler` impl per request
/// kind it serves.
pub fn expand(parsed: &Parsed, handler: &Handler) -> TokenStream {
    let item = strip_helper_attrs(&parsed.item);
    let kinds = match handler.kind {
        Some(kind) => vec![kind],
        None => vec![Kind::Stream, Kind::Datagram],
    };
    let impls = kinds.into_iter().map(|kind| {
        let methods = handler.hooks.iter().map(|hook| {
            let private = private();
            let self_ty = &parsed.item.self_ty;
            let ident = &hook.ident;
            let call = if hook.takes_request {
                quote!(<#self_ty>::#ident(self, request))
            } else {
                quote!({
                    let _ = request;
                    <#self_ty>::#ident(self)
                })
            };
            let converted = quote_spanned! {hook.output_span=>
                #private::IntoHandlerResult::into_handler_result(#call)
            };
            let request_ty = request_type(kind);
            quote! {
                fn #ident(&mut self, request: &mut #request_ty) -> #private::HandlerResult {
                    #converted
                }
            }
        });
        trait_impl(&parsed.item, kind, quote!(#(#methods)*))
    });
    quote! {
        #item
        #(#impls)*
    }
}

/// What stands in when validation failed: the user's block and stub impls for both request
/// kinds, so that the server using the handler reports nothing more.
pub fn fallback(parsed: &Parsed) -> TokenStream {
    let item = strip_helper_attrs(&parsed.item);
    let private = private();
    let impls = [Kind::Stream, Kind::Datagram].map(|kind| {
        let request_ty = request_type(kind);
        trait_impl(
            &parsed.item,
            kind,
            quote! {
                fn handle(&mut self, _: &mut #request_ty) -> #private::HandlerResult {
                    ::core::unreachable!("#[handler] reported an error at compile time")
                }
            },
        )
    });
    quote! {
        #item
        #(#impls)*
    }
}

fn request_type(kind: Kind) -> TokenStream {
    let private = private();
    match kind {
        Kind::Stream => quote!(#private::StreamRequest),
        Kind::Datagram => quote!(#private::DatagramRequest),
    }
}

/// `impl RequestHandler<Request> for SelfTy`, with the block's generics; `Self: Send +
/// 'static` is required here so that a generic handler checks it where it is used.
fn trait_impl(item: &ItemImpl, kind: Kind, body: TokenStream) -> TokenStream {
    let private = private();
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let predicates = where_clause.map(|w| &w.predicates);
    let request_ty = request_type(kind);
    quote! {
        impl #impl_generics #private::RequestHandler<#request_ty> for #self_ty
        where
            Self: ::core::marker::Send + 'static,
            #predicates
        {
            #body
        }
    }
}

/// The block as written, without the `#[helper]` markers (which only this macro reads).
fn strip_helper_attrs(item: &ItemImpl) -> ItemImpl {
    let mut item = item.clone();
    for member in &mut item.items {
        if let ImplItem::Fn(method) = member {
            if is_helper(method) {
                method.attrs.retain(|a| !a.path().is_ident(HELPER_ATTR));
            }
        }
    }
    item
}
