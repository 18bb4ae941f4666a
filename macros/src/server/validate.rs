//! Checking a `server!` declaration: every key known and set once, transport and mixin by
//! name, each option's value of the right type and range and applicable to the chosen
//! transport and mixin. Independent mistakes are all reported.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, Expr, Ident, Lit, Type, UnOp, Visibility};

use super::options::{
    all_keys, IntType, OptionSpec, TransportSpec, ValueType, MIXINS, OPTIONS, TRANSPORTS,
};
use super::parse::{Declaration, Entry};
use crate::display::tidy;
use crate::errors::Errors;
use crate::fuzzy;

/// A server declaration, checked.
pub struct Server<'a> {
    /// The declaration's attributes, less the standard derives it cannot have (reported).
    pub attrs: Vec<Attribute>,
    pub vis: &'a Visibility,
    pub ident: &'a Ident,
    /// The runtime's transport (`Tcp` for `Tls<Tcp>`).
    pub transport: Ident,
    /// `Tls<...>`: the constructors take the TLS configuration.
    pub tls: bool,
    /// False when `transport` is a stand-in for a missing or unknown one: the handler's kind
    /// is then not checked against it.
    pub transport_known: bool,
    pub mixin: Ident,
    pub handler: Type,
    pub hooks: Option<Type>,
    pub options: Vec<(&'static OptionSpec, &'a Ident, Value)>,
}

/// An option's checked value.
pub enum Value {
    Bool(bool),
    Int(u64, IntType),
    Nanos(u64),
    /// Trusted proxies, each checked (`"10.0.0.0/8"`, `"unix"`).
    Proxies(Vec<syn::LitStr>),
}

/// Checks `decl`. Returns the server to declare and the errors found, if any; where a part is
/// missing or wrong the server has a stand-in (`Tcp`, `Sync`, a no-op handler), so that the
/// declaration still expands and only the real mistakes are reported.
pub fn validate(decl: &Declaration) -> (Server<'_>, Option<syn::Error>) {
    let mut errors = Errors::default();
    let attrs = without_impossible_derives(&decl.attrs, &decl.ident, &mut errors);
    for error in &decl.errors {
        errors.push(error.clone());
    }
    // Each key's first line counts; a repeated one is reported, and not checked further.
    let mut seen: Vec<&Entry> = Vec::new();
    let mut repeated: Vec<usize> = Vec::new();
    for (index, entry) in decl.entries.iter().enumerate() {
        match seen.iter().find(|first| first.key == entry.key) {
            // One message, at the second: a separate one at the first would read as a second
            // mistake.
            Some(first) => {
                errors.at(
                    &entry.key,
                    format!(
                        "`{}` is set twice (first to `{}`): keep one of the two",
                        entry.key,
                        tidy(&first.value)
                    ),
                );
                repeated.push(index);
            }
            None => seen.push(entry),
        }
    }
    let find = |key: &str| decl.entries.iter().find(|e| e.key == key);

    let transport = find("transport").and_then(|e| transport_of(e, &mut errors));
    let mixin = match find("mixin") {
        Some(e) => named(e, "mixin", MIXINS, &mut errors),
        None => Some(Ident::new("Sync", decl.ident.span())),
    };
    if find("transport").is_none() {
        errors.at(
            &decl.ident,
            "missing `transport: ...` (one of `Tcp`, `Udp`, `UnixStream`, `UnixDatagram`, `Tls<Tcp>`, `Tls<UnixStream>`)",
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

    let transport_spec = transport.as_ref().map(|(spec, _)| *spec);
    let mut options = Vec::new();
    for (index, entry) in decl.entries.iter().enumerate() {
        let key = entry.key.to_string();
        if repeated.contains(&index) || super::options::STRUCTURE_KEYS.contains(&key.as_str()) {
            continue;
        }
        let Some(spec) = OPTIONS.iter().find(|o| o.name == key) else {
            errors.at(&entry.key, unknown_key_message(&key));
            continue;
        };
        let mixin_name = mixin.as_ref().map(Ident::to_string);
        check_applies(
            spec,
            entry,
            transport_spec,
            mixin_name.as_deref(),
            find("mixin").is_none(),
            &mut errors,
        );
        if let Some(value) = parse_value(spec, entry, &mut errors) {
            options.push((spec, &entry.key, value));
        }
    }
    check_needs(&options, &mut errors);
    check_workers(&options, transport_spec, &mut errors);
    check_pool_bounds(&options, &mut errors);
    let server = Server {
        attrs,
        vis: &decl.vis,
        ident: &decl.ident,
        transport_known: transport.is_some(),
        tls: transport_spec.is_some_and(|t| t.tls),
        transport: transport
            .map(|(_, ident)| ident)
            .unwrap_or_else(|| Ident::new("Tcp", decl.ident.span())),
        mixin: mixin.unwrap_or_else(|| Ident::new("Sync", decl.ident.span())),
        handler: handler.unwrap_or_else(|| {
            let private = crate::paths::private();
            syn::parse_quote!(#private::NoHandler)
        }),
        hooks,
        options,
    };
    (server, errors.finish(()).err())
}

/// The attributes, with the standard derives the struct cannot have taken out of any
/// `#[derive(...)]` and reported: the expansion implements `Debug` itself, and the runtime
/// server it wraps implements none of the others. Other derives are kept.
fn without_impossible_derives(
    attrs: &[Attribute],
    ident: &Ident,
    errors: &mut Errors,
) -> Vec<Attribute> {
    attrs
        .iter()
        .filter_map(|attr| {
            if !attr.path().is_ident("derive") {
                return Some(attr.clone());
            }
            let Ok(paths) = attr.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            ) else {
                return Some(attr.clone());
            };
            let mut kept = Vec::new();
            for path in paths {
                let name = path.segments.last().map(|s| s.ident.to_string());
                match name.as_deref().and_then(|n| impossible_derive(n, ident)) {
                    Some(message) => errors.at(&path, message),
                    None => kept.push(path),
                }
            }
            (!kept.is_empty()).then(|| syn::parse_quote!(#[derive(#(#kept),*)]))
        })
        .collect()
}

/// Why the server struct cannot derive the standard trait `name`, if it cannot.
fn impossible_derive(name: &str, ident: &Ident) -> Option<String> {
    Some(match name {
        "Debug" => format!(
            "`server!` implements `Debug` for `{ident}` already (showing the runtime server): remove `Debug` from the derive"
        ),
        "Clone" | "Copy" => format!(
            "`{ident}` cannot derive `{name}`: the server owns its socket; share it as `Arc<{ident}>`, or stop it from elsewhere with `handle()`, and remove `{name}` from the derive"
        ),
        "Default" => format!(
            "`{ident}` cannot derive `Default`: a server is made by binding it (`{ident}::bind(...)`); remove `Default` from the derive"
        ),
        "PartialEq" | "Eq" | "PartialOrd" | "Ord" | "Hash" => format!(
            "`{ident}` cannot derive `{name}`: servers are not compared or hashed (compare `server_address()` instead); remove `{name}` from the derive"
        ),
        _ => return None,
    })
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

/// The value of `transport`: a transport's name, or `Tls<...>` around a stream one; the
/// runtime's transport, named where the user wrote it.
fn transport_of(entry: &Entry, errors: &mut Errors) -> Option<(&'static TransportSpec, Ident)> {
    let names: Vec<&str> = TRANSPORTS.iter().map(|t| t.name).collect();
    let Some(inner) = tls_argument(&entry.value) else {
        let ident = named(entry, "transport", &names, errors)?;
        let spec = TRANSPORTS.iter().find(|t| ident == t.name)?;
        return Some((spec, ident));
    };
    if !cfg!(feature = "tls") {
        errors.at(
            &entry.value,
            "`Tls<...>` needs the `tls` feature of socketserver: `socketserver = { version = \"0.1\", features = [\"tls\"] }`",
        );
        return None;
    }
    let inner = Entry {
        key: entry.key.clone(),
        value: inner,
    };
    let plain: Vec<&str> = TRANSPORTS
        .iter()
        .filter(|t| !t.tls)
        .map(|t| t.name)
        .collect();
    let ident = named(&inner, "transport", &plain, errors)?;
    match TRANSPORTS.iter().find(|t| t.tls && ident == t.runtime) {
        Some(spec) => Some((spec, ident)),
        None => {
            errors.at(
                &inner.value,
                format!(
                    "TLS runs over a stream: `Tls<Tcp>` or `Tls<UnixStream>`, not `Tls<{ident}>`"
                ),
            );
            None
        }
    }
}

/// What `Tls<...>` wraps, if `value` is that.
fn tls_argument(value: &TokenStream) -> Option<TokenStream> {
    let syn::Type::Path(path) = syn::parse2::<Type>(value.clone()).ok()? else {
        return None;
    };
    let [segment] = path.path.segments.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let syn::PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    match (segment.ident == "Tls", args.args.len(), args.args.first()) {
        (true, 1, Some(syn::GenericArgument::Type(inner))) => Some(inner.to_token_stream()),
        _ => None,
    }
}

/// The value of `transport` or `mixin`: one of `names`.
fn named(entry: &Entry, what: &str, names: &[&str], errors: &mut Errors) -> Option<Ident> {
    let ident = syn::parse2::<Ident>(entry.value.clone()).ok();
    match ident {
        Some(ident) if names.contains(&ident.to_string().as_str()) => Some(ident),
        _ => {
            let written = tidy(&entry.value);
            let list = names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ");
            // A path to a known name (`socketserver::transport::Tcp`): the name alone.
            let last = syn::parse2::<syn::Path>(entry.value.clone())
                .ok()
                .and_then(|path| path.segments.last().map(|s| s.ident.to_string()))
                .filter(|last| names.contains(&last.as_str()));
            let hint = match (last, fuzzy::nearest(&written, names)) {
                (Some(name), _) => format!(": write `{name}` alone, without its path"),
                (None, Some(near)) => format!(": did you mean `{near}`?"),
                (None, None) => String::new(),
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
                format!(
                    "`{}` takes a type, found `{}`",
                    entry.key,
                    tidy(&entry.value)
                ),
            );
            None
        }
    }
}

/// Reports an option that does not apply to the server's transport or mixin. Says nothing
/// when the one it depends on is itself wrong: that has its own message.
fn check_applies(
    spec: &OptionSpec,
    entry: &Entry,
    transport: Option<&TransportSpec>,
    mixin: Option<&str>,
    mixin_defaulted: bool,
    errors: &mut Errors,
) {
    if spec.applies.allows(transport, mixin) != Some(false) {
        return;
    }
    let this = match (spec.applies.is_mixin(), transport, mixin) {
        (true, _, Some(m)) if mixin_defaulted => format!("`{m}` (the default mixin)"),
        (true, _, Some(m)) => format!("`{m}`"),
        (false, Some(t), _) => format!("`{}`", t.name),
        _ => unreachable!("`allows` said no, so what it depends on is known"),
    };
    errors.at(
        &entry.key,
        format!(
            "`{}` applies to {}, not {this}: remove it",
            spec.name,
            spec.applies.describe(),
        ),
    );
}

/// Reports `workers` on a datagram transport (its mixins are checked as any option's).
fn check_workers(
    options: &[(&'static OptionSpec, &Ident, Value)],
    transport: Option<&TransportSpec>,
    errors: &mut Errors,
) {
    let Some(transport) = transport.filter(|t| !t.stream) else {
        return;
    };
    for (spec, key, _) in options {
        if spec.name == "workers" {
            errors.at(
                key,
                format!(
                    "`workers` applies to the stream transports (`Tcp`, `UnixStream`), not `{}`: remove it",
                    transport.name
                ),
            );
        }
    }
}

/// Reports an option set without the boolean option it needs set to `true`.
fn check_needs(options: &[(&'static OptionSpec, &Ident, Value)], errors: &mut Errors) {
    for (spec, key, _) in options {
        let Some(needed) = spec.needs else { continue };
        let needed_bool = OPTIONS
            .iter()
            .any(|s| s.name == needed && matches!(s.ty, ValueType::Bool));
        let on = options
            .iter()
            .any(|(s, _, v)| s.name == needed && (!needed_bool || matches!(v, Value::Bool(true))));
        if !on {
            let set = match needed_bool {
                true => format!("`{needed}: true`"),
                false => format!("`{needed}`"),
            };
            errors.at(
                key,
                format!(
                    "`{}` means nothing without {set}: add it, or remove `{}`",
                    spec.name, spec.name
                ),
            );
        }
    }
}

/// Reports pool bounds the runtime would refuse at bind time: `pool_min` or `pool_max` with
/// `pool_size` (which fixes both), and `pool_min` above `pool_max`.
fn check_pool_bounds(options: &[(&'static OptionSpec, &Ident, Value)], errors: &mut Errors) {
    let find = |name: &str| {
        options.iter().find_map(|(spec, key, value)| match value {
            Value::Int(n, _) if spec.name == name => Some((*key, *n)),
            _ => None,
        })
    };
    let (min, max) = (find("pool_min"), find("pool_max"));
    if let Some((_, size)) = find("pool_size") {
        for (key, _) in min.iter().chain(&max) {
            errors.at(
                key,
                format!(
                    "`{key}` cannot be set with `pool_size`, which fixes the pool at {size} workers: remove one of the two"
                ),
            );
        }
    } else if let (Some((key, min)), Some((_, max))) = (min, max) {
        if min > max {
            errors.at(
                key,
                format!("`pool_min` ({min}) is more than `pool_max` ({max}): lower it, or raise `pool_max`"),
            );
        }
    }
}

/// Checks a trusted proxy as the runtime parses it: a network with its prefix length, an
/// address, or `unix`.
fn trusted_proxy(text: &str) -> Result<(), String> {
    if text == "unix" {
        return Ok(());
    }
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let bits = match address.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_ipv4() => 32,
        Ok(_) => 128,
        Err(_) => {
            return Err(format!(
                "`{text}` is not a trusted proxy: write a network (`\"10.0.0.0/8\"`, `\"::1/128\"`), an address, or `\"unix\"`"
            ))
        }
    };
    match prefix {
        Some(p)
            if !p.bytes().all(|b| b.is_ascii_digit())
                || p.parse().map_or(true, |p: u8| p > bits) =>
        {
            Err(format!(
                "`{text}`: the prefix length must be a number from 0 to {bits}"
            ))
        }
        _ => Ok(()),
    }
}

/// The trusted proxies of `trusted_proxies = ["10.0.0.0/8", "unix"]`, each checked.
fn proxies(value: &TokenStream, errors: &mut Errors) -> Option<Value> {
    let shape = "`trusted_proxies` takes a list of strings, as `[\"10.0.0.0/8\", \"unix\"]`";
    let Ok(Expr::Array(array)) = syn::parse2::<Expr>(value.clone()) else {
        errors.at(value, format!("{shape}, found `{}`", tidy(value)));
        return None;
    };
    let mut list = Vec::new();
    let mut ok = true;
    for element in &array.elems {
        match element {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) => match trusted_proxy(&s.value()) {
                Ok(()) => list.push(s.clone()),
                Err(message) => {
                    errors.at(s, message);
                    ok = false;
                }
            },
            other => {
                errors.at(
                    other,
                    format!("{shape}, found `{}`", tidy(other.to_token_stream())),
                );
                ok = false;
            }
        }
    }
    if list.is_empty() && ok {
        errors.at(
            value,
            "`trusted_proxies` is empty: list the proxies, or remove it to accept a header from every peer",
        );
        ok = false;
    }
    ok.then_some(Value::Proxies(list))
}

/// A literal option value as written: `true`, `5`, `0.25`, or a negated number.
enum Literal {
    Lit(Lit),
    Negative,
    Other,
}

fn literal(value: &TokenStream) -> Literal {
    match syn::parse2::<Expr>(value.clone()) {
        Ok(Expr::Lit(lit)) => Literal::Lit(lit.lit),
        Ok(Expr::Unary(unary))
            if matches!(unary.op, UnOp::Neg(_))
                && matches!(&*unary.expr, Expr::Lit(l) if matches!(l.lit, Lit::Int(_) | Lit::Float(_))) =>
        {
            Literal::Negative
        }
        _ => Literal::Other,
    }
}

/// The literal an option is set to, checked against its type and range.
fn parse_value(spec: &OptionSpec, entry: &Entry, errors: &mut Errors) -> Option<Value> {
    let name = spec.name;
    let found = tidy(&entry.value);
    let mut error = |message: String| {
        errors.at(&entry.value, message);
        None
    };
    if let ValueType::Proxies = spec.ty {
        return proxies(&entry.value, errors);
    }
    match (spec.ty, literal(&entry.value)) {
        (ValueType::Bool, Literal::Lit(Lit::Bool(b))) => Some(Value::Bool(b.value)),
        (ValueType::Bool, _) => error(format!("`{name}` takes `true` or `false`, found `{found}`")),
        (ValueType::Int { min, max, ty }, Literal::Lit(Lit::Int(int))) => {
            match int.base10_parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Some(Value::Int(n, ty)),
                _ => error(format!(
                    "`{name}` must be from {min} to {max}, found `{found}`"
                )),
            }
        }
        (ValueType::Int { min, max, .. }, Literal::Negative) => error(format!(
            "`{name}` must be from {min} to {max}, found `{found}`"
        )),
        (ValueType::Int { .. }, _) => {
            error(format!("`{name}` takes a whole number, found `{found}`"))
        }
        (ValueType::Seconds, Literal::Lit(lit @ (Lit::Int(_) | Lit::Float(_)))) => {
            match seconds(&lit) {
                Some(value) => Some(value),
                None => error(seconds_range_message(name, &found)),
            }
        }
        (ValueType::Seconds, Literal::Negative) => error(seconds_range_message(name, &found)),
        (ValueType::Seconds, _) => error(format!(
            "`{name}` takes seconds as a number (`5`, `0.25`), found `{found}`"
        )),
        (ValueType::Proxies, _) => unreachable!("checked above"),
    }
}

fn seconds_range_message(name: &str, found: &str) -> String {
    format!(
        "`{name}` must be more than 0 seconds and at most a year, found `{found}` (to wait without a limit, leave `{name}` out)"
    )
}

/// The longest `Seconds` value: a year.
const MAX_SECONDS: u64 = 365 * 24 * 3600;

/// Seconds as nanoseconds, for a positive literal up to a year (whole seconds exactly).
fn seconds(lit: &Lit) -> Option<Value> {
    let nanos = match lit {
        Lit::Int(i) => {
            let secs = i.base10_parse::<u64>().ok()?;
            (1..=MAX_SECONDS)
                .contains(&secs)
                .then(|| secs * 1_000_000_000)?
        }
        Lit::Float(f) => {
            let secs = f.base10_parse::<f64>().ok()?;
            let nanos = (secs * 1e9).round();
            (secs > 0.0 && nanos >= 1.0 && secs <= MAX_SECONDS as f64).then_some(nanos as u64)?
        }
        _ => return None,
    };
    Some(Value::Nanos(nanos))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn nanos(lit: &str) -> Option<u64> {
        match seconds(&syn::parse_str::<Lit>(lit).unwrap()) {
            Some(Value::Nanos(n)) => Some(n),
            _ => None,
        }
    }

    #[test]
    fn converts_seconds_exactly_within_range() {
        assert_eq!(nanos("5"), Some(5_000_000_000));
        assert_eq!(nanos("0.25"), Some(250_000_000));
        assert_eq!(nanos("1e-3"), Some(1_000_000));
        assert_eq!(nanos("0.000000001"), Some(1));
        assert_eq!(nanos("31536000"), Some(31_536_000_000_000_000));
        assert_eq!(nanos("0"), None);
        assert_eq!(nanos("0.0"), None);
        assert_eq!(nanos("0.0000000001"), None);
        assert_eq!(nanos("31536001"), None);
        assert_eq!(nanos("1e30"), None);
    }
}
