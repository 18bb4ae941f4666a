//! Checking a `server!` declaration: every key known and set once, transport and mixin by
//! name, each option's value of the right type and range and applicable to the chosen
//! transport and mixin. Independent mistakes are all reported.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, Expr, Ident, Lit, Type, Visibility};

use super::options::{all_keys, OptionSpec, TransportSpec, ValueType, MIXINS, OPTIONS, TRANSPORTS};
use super::parse::{Declaration, Entry};
use crate::errors::Errors;
use crate::fuzzy;

/// A server declaration, checked.
pub struct Server<'a> {
    pub attrs: &'a [Attribute],
    pub vis: &'a Visibility,
    pub ident: &'a Ident,
    pub transport: Ident,
    pub mixin: Ident,
    pub handler: Type,
    pub hooks: Option<Type>,
    pub options: Vec<(&'static OptionSpec, &'a Ident, Value)>,
}

/// An option's checked value.
pub enum Value {
    Bool(bool),
    Int(u64),
    Nanos(u64),
}

/// Checks `decl`. Returns the server to declare and the errors found, if any; where a part is
/// missing or wrong the server has a stand-in (`Tcp`, `Sync`, a no-op handler), so that the
/// declaration still expands and only the real mistakes are reported.
pub fn validate(decl: &Declaration) -> (Server<'_>, Option<syn::Error>) {
    let mut errors = Errors::default();
    let mut seen: Vec<&Ident> = Vec::new();
    for entry in &decl.entries {
        if let Some(first) = seen.iter().find(|k| **k == &entry.key) {
            let mut error = syn::Error::new(
                entry.key.span(),
                format!("`{}` is set twice: keep one", entry.key),
            );
            error.combine(syn::Error::new(
                first.span(),
                format!("`{}` first set here", entry.key),
            ));
            errors.push(error);
        } else {
            seen.push(&entry.key);
        }
    }
    let find = |key: &str| decl.entries.iter().find(|e| e.key == key);

    let transport = find("transport").and_then(|e| {
        named(
            e,
            "transport",
            &TRANSPORTS.iter().map(|t| t.name).collect::<Vec<_>>(),
            &mut errors,
        )
    });
    let mixin = match find("mixin") {
        Some(e) => named(e, "mixin", MIXINS, &mut errors),
        None => Some(Ident::new("Sync", decl.ident.span())),
    };
    if find("transport").is_none() {
        errors.at(
            &decl.ident,
            "missing `transport: ...` (one of `Tcp`, `Udp`, `UnixStream`, `UnixDatagram`)",
        );
    }
    let handler = match find("handler") {
        Some(e) => parse_type(e, &mut errors),
        None => {
            errors.at(
                &decl.ident,
                "missing `handler: YourHandler` (a type with a `#[handler]` impl)",
            );
            None
        }
    };
    let hooks = find("hooks").and_then(|e| parse_type(e, &mut errors));

    let transport_spec = transport
        .as_ref()
        .and_then(|t| TRANSPORTS.iter().find(|s| t == s.name));
    let mut options = Vec::new();
    for entry in &decl.entries {
        let key = entry.key.to_string();
        if super::options::STRUCTURE_KEYS.contains(&key.as_str()) {
            continue;
        }
        let Some(spec) = OPTIONS.iter().find(|o| o.name == key) else {
            errors.at(&entry.key, unknown_key_message(&key));
            continue;
        };
        if let (Some(t), Some(m)) = (transport_spec, &mixin) {
            check_applies(spec, entry, t, &m.to_string(), &mut errors);
        }
        if let Some(value) = parse_value(spec, entry, &mut errors) {
            options.push((spec, &entry.key, value));
        }
    }
    let server = Server {
        attrs: &decl.attrs,
        vis: &decl.vis,
        ident: &decl.ident,
        transport: transport.unwrap_or_else(|| Ident::new("Tcp", decl.ident.span())),
        mixin: mixin.unwrap_or_else(|| Ident::new("Sync", decl.ident.span())),
        handler: handler.unwrap_or_else(|| syn::parse_quote!(::socketserver::__private::NoHandler)),
        hooks,
        options,
    };
    (server, errors.finish(()).err())
}

fn unknown_key_message(key: &str) -> String {
    let keys = all_keys();
    match fuzzy::nearest(key, &keys) {
        Some(near) => format!("unknown option `{key}`: did you mean `{near}`?"),
        None => format!(
            "unknown option `{key}`; expected one of: {}",
            keys.join(", ")
        ),
    }
}

/// The value of `transport` or `mixin`: one of `names`.
fn named(entry: &Entry, what: &str, names: &[&str], errors: &mut Errors) -> Option<Ident> {
    let ident = syn::parse2::<Ident>(entry.value.clone()).ok();
    match ident {
        Some(ident) if names.contains(&ident.to_string().as_str()) => Some(ident),
        _ => {
            let written = entry.value.to_string();
            let list = names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let hint = match fuzzy::nearest(&written, names) {
                Some(near) => format!(": did you mean `{near}`?"),
                None => String::new(),
            };
            errors.at(
                &entry.value,
                format!("unknown {what} `{written}`{hint} (the {what}s are {list})"),
            );
            None
        }
    }
}

fn parse_type(entry: &Entry, errors: &mut Errors) -> Option<Type> {
    match syn::parse2::<Type>(entry.value.clone()) {
        Ok(ty) => Some(ty),
        Err(_) => {
            errors.at(
                &entry.value,
                format!("`{}` takes a type, found `{}`", entry.key, entry.value),
            );
            None
        }
    }
}

fn check_applies(
    spec: &OptionSpec,
    entry: &Entry,
    transport: &TransportSpec,
    mixin: &str,
    errors: &mut Errors,
) {
    if !spec.applies.allows(transport, mixin) {
        errors.at(
            &entry.key,
            format!(
                "`{}` applies to {}, and this server uses `{}` with `{}`: remove it",
                spec.name,
                spec.applies.describe(),
                transport.name,
                mixin
            ),
        );
    }
}

/// The literal an option is set to, checked against its type and range.
fn parse_value(spec: &OptionSpec, entry: &Entry, errors: &mut Errors) -> Option<Value> {
    let name = spec.name;
    let lit = match syn::parse2::<Expr>(entry.value.clone()) {
        Ok(Expr::Lit(lit)) => Some(lit.lit),
        _ => None,
    };
    let found = entry.value.to_token_stream();
    match (spec.ty, lit) {
        (ValueType::Bool, Some(Lit::Bool(b))) => Some(Value::Bool(b.value)),
        (ValueType::Bool, _) => {
            errors.at(
                &entry.value,
                format!("`{name}` takes `true` or `false`, found `{found}`"),
            );
            None
        }
        (ValueType::Int { min, max }, Some(Lit::Int(int))) => match int.base10_parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Some(Value::Int(n)),
            _ => {
                errors.at(
                    &entry.value,
                    format!("`{name}` must be from {min} to {max}, found `{found}`"),
                );
                None
            }
        },
        (ValueType::Int { .. }, _) => {
            errors.at(
                &entry.value,
                format!("`{name}` takes a whole number, found `{found}`"),
            );
            None
        }
        (ValueType::Seconds, Some(lit @ (Lit::Int(_) | Lit::Float(_)))) => {
            seconds(&lit).or_else(|| {
                errors.at(
                    &entry.value,
                    format!(
                        "`{name}` must be more than 0 seconds (at most a year), found `{found}`"
                    ),
                );
                None
            })
        }
        (ValueType::Seconds, _) => {
            errors.at(
                &entry.value,
                format!("`{name}` takes seconds as a number (`5`, `0.25`), found `{found}`"),
            );
            None
        }
    }
}

/// Seconds as nanoseconds, for a positive literal up to a year.
fn seconds(lit: &Lit) -> Option<Value> {
    let secs: f64 = match lit {
        Lit::Int(i) => i.base10_parse::<u64>().ok()? as f64,
        Lit::Float(f) => f.base10_parse::<f64>().ok()?,
        _ => return None,
    };
    let nanos = (secs * 1e9).round();
    (secs > 0.0 && nanos >= 1.0 && secs <= 365.0 * 24.0 * 3600.0)
        .then_some(Value::Nanos(nanos as u64))
}

impl Server<'_> {
    /// The value tokens of `hooks`, or the runtime's default hooks.
    pub fn hooks_type(&self, private: &TokenStream) -> TokenStream {
        match &self.hooks {
            Some(ty) => ty.to_token_stream(),
            None => quote::quote!(#private::DefaultHooks),
        }
    }
}
