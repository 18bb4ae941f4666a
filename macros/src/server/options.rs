//! What `server!` knows by name: the transports, the mixins and every option, with its value
//! type and where it applies.

/// A transport `server!` accepts.
pub struct TransportSpec {
    /// As written: `Tcp`, `Tls<Tcp>`.
    pub name: &'static str,
    /// The runtime's transport type: `Tcp` for `Tls<Tcp>` too.
    pub runtime: &'static str,
    pub inet: bool,
    pub stream: bool,
    /// TLS over the stream (`Tls<...>`): `bind` then takes the TLS configuration.
    pub tls: bool,
}

const fn transport(name: &'static str, inet: bool, stream: bool) -> TransportSpec {
    TransportSpec {
        name,
        runtime: name,
        inet,
        stream,
        tls: false,
    }
}

const fn tls(name: &'static str, runtime: &'static str, inet: bool) -> TransportSpec {
    TransportSpec {
        name,
        runtime,
        inet,
        stream: true,
        tls: true,
    }
}

pub const TRANSPORTS: &[TransportSpec] = &[
    transport("Tcp", true, true),
    transport("Udp", true, false),
    transport("UnixStream", false, true),
    transport("UnixDatagram", false, false),
    tls("Tls<Tcp>", "Tcp", true),
    tls("Tls<UnixStream>", "UnixStream", false),
];

/// The mixins `server!` accepts.
pub const MIXINS: &[&str] = &["Sync", "Threading", "Forking", "Pool"];

/// The keys that are not options.
pub const STRUCTURE_KEYS: &[&str] = &["transport", "mixin", "handler", "hooks"];

/// What an option's value must be.
#[derive(Clone, Copy)]
pub enum ValueType {
    Bool,
    /// A whole number in `min..=max`, for a field of type `ty`.
    Int {
        min: u64,
        max: u64,
        ty: IntType,
    },
    /// Seconds, as an integer or float literal greater than zero.
    Seconds,
    /// A list of trusted proxies: string literals, each a network (`"10.0.0.0/8"`), an
    /// address or `"unix"`.
    Proxies,
}

/// The type of an integer field of `ServerConfig`: the value is written with this suffix, so
/// that it is never inferred as `i32` and wrapped.
#[derive(Clone, Copy)]
pub enum IntType {
    U32,
    Usize,
}

/// Which servers an option applies to.
#[derive(Clone, Copy)]
pub enum Applies {
    Any,
    /// `Tcp` and `Udp`.
    Inet,
    /// `Tcp` only (with TLS or without).
    Tcp,
    /// `Tls<Tcp>` and `Tls<UnixStream>`.
    Tls,
    /// `Tcp` and `UnixStream`.
    Stream,
    /// `Udp` and `UnixDatagram`.
    Datagram,
    /// `UnixStream` and `UnixDatagram`.
    Unix,
    /// One of the listed mixins.
    Mixins(&'static [&'static str]),
}

impl Applies {
    /// Whether the option applies to `transport` and `mixin`; `None` when the one it depends
    /// on is unknown (misspelt or missing), so that nothing is said about it.
    pub fn allows(self, transport: Option<&TransportSpec>, mixin: Option<&str>) -> Option<bool> {
        Some(match self {
            Applies::Any => true,
            Applies::Mixins(mixins) => mixins.contains(&mixin?),
            Applies::Inet => transport?.inet,
            Applies::Tcp => transport?.runtime == "Tcp",
            Applies::Tls => transport?.tls,
            Applies::Stream => transport?.stream,
            Applies::Datagram => !transport?.stream,
            Applies::Unix => !transport?.inet,
        })
    }

    /// Whether this depends on the mixin rather than the transport.
    pub fn is_mixin(self) -> bool {
        matches!(self, Applies::Mixins(_))
    }

    /// Where the option applies, for the error message.
    pub fn describe(self) -> String {
        match self {
            Applies::Any => "every server".into(),
            Applies::Inet => "the internet transports (`Tcp`, `Udp`)".into(),
            Applies::Tcp => "the `Tcp` transport".into(),
            Applies::Tls => "the TLS transports (`Tls<Tcp>`, `Tls<UnixStream>`)".into(),
            Applies::Stream => "the stream transports (`Tcp`, `UnixStream`)".into(),
            Applies::Datagram => "the datagram transports (`Udp`, `UnixDatagram`)".into(),
            Applies::Unix => "the unix transports (`UnixStream`, `UnixDatagram`)".into(),
            Applies::Mixins([one]) => format!("the `{one}` mixin"),
            Applies::Mixins(many) => {
                let named: Vec<_> = many.iter().map(|m| format!("`{m}`")).collect();
                let (last, rest) = named.split_last().expect("at least two");
                format!("the {} and {last} mixins", rest.join(", "))
            }
        }
    }
}

/// An option: a field of the runtime's `ServerConfig` of the same name.
pub struct OptionSpec {
    pub name: &'static str,
    pub ty: ValueType,
    pub applies: Applies,
    /// The option that must be set (to `true`, a boolean one) for this one to mean anything.
    pub needs: Option<&'static str>,
}

const fn option(name: &'static str, ty: ValueType, applies: Applies) -> OptionSpec {
    OptionSpec {
        name,
        ty,
        applies,
        needs: None,
    }
}

/// An option of the PROXY protocol, which needs `proxy_protocol: true`.
const fn proxy_option(name: &'static str, ty: ValueType) -> OptionSpec {
    OptionSpec {
        name,
        ty,
        applies: Applies::Stream,
        needs: Some("proxy_protocol"),
    }
}

const BOOL: ValueType = ValueType::Bool;
const SIZE: ValueType = ValueType::Int {
    min: 1,
    max: u32::MAX as u64,
    ty: IntType::Usize,
};

pub const OPTIONS: &[OptionSpec] = &[
    option("allow_reuse_address", BOOL, Applies::Inet),
    option("allow_reuse_port", BOOL, Applies::Inet),
    option("dual_stack", BOOL, Applies::Inet),
    option(
        "request_queue_size",
        ValueType::Int {
            min: 1,
            max: i32::MAX as u64,
            ty: IntType::U32,
        },
        Applies::Stream,
    ),
    option("timeout", ValueType::Seconds, Applies::Any),
    option("stream_timeout", ValueType::Seconds, Applies::Stream),
    option("defer_accept", ValueType::Seconds, Applies::Tcp),
    option("disable_nagle_algorithm", BOOL, Applies::Tcp),
    option("rbufsize", SIZE, Applies::Stream),
    option(
        "wbufsize",
        ValueType::Int {
            min: 0,
            max: u32::MAX as u64,
            ty: IntType::Usize,
        },
        Applies::Stream,
    ),
    option(
        "max_packet_size",
        ValueType::Int {
            min: 1,
            max: 1 << 24,
            ty: IntType::Usize,
        },
        Applies::Datagram,
    ),
    option("send_empty_reply", BOOL, Applies::Datagram),
    option("daemon_threads", BOOL, Applies::Mixins(&["Threading"])),
    option(
        "block_on_close",
        BOOL,
        Applies::Mixins(&["Threading", "Forking"]),
    ),
    option(
        "max_children",
        ValueType::Int {
            min: 1,
            max: 1 << 20,
            ty: IntType::Usize,
        },
        Applies::Mixins(&["Forking"]),
    ),
    option("tie_children", BOOL, Applies::Mixins(&["Forking"])),
    option("replace_stale_socket", BOOL, Applies::Unix),
    option("pool_size", count(1 << 16), Applies::Mixins(&["Pool"])),
    option("pool_min", count(1 << 16), Applies::Mixins(&["Pool"])),
    option("pool_max", count(1 << 16), Applies::Mixins(&["Pool"])),
    option("pool_idle", ValueType::Seconds, Applies::Mixins(&["Pool"])),
    option(
        "pool_queue_size",
        ValueType::Int {
            min: 0,
            max: 1 << 20,
            ty: IntType::Usize,
        },
        Applies::Mixins(&["Pool"]),
    ),
    option("max_connections", count(1 << 24), Applies::Any),
    option(
        "thread_stack_size",
        ValueType::Int {
            min: 16 * 1024,
            max: 1 << 30,
            ty: IntType::Usize,
        },
        Applies::Mixins(&["Threading", "Pool"]),
    ),
    option("proxy_protocol", BOOL, Applies::Stream),
    proxy_option("proxy_header_timeout", ValueType::Seconds),
    proxy_option("trusted_proxies", ValueType::Proxies),
    option("tls_handshake_timeout", ValueType::Seconds, Applies::Tls),
    // Also for stream transports only: `validate::check_workers`.
    option(
        "workers",
        count(1 << 12),
        Applies::Mixins(&["Sync", "Threading", "Pool"]),
    ),
    OptionSpec {
        name: "workers_reuse_port",
        ty: BOOL,
        applies: Applies::Tcp,
        needs: Some("workers"),
    },
];

/// A count from 1 to `max`.
const fn count(max: u64) -> ValueType {
    ValueType::Int {
        min: 1,
        max,
        ty: IntType::Usize,
    }
}

/// Every key `server!` accepts, for suggestions.
pub fn all_keys() -> Vec<&'static str> {
    STRUCTURE_KEYS
        .iter()
        .copied()
        .chain(OPTIONS.iter().map(|o| o.name))
        .collect()
}
