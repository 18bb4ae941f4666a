//! Writing the server struct: a newtype over the runtime's `Server` whose methods delegate
//! to it (inlined), its options baked into `config()`, and probes that report a handler of
//! the wrong kind at the handler's name and hooks that are not `Hooks` at the hooks' name.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::options::IntType;
use super::validate::{Server, Value};
use crate::paths::private;
use crate::spans;

/// The declaration. The probe that reports a handler of the wrong kind for the transport is
/// left out when the transport is a stand-in for a missing or unknown one.
pub fn expand(server: &Server) -> TokenStream {
    let private = private();
    let Server {
        attrs,
        vis,
        ident,
        transport,
        mixin,
        handler,
        ..
    } = server;
    // `#[cfg]` on the declaration applies to everything it declares.
    let cfgs: Vec<_> = attrs.iter().filter(|a| a.path().is_ident("cfg")).collect();
    // The handler and hooks types are written once, in hidden aliases, and named by alias
    // everywhere else: a type that does not resolve is then reported once.
    let written_handler = handler;
    let handler_alias = format_ident!("__{}Handler", ident);
    let handler = quote!(#handler_alias);
    let written_hooks = server.hooks_type(&private);
    let hooks_alias = format_ident!("__{}Hooks", ident);
    let hooks = quote!(#hooks_alias);
    let aliases = quote! {
        #(#cfgs)*
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        type #handler_alias = #written_handler;
        #(#cfgs)*
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        type #hooks_alias = #written_hooks;
    };
    let transport = quote!(#private::transport::#transport);
    // `mixin: Sync` (Python's plain servers) names the runtime's `Serial`, which is not
    // called `Sync` so as not to shadow `std::marker::Sync`.
    let mixin = match mixin.to_string().as_str() {
        "Sync" => quote::quote_spanned!(mixin.span()=> #private::mixin::Serial),
        _ => quote!(#private::mixin::#mixin),
    };
    let server_ty = quote!(#private::Server<#transport, #mixin, #handler, #hooks>);
    let request = quote!(<#transport as #private::Transport>::Request);
    let settings = server.options.iter().map(|(spec, key, value)| {
        let field = syn::Ident::new(spec.name, key.span());
        let value = match value {
            Value::Bool(b) => quote!(#b),
            Value::Int(n, IntType::U32) => {
                let n = u32::try_from(*n).expect("validated range");
                let lit = proc_macro2::Literal::u32_suffixed(n);
                quote!(#lit)
            }
            Value::Int(n, IntType::Usize) => {
                let n = usize::try_from(*n).expect("validated range");
                let lit = proc_macro2::Literal::usize_suffixed(n);
                quote!(#lit)
            }
            Value::Nanos(n) => {
                quote!(::core::option::Option::Some(::core::time::Duration::from_nanos(#n)))
            }
            Value::Proxies(list) => quote! {
                ::std::vec![#(
                    #private::trusted_proxy(#list)
                ),*]
            },
        };
        quote!(__config.#field = #value;)
    });
    let probe = server.transport_known.then(|| {
        let span = written_handler.span();
        let handler = format_ident!("{}", handler_alias, span = span);
        quote_spanned! {span=>
            fn __check_handler() {
                #private::assert_handler::<#handler, #request>();
            }
        }
    });
    // Hooks that are not `Hooks` are reported once, by `hooks_probe`: everything else
    // assumes the bound (`for<'__h>` keeps a false bound from being an error of its own).
    let hooks_bound = server
        .hooks
        .as_ref()
        .map(|_| quote!(for<'__h> #hooks: #private::Hooks,));
    let struct_where = hooks_bound.as_ref().map(|bound| quote!(where #bound));
    let hooks_probe = server.hooks.as_ref().map(|ty| {
        let server_ty = spans::across(server_ty.clone(), spans::first_and_last(ty));
        quote! {
            fn __check_hooks(_: #server_ty) {}
        }
    });
    // A TLS server cannot be made without its configuration: every constructor takes it.
    let (tls_param, tls_arg, tls_only_param, with_tls) = match server.tls {
        true => (
            quote!(, tls: #private::tls::TlsConfig),
            quote!(tls),
            quote!(tls: #private::tls::TlsConfig),
            quote!(.tls(tls)),
        ),
        false => (quote!(), quote!(), quote!(), quote!()),
    };
    let doc_tls = match server.tls {
        true => " With `tls`, the TLS configuration every connection is served with.",
        false => "",
    };
    let doc_bind = format!("Binds `{ident}` to `address` with its declared options. When the handler is `Clone` (and `Send + Sync`), each request gets a clone of one `Default::default()` of it, so its `Arc` fields are state shared by every request (Python's attributes of `self.server`); otherwise each request gets a fresh `Default::default()`.{doc_tls}");
    quote! {
        #aliases

        #(#attrs)*
        #vis struct #ident #struct_where {
            server: #server_ty,
        }

        #(#cfgs)*
        const _: () = {
            #probe
            #hooks_probe

            impl #ident
            where
                for<'__h> #handler: #private::RequestHandler<#request>,
                #hooks_bound
            {
                /// The options declared in `server!`, over Python's defaults.
                #vis fn config() -> #private::ServerConfig {
                    let mut __config = #private::ServerConfig::default();
                    #(#settings)*
                    __config
                }

                #[doc = #doc_bind]
                #[inline]
                #vis fn bind(
                    address: impl #private::BindAddress<#transport>
                    #tls_param
                ) -> ::std::io::Result<Self>
                where
                    for<'__h> #handler: ::core::default::Default,
                    for<'__h> #hooks: ::core::default::Default,
                {
                    Self::__by_default(#tls_arg).bind(address).map(Self::from)
                }

                /// Serves a socket the program already holds (a std listener or socket, an
                /// inherited `OwnedFd`) instead of binding one, checked to be of the
                /// transport's type and family; its handlers are made as `bind` makes them.
                #[inline]
                #vis fn from_listener(
                    socket: impl ::core::convert::Into<::std::os::fd::OwnedFd>
                    #tls_param
                ) -> ::std::io::Result<Self>
                where
                    for<'__h> #handler: ::core::default::Default,
                    for<'__h> #hooks: ::core::default::Default,
                {
                    Self::__by_default(#tls_arg).from_listener(socket).map(Self::from)
                }

                /// Serves the socket a service manager passed to this process (socket
                /// activation) if there is one, else binds to `address`; handlers made as
                /// `bind` makes them.
                #[inline]
                #vis fn activate_or_bind(
                    address: impl #private::BindAddress<#transport>
                    #tls_param
                ) -> ::std::io::Result<Self>
                where
                    for<'__h> #handler: ::core::default::Default,
                    for<'__h> #hooks: ::core::default::Default,
                {
                    Self::__by_default(#tls_arg).activate_or_bind(address).map(Self::from)
                }

                /// Serves the socket a service manager passed under `name`.
                #[inline]
                #vis fn activate(name: &str #tls_param) -> ::std::io::Result<Self>
                where
                    for<'__h> #handler: ::core::default::Default,
                    for<'__h> #hooks: ::core::default::Default,
                {
                    Self::__by_default(#tls_arg).activate(name).map(Self::from)
                }

                /// The builder `bind` and `from_listener` start from: handlers made by the
                /// handler's type (one `Default` cloned per request when it is `Clone`).
                #[doc(hidden)]
                #[inline]
                fn __by_default(#tls_only_param) -> #private::Builder<
                    #transport,
                    #mixin,
                    #handler,
                    #hooks,
                    #private::MadeBy<#handler>,
                >
                where
                    for<'__h> #handler: ::core::default::Default,
                    for<'__h> #hooks: ::core::default::Default,
                {
                    #[allow(unused_imports)]
                    use #private::{FreshDefault as _, SharedDefault as _};
                    let each_request = (&#private::HandlerSource::<#handler>::new()).each_request();
                    Self::builder(#tls_arg).handler_with(each_request)
                }

                /// Binds to `address`; each request gets a clone of `prototype`, so state shared
                /// by every request can live in its `Arc` fields.
                #[inline]
                #vis fn bind_with_handler(
                    address: impl #private::BindAddress<#transport>,
                    prototype: #handler
                    #tls_param
                ) -> ::std::io::Result<Self>
                where
                    for<'__h> #handler: ::core::clone::Clone + ::core::marker::Sync,
                    for<'__h> #hooks: ::core::default::Default,
                {
                    Self::builder(#tls_arg).handler(prototype).bind(address).map(Self::from)
                }

                /// A runtime builder preset with the declared options, for a handler prototype
                /// and hooks value together; turn its server into this type with `From`.
                #[inline]
                #vis fn builder(#tls_only_param) -> #private::Builder<#transport, #mixin, #handler, #hooks>
                where
                    for<'__h> #hooks: ::core::default::Default,
                {
                    #private::Server::builder().config(Self::config()) #with_tls
                }

                /// Serves requests until the handle's `shutdown()` (Python: `serve_forever`).
                #[inline]
                #vis fn serve_forever(&self) -> ::std::io::Result<()> {
                    self.server.serve_forever()
                }

                /// Waits up to `timeout` for one request and serves it (Python: `handle_request`).
                #[inline]
                #vis fn handle_request(&self) -> ::std::io::Result<()> {
                    self.server.handle_request()
                }

                /// A handle to shut the server down from anywhere (Python: `shutdown`).
                #[inline]
                #vis fn handle(&self) -> #private::ServerHandle {
                    self.server.handle()
                }

                /// The address the server is bound to, port 0 resolved (Python: `server_address`).
                #[inline]
                #vis fn server_address(&self) -> &#private::SocketAddress {
                    self.server.server_address()
                }

                /// The runtime server this type wraps (mixin state, hooks, config).
                #[inline]
                #vis fn server(&self) -> &#server_ty {
                    &self.server
                }

                /// Closes the server, waiting for requests in flight as declared (Python:
                /// `server_close`). Dropping it does the same.
                #[inline]
                #vis fn close(self) {
                    self.server.close()
                }

                /// Closes gracefully: requests in flight get up to `grace` to finish, then
                /// are cut; returns how many were cut.
                #[inline]
                #vis fn close_within(self, grace: ::core::time::Duration) -> usize {
                    self.server.close_within(grace)
                }

                /// Serves until SIGINT or SIGTERM, then closes gracefully within `grace` (a
                /// second signal cuts at once); SIGHUP calls the hooks' `reload`. Returns how
                /// many requests were cut.
                #[inline]
                #vis fn serve_until_signal(
                    &self,
                    grace: ::core::time::Duration,
                ) -> ::std::io::Result<usize> {
                    self.server.serve_until_signal(grace)
                }

                /// `serve_until_signal` with signals caught beforehand (see
                /// `ShutdownSignals::catch`), so none is lost before serving starts.
                #[inline]
                #vis fn serve_until(
                    &self,
                    signals: #private::ShutdownSignals,
                    grace: ::core::time::Duration,
                ) -> ::std::io::Result<usize> {
                    self.server.serve_until(signals, grace)
                }
            }

            impl ::core::convert::From<#server_ty> for #ident #struct_where {
                #[inline]
                fn from(__server: #server_ty) -> Self {
                    #ident { server: __server }
                }
            }

            impl ::core::fmt::Debug for #ident #struct_where {
                fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    ::core::fmt::Debug::fmt(&self.server, __f)
                }
            }
        };
    }
}
