//! Checking the hook methods of a `#[handler]` impl: names, receivers, request parameter,
//! return type, and one request kind for the whole block.

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{FnArg, ImplItem, ImplItemFn, ReturnType, Type};

use super::parse::Parsed;
use crate::errors::Errors;
use crate::fuzzy;

/// The hook methods the runtime calls, in the order it calls them.
pub const HOOKS: [&str; 3] = ["setup", "handle", "finish"];

/// The attribute that keeps a method whose name is close to a hook's as an ordinary method.
pub const HELPER_ATTR: &str = "helper";

/// Which request a handler serves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stream,
    Datagram,
}

impl Kind {
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Stream => "StreamRequest",
            Kind::Datagram => "DatagramRequest",
        }
    }
}

/// One hook method, as the expansion needs it.
pub struct Hook {
    pub ident: syn::Ident,
    pub takes_request: bool,
    /// Where a wrong return type is reported.
    pub output_span: Span,
}

/// A validated handler: its hooks and the request kind, if any method names one (a handler
/// whose methods never look at the request serves both kinds).
pub struct Handler {
    pub hooks: Vec<Hook>,
    pub kind: Option<Kind>,
}

pub fn validate(parsed: &Parsed) -> syn::Result<Handler> {
    let item = &parsed.item;
    let mut errors = Errors::default();
    if let Some((_, path, for_token)) = &item.trait_ {
        errors.at(
            quote::quote!(#path #for_token),
            "#[handler] goes on an inherent `impl` block (`impl Name { fn handle(...) }`), not on a trait impl",
        );
    }
    let mut hooks = Vec::new();
    let mut kind: Option<(Kind, String)> = None;
    let mut handle_misspelt = false;
    for method in item.items.iter().filter_map(|i| match i {
        ImplItem::Fn(f) => Some(f),
        _ => None,
    }) {
        let name = method.sig.ident.to_string();
        if !HOOKS.contains(&name.as_str()) {
            if is_helper(method) {
                continue;
            }
            if let Some(hook) = fuzzy::nearest(&name, &HOOKS) {
                handle_misspelt |= hook == "handle";
                errors.at(
                    &method.sig.ident,
                    format!(
                        "`{name}` is not a handler method, so the server would never call it: did you mean `{hook}`? (to keep it as an ordinary method, mark it `#[{HELPER_ATTR}]`)"
                    ),
                );
            }
            continue;
        }
        let hook = check_hook(method, &mut errors);
        if let Some((request_kind, ty)) = hook.1 {
            match &kind {
                Some((first, first_method)) if *first != request_kind => errors.at(
                    ty,
                    format!(
                        "`{name}` takes `{}` but `{first_method}` takes `{}`: a handler serves one kind of request",
                        request_kind.type_name(),
                        first.type_name()
                    ),
                ),
                Some(_) => {}
                None => kind = Some((request_kind, name.clone())),
            }
        }
        hooks.push(hook.0);
    }
    if !hooks.iter().any(|h| h.ident == "handle") && !handle_misspelt {
        errors.at(
            &item.self_ty,
            "a #[handler] impl needs `fn handle(&mut self, req: &mut StreamRequest)` (or `&mut DatagramRequest` for datagram servers)",
        );
    }
    errors.finish(Handler {
        hooks,
        kind: kind.map(|(k, _)| k),
    })
}

/// True for a method marked `#[helper]`.
pub fn is_helper(method: &ImplItemFn) -> bool {
    method.attrs.iter().any(|a| a.path().is_ident(HELPER_ATTR))
}

/// Checks one hook's signature; returns it and the request kind its parameter names.
fn check_hook<'a>(method: &'a ImplItemFn, errors: &mut Errors) -> (Hook, Option<(Kind, &'a Type)>) {
    let sig = &method.sig;
    let name = &sig.ident;
    if let Some(asyncness) = &sig.asyncness {
        errors.at(
            asyncness,
            format!("`{name}` cannot be `async`: handlers run on blocking threads; remove `async` and use blocking I/O"),
        );
    }
    if !sig.generics.params.is_empty() {
        errors.at(&sig.generics, format!("`{name}` cannot have generic parameters: the server calls it with the request only"));
    }
    match sig.receiver() {
        None => errors.at(
            name,
            format!("`{name}` needs a `&mut self` receiver: write `fn {name}(&mut self, req: &mut StreamRequest)`"),
        ),
        Some(receiver) if receiver.reference.is_none() || receiver.colon_token.is_some() => errors.at(
            receiver,
            format!("`{name}` must borrow the handler, not take it by value: write `&mut self` (setup, handle and finish all run on the same handler)"),
        ),
        Some(_) => {}
    }
    let params: Vec<&FnArg> = sig
        .inputs
        .iter()
        .filter(|a| matches!(a, FnArg::Typed(_)))
        .collect();
    let mut kind = None;
    if let Some(FnArg::Typed(param)) = params.first() {
        match request_kind(&param.ty) {
            Some(k) => kind = Some((k, &*param.ty)),
            None => errors.at(
                &param.ty,
                format!("`{name}` takes the request as `&mut StreamRequest` (TCP, unix stream) or `&mut DatagramRequest` (UDP, unix datagram), found `{}`", param.ty.to_token_stream()),
            ),
        }
    }
    for extra in params.iter().skip(1) {
        errors.at(
            extra,
            format!("`{name}` takes one parameter besides `self`: the request; remove this one"),
        );
    }
    check_return(&sig.output, name, errors);
    let output_span = match &sig.output {
        ReturnType::Default => name.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    let hook = Hook {
        ident: name.clone(),
        takes_request: !params.is_empty(),
        output_span,
    };
    (hook, kind)
}

/// The request kind of a parameter typed `&mut StreamRequest` / `&DatagramRequest` (any path
/// ending in those names).
fn request_kind(ty: &Type) -> Option<Kind> {
    let Type::Reference(reference) = ty else {
        return None;
    };
    let Type::Path(path) = &*reference.elem else {
        return None;
    };
    let last = path.path.segments.last()?;
    if !last.arguments.is_none() {
        return None;
    }
    match last.ident.to_string().as_str() {
        "StreamRequest" => Some(Kind::Stream),
        "DatagramRequest" => Some(Kind::Datagram),
        _ => None,
    }
}

/// Accepts `()`, and result types (`io::Result<()>`, `Result<(), E>`, `HandlerResult`, any
/// path ending in `Result`) whose success type is `()`; the conversion of the error is
/// checked by the compiler at the return type.
fn check_return(output: &ReturnType, name: &syn::Ident, errors: &mut Errors) {
    let ReturnType::Type(_, ty) = output else {
        return;
    };
    let ok = match &**ty {
        Type::Tuple(t) => t.elems.is_empty(),
        Type::Path(p) => p.path.segments.last().is_some_and(|last| {
            last.ident.to_string().ends_with("Result")
                && match &last.arguments {
                    syn::PathArguments::AngleBracketed(args) => matches!(
                        args.args.first(),
                        Some(syn::GenericArgument::Type(Type::Tuple(t))) if t.elems.is_empty()
                    ),
                    syn::PathArguments::None => true,
                    syn::PathArguments::Parenthesized(_) => false,
                }
        }),
        _ => false,
    };
    if !ok {
        errors.at(
            ty,
            format!("`{name}` must return `()`, `io::Result<()>` or `Result<(), E>` (with `E` convertible into `Box<dyn Error + Send + Sync>`), found `{}`", ty.to_token_stream()),
        );
    }
}
