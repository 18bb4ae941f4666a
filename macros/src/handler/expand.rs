//! Writing the `RequestHandler` impls for a validated `#[handler]` block.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{Generics, ImplItem, ItemImpl, Type};

use super::parse::Parsed;
use super::validate::{is_helper, Handler, Kind, HELPER_ATTR};
use crate::paths::private;
use crate::spans;

/// The user's block (minus `#[helper]` markers) and one `RequestHandler` impl per request
/// kind it serves.
pub fn expand(parsed: &Parsed, handler: &Handler) -> TokenStream {
    let item = strip_helper_attrs(&parsed.item);
    let kinds = match handler.kind {
        Some(kind) => vec![kind],
        None => vec![Kind::Stream, Kind::Datagram],
    };
    // Locals are `__`-prefixed: a parameter pattern would match a user's unit struct or const
    // of the same name instead of binding it.
    let impls = kinds.into_iter().map(|kind| {
        let methods = handler.hooks.iter().map(|hook| {
            let private = private();
            let self_ty = &parsed.item.self_ty;
            let ident = &hook.ident;
            let call = if hook.takes_request {
                quote!(<#self_ty>::#ident(self, __request))
            } else {
                quote!({
                    let _ = __request;
                    <#self_ty>::#ident(self)
                })
            };
            let converted = match &hook.output {
                // Naming the return type, with the conversion spanning it, so that an error
                // type that does not convert is reported there (an `impl Trait` cannot be
                // named: it is inferred from the call).
                Some(ty) if !mentions_impl_trait(ty) => {
                    let (start, end) = spans::first_and_last(ty);
                    let open = spans::at(quote!(<), start);
                    let trait_path = spans::at(quote!(as #private::IntoHandlerResult>::), start);
                    let into = syn::Ident::new("into_handler_result", end);
                    quote!(#open #ty #trait_path #into(#call))
                }
                _ => quote!(#private::IntoHandlerResult::into_handler_result(#call)),
            };
            let request_ty = request_type(kind);
            quote! {
                fn #ident(&mut self, __request: &mut #request_ty) -> #private::HandlerResult {
                    #converted
                }
            }
        });
        trait_impl(
            &parsed.item.self_ty,
            &parsed.item.generics,
            kind,
            quote!(#(#methods)*),
        )
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
    let stubs = stub_impls(&parsed.item.self_ty, &parsed.item.generics);
    quote! {
        #item
        #stubs
    }
}

/// Stub `RequestHandler` impls of both request kinds for `self_ty`, for an item `#[handler]`
/// rejected: a server using the type then reports nothing more.
pub fn stub_impls(self_ty: &Type, generics: &Generics) -> TokenStream {
    let private = private();
    let impls = [Kind::Stream, Kind::Datagram].map(|kind| {
        let request_ty = request_type(kind);
        trait_impl(
            self_ty,
            generics,
            kind,
            quote! {
                fn handle(&mut self, _: &mut #request_ty) -> #private::HandlerResult {
                    ::core::unreachable!("#[handler] reported an error at compile time")
                }
            },
        )
    });
    quote!(#(#impls)*)
}

fn request_type(kind: Kind) -> TokenStream {
    let private = private();
    match kind {
        Kind::Stream => quote!(#private::StreamRequest),
        Kind::Datagram => quote!(#private::DatagramRequest),
    }
}

/// `impl RequestHandler<Request> for SelfTy`, with the block's generics. The trait requires
/// `Self: Send + 'static`; the impl assumes it (`for<'__h>` keeps a false bound from being an
/// error here), so that a handler that is not `Send` is reported once, where a server uses it.
fn trait_impl(self_ty: &Type, generics: &Generics, kind: Kind, body: TokenStream) -> TokenStream {
    let private = private();
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let predicates = where_clause.map(|w| &w.predicates);
    let request_ty = request_type(kind);
    quote! {
        impl #impl_generics #private::RequestHandler<#request_ty> for #self_ty
        where
            for<'__h> Self: ::core::marker::Send + 'static,
            #predicates
        {
            #body
        }
    }
}

/// True when `ty` holds an `impl Trait`, which cannot be written in an expression.
fn mentions_impl_trait(ty: &Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            proc_macro2::TokenTree::Ident(ident) => ident == "impl",
            proc_macro2::TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(ty.to_token_stream())
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
