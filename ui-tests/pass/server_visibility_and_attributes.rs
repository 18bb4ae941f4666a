//! Visibility, doc comments and attributes on the declared struct; handlers and servers in
//! other modules, reached by path.
#![deny(missing_docs, warnings)]
//! (The crate denies `missing_docs`: the generated public methods are documented.)

mod handlers {
    use socketserver::prelude::*;

    /// A handler in another module.
    #[derive(Default)]
    pub struct Echo;

    #[handler]
    impl Echo {
        /// Echoes nothing.
        pub fn handle(&mut self, _req: &mut StreamRequest) {}
    }
}

/// Servers of every visibility.
pub mod servers {
    use socketserver::prelude::*;

    server! {
        /// A public server, documented.
        #[allow(dead_code)]
        pub struct PublicServer {
            transport: Tcp,
            handler: crate::handlers::Echo,
        }
    }

    server! {
        /// Visible in the crate only.
        #[must_use]
        pub(crate) struct CrateServer {
            transport: Tcp,
            mixin: Threading,
            handler: super::handlers::Echo,
        }
    }

    server! {
        #[doc = "Visible in the parent module."]
        pub(super) struct ParentServer {
            transport: UnixStream,
            handler: crate::handlers::Echo,
        }
    }

    server! {
        // Private, never used: `#[allow(dead_code)]` keeps it quiet.
        #[allow(dead_code)]
        struct PrivateServer {
            transport: Tcp,
            handler: crate::handlers::Echo,
        }
    }

    server! {
        /// Compiled on unix only (here: always), impls included.
        #[cfg(unix)]
        pub struct UnixOnly {
            transport: UnixStream,
            handler: crate::handlers::Echo,
        }
    }

    server! {
        /// Compiled out entirely, impls included.
        #[cfg(any())]
        pub struct Never {
            transport: Tcp,
            handler: crate::handlers::Echo,
        }
    }
}

use servers::{CrateServer, ParentServer, PublicServer};

fn main() -> std::io::Result<()> {
    let public = PublicServer::bind("127.0.0.1:0")?;
    let debug = format!("{public:?}");
    assert!(!debug.is_empty());
    let crate_only = CrateServer::bind("127.0.0.1:0")?;
    crate_only.close();
    let _ = ParentServer::bind("/nonexistent/socketserver-ui.sock");
    let _ = servers::UnixOnly::config();
    public.close();
    Ok(())
}
