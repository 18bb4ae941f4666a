//! Writing the server struct: a newtype over the runtime's `Server` whose methods delegate
//! to it (inlined), its options baked into `config()`, and a probe that reports a handler of
//! the wrong kind at the handler's name.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::validate::{Server, Value};
use crate::paths::private;

/// The declaration. `check_handler` adds the probe that reports a handler of the wrong kind
/// for the transport; it is left out when the transport is a stand-in.
pub fn expand(server: &Server, check_handler: bool) -> TokenStream {
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
    let hooks = server.hooks_type(&private);
    let transport = quote!(#private::transport::#transport);
    let mixin = quote!(#private::mixin::#mixin);
    let server_ty = quote!(#private::Server<#transport, #mixin, #handler, #hooks>);
    let request = quote!(<#transport as #private::Transport>::Request);
    let settings = server.options.iter().map(|(spec, key, value)| {
        let field = syn::Ident::new(spec.name, key.span());
        let value = match value {
            Value::Bool(b) => quote!(#b),
            Value::Int(n) => {
                let lit = proc_macro2::Literal::u64_unsuffixed(*n);
                quote!(#lit as _)
            }
            Value::Nanos(n) => {
                quote!(::core::option::Option::Some(::core::time::Duration::from_nanos(#n)))
            }
        };
        quote!(config.#field = #value;)
    });
    let probe = check_handler.then(|| {
        quote_spanned! {handler.span()=>
            fn __check_handler() {
                #private::assert_handler::<#handler, #request>();
            }
        }
    });
    let doc_bind = format!("Binds `{ident}` to `address` with its declared options; each request gets `Default::default()` of the handler.");
    quote! {
        #(#attrs)*
        #vis struct #ident {
            server: #server_ty,
        }

        const _: () = {
            #probe

            impl #ident
            where
                for<'__h> #handler: #private::RequestHandler<#request>,
            {
                /// The options declared in `server!`, over Python's defaults.
                #vis fn config() -> #private::ServerConfig {
                    let mut config = #private::ServerConfig::default();
                    #(#settings)*
                    config
                }

                #[doc = #doc_bind]
                #[inline]
                #vis fn bind<A>(address: &A) -> ::std::io::Result<Self>
                where
                    A: #private::BindAddress<#transport> + ?::core::marker::Sized,
                    for<'__h> #handler: ::core::default::Default,
                    for<'__h> #hooks: ::core::default::Default,
                {
                    Self::builder().bind(address).map(Self::from)
                }

                /// Binds to `address`; each request gets a clone of `prototype`, so state shared
                /// by every request can live in its `Arc` fields.
                #[inline]
                #vis fn bind_with_handler<A>(address: &A, prototype: #handler) -> ::std::io::Result<Self>
                where
                    A: #private::BindAddress<#transport> + ?::core::marker::Sized,
                    for<'__h> #handler: ::core::clone::Clone + ::core::marker::Sync,
                    for<'__h> #hooks: ::core::default::Default,
                {
                    Self::builder().handler(prototype).bind(address).map(Self::from)
                }

                /// A runtime builder preset with the declared options, for a handler prototype
                /// and hooks value together; turn its server into this type with `From`.
                #[inline]
                #vis fn builder() -> #private::Builder<#transport, #mixin, #handler, #hooks>
                where
                    for<'__h> #hooks: ::core::default::Default,
                {
                    #private::Server::builder().config(Self::config())
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
            }

            impl ::core::convert::From<#server_ty> for #ident {
                #[inline]
                fn from(server: #server_ty) -> Self {
                    #ident { server }
                }
            }

            impl ::core::fmt::Debug for #ident {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    ::core::fmt::Debug::fmt(&self.server, f)
                }
            }
        };
    }
}
