//! A request taken off the socket and admitted: the [`Job`] a mixin runs where it decides.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::address::SocketAddress;
use crate::admission::Admission;
use crate::hooks::Hooks;
use crate::inflight::Counter;
use crate::mixin::Job;
use crate::server::{Context, Ended};
use crate::shutdown::ServerHandle;
use crate::transport::Transport;
use crate::RequestHandler;

/// The server's state as a job holds it: lent by the serving loop to a job that runs before
/// the loop's turn ends (on the serving thread, an acceptor, in a forked child), or owned by
/// one made to run elsewhere ([`Job::into_owned`]). Lent costs nothing; counting a reference
/// writes the count, whose page a `fork` has just made copy-on-write.
enum Shared<'a, C> {
    Lent(&'a Arc<C>),
    Owned(Arc<C>),
}

impl<C> Shared<'_, C> {
    fn into_owned(self) -> Shared<'static, C> {
        match self {
            Shared::Lent(lent) => Shared::Owned(lent.clone()),
            Shared::Owned(owned) => Shared::Owned(owned),
        }
    }
}

impl<C> std::ops::Deref for Shared<'_, C> {
    type Target = C;

    fn deref(&self) -> &C {
        match self {
            Shared::Lent(lent) => lent,
            Shared::Owned(owned) => owned,
        }
    }
}

/// One request of a server with transport `T`, handler `H` and hooks `K`, ready to run; it
/// borrows the server's state for `'a` until made owned.
pub(crate) struct RequestJob<'a, T: Transport, H, K> {
    context: Shared<'a, Context<H, K>>,
    incoming: T::Incoming,
    client_address: SocketAddress,
    /// The request's handle on its server, cloned here; `None` when the mixin runs requests
    /// in child processes, where the request takes an uncounted copy (see `run_in_child`).
    server: Option<ServerHandle>,
    /// In the in-flight table from now on; `None` when the mixin runs requests in child
    /// processes, which it limits and counts itself (`Mixin::RUNS_IN_CHILDREN`).
    admission: Option<Admission>,
}

impl<'a, T, H, K> RequestJob<'a, T, H, K>
where
    T: Transport,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    /// Admits a request taken off the socket (Python: the rest of `_handle_request_noblock`):
    /// counts it, asks `verify_request`, and, when `tracked`, enters it into the in-flight
    /// table; `None` when `verify_request` turned it away.
    pub(crate) fn admit(
        context: &'a Arc<Context<H, K>>,
        incoming: T::Incoming,
        client_address: &SocketAddress,
        tracked: bool,
    ) -> Option<Self> {
        let counters = context.handle.in_flight().counters();
        counters[Counter::Accepted].fetch_add(1, Ordering::Relaxed);
        if !context.hooks.verify_request(client_address) {
            counters[Counter::Rejected].fetch_add(1, Ordering::Relaxed);
            T::reject(incoming);
            return None;
        }
        Some(RequestJob {
            // In flight from now on, even while it waits for a pool worker:
            // `max_connections` holds before the job starts, and a graceful close waits
            // for it.
            admission: tracked.then(|| Admission::new(context.handle.clone())),
            server: tracked.then(|| context.handle.clone()),
            context: Shared::Lent(context),
            incoming,
            client_address: client_address.clone(),
        })
    }
}

/// What a served request leaves for its ending: the server's state, the admission, how it
/// ended.
type Served<'a, T, H, K> = (
    Shared<'a, Context<H, K>>,
    Option<Admission>,
    Ended<<T as Transport>::Request>,
);

impl<'a, T, H, K> RequestJob<'a, T, H, K>
where
    T: Transport,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    /// Serves the request (its connection recorded for a cut while it runs, when it is in
    /// the in-flight table), in a forked child that exits next when `in_child`; gives back
    /// what ending it takes: the server's state, the admission and how it ended.
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn serve(self, in_child: bool) -> Served<'a, T, H, K> {
        let RequestJob {
            context,
            incoming,
            client_address,
            server,
            admission,
        } = self;
        let server = match server {
            Some(server) => server,
            // SAFETY: the copy lives in the request, which the child forgets (`run_in_child`)
            // before `context`, which holds the server's own handle; the child exits next.
            None if in_child => unsafe { context.handle.uncounted_copy() },
            None => context.handle.clone(),
        };
        let attach = |fd| admission.as_ref().map(|a| a.attach(fd));
        let ended = context.serve::<T, _>(incoming, client_address, server, attach, in_child);
        (context, admission, ended)
    }
}

impl<T, H, K> Job for RequestJob<'_, T, H, K>
where
    T: Transport,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    fn into_owned(self) -> impl Job + 'static {
        RequestJob::<'static, T, H, K> {
            context: self.context.into_owned(),
            incoming: self.incoming,
            client_address: self.client_address,
            server: self.server,
            admission: self.admission,
        }
    }

    fn run(self) -> bool {
        let (context, admission, ended) = self.serve(false);
        let ok = ended.ok();
        // A refusal is counted apart; the rest as completed or failed.
        let counted = admission.is_some() && !matches!(ended, Ended::Refused(_));
        drop(ended); // the connection closes
        if counted {
            context.handle.in_flight().counters().record_end(ok);
        }
        drop(admission);
        ok
    }

    fn run_on_own_thread(self) -> bool {
        crate::request::keep_no_spare_buffers();
        self.run()
    }

    fn prepare_fork(&mut self) {
        T::prepare_child(&mut self.incoming, &self.context.config);
    }

    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn run_in_child(self) -> bool {
        let (context, admission, ended) = self.serve(true);
        let ok = ended.ok();
        // The child exits next: its copies of the connection and of the server's state go
        // with it, unwritten.
        std::mem::forget(ended);
        std::mem::forget(context);
        std::mem::forget(admission);
        ok
    }
}
