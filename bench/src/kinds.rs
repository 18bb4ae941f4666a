//! The servers the driver compares, and how to start each.

/// How a server runs requests, which decides its baseline and which loads it can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// One request at a time on the serving thread.
    Serial,
    /// Requests at once (threads, processes or tasks).
    Concurrent,
}

/// How to start a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launch {
    /// The `servers` binary with `--kind NAME`.
    Rust,
    /// The echo example users run with these flags (`--mixin MIXIN` and any other).
    Example(&'static [&'static str]),
    /// `python3 bench/python/echo_server.py --mixin MIXIN`.
    Python(&'static str),
}

/// One server under comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    /// The name in tables and on the command line (`servers --kind NAME`).
    pub name: &'static str,
    /// Serial or concurrent.
    pub model: Model,
    /// How to start it.
    pub launch: Launch,
    /// The hand-written server its ratios are taken against.
    pub baseline: &'static str,
    /// Most connections served at once (`Forking`'s `max_children`, a fixed pool's threads);
    /// `None`: unbounded.
    pub max_connections: Option<usize>,
    /// How long to wait after the load before reading its CPU time, so that the last
    /// requests end and their children are reaped.
    pub settle_ms: u64,
    /// True for this project's `server!` types (the ones the targets are about).
    pub ours: bool,
}

const HAND_SYNC: &str = "hand-sync";
const HAND_THREADING: &str = "hand-threading";
const HAND_FORKING: &str = "hand-forking";
const HAND_POOL: &str = "hand-pool";

/// Every server, in the order the driver alternates them (A B A B ...), each
/// hand-written baseline right before the `server!` type it is compared with.
///
/// To add a server (a new mixin): a `Kind` here; for a `server!` type, the mixin in
/// `examples/echo.rs`, which the driver runs (`Launch::Example`); nothing else changes. The
/// tables and the ratios follow this list.
pub const KINDS: &[Kind] = &[
    Kind {
        name: HAND_SYNC,
        model: Model::Serial,
        launch: Launch::Rust,
        baseline: HAND_SYNC,
        max_connections: Some(1),
        settle_ms: 50,
        ours: false,
    },
    Kind {
        name: "ours-sync",
        model: Model::Serial,
        launch: Launch::Example(&["--mixin", "sync"]),
        baseline: HAND_SYNC,
        max_connections: Some(1),
        settle_ms: 50,
        ours: true,
    },
    Kind {
        name: "python-sync",
        model: Model::Serial,
        launch: Launch::Python("sync"),
        baseline: HAND_SYNC,
        max_connections: Some(1),
        settle_ms: 50,
        ours: false,
    },
    Kind {
        name: HAND_THREADING,
        model: Model::Concurrent,
        launch: Launch::Rust,
        baseline: HAND_THREADING,
        max_connections: None,
        settle_ms: 50,
        ours: false,
    },
    Kind {
        name: "ours-threading",
        model: Model::Concurrent,
        launch: Launch::Example(&["--mixin", "threading"]),
        baseline: HAND_THREADING,
        max_connections: None,
        settle_ms: 50,
        ours: true,
    },
    Kind {
        name: HAND_FORKING,
        model: Model::Concurrent,
        launch: Launch::Rust,
        baseline: HAND_FORKING,
        max_connections: None,
        settle_ms: 100,
        ours: false,
    },
    Kind {
        name: "ours-forking",
        model: Model::Concurrent,
        launch: Launch::Example(&["--mixin", "forking"]),
        baseline: HAND_FORKING,
        max_connections: Some(40),
        settle_ms: 100,
        ours: true,
    },
    Kind {
        // `tie_children: false`: children that do not die with the server, as the
        // hand-written server's (two system calls fewer per child).
        name: "ours-forking-untied",
        model: Model::Concurrent,
        launch: Launch::Example(&["--mixin", "forking", "--untie-children"]),
        baseline: HAND_FORKING,
        max_connections: Some(40),
        settle_ms: 100,
        ours: true,
    },
    Kind {
        name: HAND_POOL,
        model: Model::Concurrent,
        launch: Launch::Rust,
        baseline: HAND_POOL,
        // A fixed pool (`hand::pool_workers`, 8 on this machine's 2 CPUs): more connections
        // at once would wait for a thread.
        max_connections: Some(8),
        settle_ms: 50,
        ours: false,
    },
    Kind {
        name: "ours-pool",
        model: Model::Concurrent,
        launch: Launch::Example(&["--mixin", "pool"]),
        baseline: HAND_POOL,
        // The pool grows while every worker is busy (up to `pool_max`, 256 on 2 CPUs), so
        // it takes every case's connections.
        max_connections: None,
        settle_ms: 50,
        ours: true,
    },
    Kind {
        name: "tokio",
        model: Model::Concurrent,
        launch: Launch::Rust,
        baseline: HAND_THREADING,
        max_connections: None,
        settle_ms: 50,
        ours: false,
    },
    Kind {
        name: "python-threading",
        model: Model::Concurrent,
        launch: Launch::Python("threading"),
        baseline: HAND_THREADING,
        max_connections: None,
        settle_ms: 50,
        ours: false,
    },
    Kind {
        name: "python-forking",
        model: Model::Concurrent,
        launch: Launch::Python("forking"),
        baseline: HAND_FORKING,
        max_connections: Some(40),
        // Python reaps children in service_actions, once per request or per 0.5 s poll.
        settle_ms: 600,
        ours: false,
    },
];

/// The kind named `name`.
pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// Every kind's name, for usage messages.
pub fn names() -> String {
    KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}
