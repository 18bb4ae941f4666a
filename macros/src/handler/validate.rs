//! Checking the hook methods of a `#[handler]` impl: names, receivers, request parameter,
//! return type, and one request kind for the whole block.

use quote::quote;
use syn::{FnArg, ImplItem, ImplItemFn, PathArguments, ReturnType, Type};

use super::parse::Parsed;
use crate::display::tidy;
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
    /// The return type as written, if any: its conversion into the runtime's result is
    /// checked at it.
    pub output: Option<Type>,
}

/// A validated handler: its hooks and the request kind, if any method names one (a handler
/// whose methods never look at the request serves both kinds).
pub struct Handler {
    pub hooks: Vec<Hook>,
    pub kind: Option<Kind>,
}

pub fn validate(parsed: &Parsed) -> syn::Result<Handler> {
    let item = &parsed.item;
    let self_ty = &item.self_ty;
    if let Some((_, path, for_token)) = &item.trait_ {
        // The methods of a trait impl are the trait's: checking them as hooks would only add
        // messages about the same mistake.
        let impl_token = &item.impl_token;
        return Err(syn::Error::new_spanned(
            quote!(#impl_token #path #for_token #self_ty),
            format!(
                "#[handler] goes on an inherent `impl` block, not on an impl of `{}`: write `impl {} {{ fn handle(...) }}` and mark that",
                tidy(path),
                tidy(self_ty),
            ),
        ));
    }
    let mut errors = Errors::default();
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
        let (hook, request) = check_hook(method, &mut errors);
        if let Some((request_kind, ty)) = request {
            match &kind {
                Some((first, first_method)) if *first != request_kind => errors.at(
                    ty,
                    format!(
                        "`{name}` takes `&mut {}` but `{first_method}` takes `&mut {}`: a handler serves one kind of request, so every method takes the same request type (a stream handler and a datagram handler are two types)",
                        request_kind.type_name(),
                        first.type_name()
                    ),
                ),
                Some(_) => {}
                None => kind = Some((request_kind, name.clone())),
            }
        }
        hooks.push(hook);
    }
    if !hooks.iter().any(|h| h.ident == "handle") && !handle_misspelt {
        let wanted = match &kind {
            Some((k, _)) => format!("`fn handle(&mut self, req: &mut {})`", k.type_name()),
            None => "`fn handle(&mut self, req: &mut StreamRequest)` (or `&mut DatagramRequest` for datagram servers)".into(),
        };
        errors.at(
            self_ty,
            format!("a #[handler] impl needs {wanted}: the server calls it for every request"),
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
        errors.at(
            &sig.generics,
            format!("`{name}` cannot have generic parameters: the server calls it with the request only; remove them"),
        );
    }
    let params: Vec<&syn::PatType> = sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(param) => Some(param),
            FnArg::Receiver(_) => None,
        })
        .collect();
    match sig.receiver() {
        None => {
            let params: String = params.iter().map(|p| format!(", {}", tidy(p))).collect();
            errors.at(
                name,
                format!("`{name}` needs a `&mut self` receiver: write `fn {name}(&mut self{params})`"),
            );
        }
        Some(receiver) if !borrows_self(receiver) => errors.at(
            receiver,
            format!("`{name}` must borrow the handler, not take it by value: write `&mut self` (setup, handle and finish all run on the same handler)"),
        ),
        Some(_) => {}
    }
    let mut kind = None;
    if let Some(param) = params.first() {
        match request_kind(&param.ty) {
            Some(k) => kind = Some((k, &*param.ty)),
            None => errors.at(&param.ty, request_type_message(name, &param.ty)),
        }
    }
    for extra in params.iter().skip(1) {
        errors.at(
            extra,
            format!("`{name}` takes one parameter besides `self`, the request: remove this one (per-server settings go in the handler's fields, see `bind_with_handler`)"),
        );
    }
    check_return(&sig.output, name, errors);
    let output = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some((**ty).clone()),
    };
    let hook = Hook {
        ident: name.clone(),
        takes_request: !params.is_empty(),
        output,
    };
    (hook, kind)
}

/// `&self`, `&mut self`, `self: &Self` and `self: &mut Self` borrow the handler.
fn borrows_self(receiver: &syn::Receiver) -> bool {
    if receiver.colon_token.is_none() {
        return receiver.reference.is_some();
    }
    matches!(&*receiver.ty, Type::Reference(r) if matches!(&*r.elem, Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self")))
}

/// The request kind of a parameter typed `&mut StreamRequest` / `&DatagramRequest` (any path
/// ending in those names).
fn request_kind(ty: &Type) -> Option<Kind> {
    let Type::Reference(reference) = ty else {
        return None;
    };
    request_path_kind(&reference.elem)
}

/// The request kind a path type names (`StreamRequest`, `socketserver::DatagramRequest`).
fn request_path_kind(ty: &Type) -> Option<Kind> {
    let Type::Path(path) = ty else {
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

fn request_type_message(name: &syn::Ident, ty: &Type) -> String {
    match request_path_kind(ty) {
        Some(kind) => format!(
            "`{name}` must borrow the request, not take it by value: write `&mut {}`",
            kind.type_name()
        ),
        None => format!(
            "`{name}` takes the request as `&mut StreamRequest` (TCP, unix stream) or `&mut DatagramRequest` (UDP, unix datagram), found `{}`",
            tidy(ty)
        ),
    }
}

/// Accepts `()`, and result types (`io::Result<()>`, `Result<(), E>`, `HandlerResult`, any
/// path ending in `Result`) whose success type is `()`; the conversion of the error is
/// checked by the compiler at the return type.
fn check_return(output: &ReturnType, name: &syn::Ident, errors: &mut Errors) {
    let ReturnType::Type(_, ty) = output else {
        return;
    };
    let is_unit = |ty: &Type| matches!(ty, Type::Tuple(t) if t.elems.is_empty());
    if is_unit(ty) {
        return;
    }
    if let Type::Path(p) = &**ty {
        if let Some(last) = p.path.segments.last() {
            if last.ident.to_string().ends_with("Result") {
                match &last.arguments {
                    PathArguments::None => return,
                    PathArguments::AngleBracketed(args) => match args.args.first() {
                        Some(syn::GenericArgument::Type(ok)) if is_unit(ok) => return,
                        Some(syn::GenericArgument::Type(_)) => {
                            let mut fixed = p.clone();
                            if let Some(PathArguments::AngleBracketed(args)) =
                                fixed.path.segments.last_mut().map(|s| &mut s.arguments)
                            {
                                args.args[0] = syn::parse_quote!(());
                            }
                            errors.at(
                                ty,
                                format!(
                                    "`{name}` cannot return a value on success, the server has no use for it: write `{}` instead of `{}`",
                                    tidy(&fixed),
                                    tidy(ty)
                                ),
                            );
                            return;
                        }
                        _ => {}
                    },
                    PathArguments::Parenthesized(_) => {}
                }
            }
        }
    }
    errors.at(
        ty,
        format!("`{name}` must return `()`, `io::Result<()>` or `Result<(), E>` (with `E` convertible into `Box<dyn Error + Send + Sync>`), found `{}`", tidy(ty)),
    );
}
