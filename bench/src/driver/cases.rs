//! What the suite loads: the cases (a transport, a scenario, a number of connections and
//! a message size, against a list of servers) and the plan of a run.

use super::Config;
use crate::common::{Scenario, Transport};
use crate::kinds::{self, Kind, KINDS};
use crate::loadgen::Outcome;

/// One load against a list of servers.
#[derive(Clone, Debug)]
pub struct Case {
    /// The sockets the load goes over.
    pub transport: Transport,
    /// What the clients do.
    pub scenario: Scenario,
    /// Connections (or clients, or client sockets) at once.
    pub conns: usize,
    /// Bytes per message.
    pub size: usize,
    /// The servers loaded, in the order they alternate.
    pub kinds: Vec<&'static Kind>,
    /// Also measure CPU and system calls per operation.
    pub detail: bool,
}

impl Case {
    /// The case's name in notes and on the command line (`--only`), e.g. `tcp-churn-c1`.
    pub fn id(&self) -> String {
        format!("{}-{}-c{}", self.transport, self.scenario, self.conns)
    }

    /// The case's heading in the report, e.g. `tcp churn, 1 client, 64 B`.
    pub fn title(&self) -> String {
        let conns = match (self.scenario, self.conns) {
            (Scenario::Churn, 1) => "1 client".to_string(),
            (Scenario::Churn, n) => format!("{n} concurrent clients"),
            (Scenario::Datagram, 1) => "1 client socket".to_string(),
            (Scenario::Datagram, n) => format!("{n} client sockets"),
            (_, 1) => "1 connection".to_string(),
            (_, n) => format!("{n} connections"),
        };
        let size = if self.size >= 1024 {
            format!("{} KiB", self.size / 1024)
        } else {
            format!("{} B", self.size)
        };
        format!("{} {}, {conns}, {size}", self.transport, self.scenario)
    }

    /// The unit of the rate column.
    pub fn unit(&self) -> &'static str {
        match self.scenario {
            Scenario::PingPong => "round trips/s",
            Scenario::Churn => "connections/s",
            Scenario::Datagram => "datagrams/s",
            Scenario::Stream => "MB/s",
        }
    }

    /// The rate of one run, in the unit of [`Case::unit`].
    pub fn rate(&self, outcome: &Outcome) -> f64 {
        match self.scenario {
            Scenario::Stream => outcome.mb_per_sec(),
            _ => outcome.rate(),
        }
    }
}

/// The servers that run in any of `cases`, in the order of [`KINDS`].
pub fn servers<'a>(cases: impl Iterator<Item = &'a Case> + Clone) -> Vec<&'static Kind> {
    KINDS
        .iter()
        .filter(|k| cases.clone().any(|c| c.kinds.contains(k)))
        .collect()
}

/// The cases of a run: every scenario over both transports of its kind; CPU and syscalls
/// on TCP and UDP.
pub fn plan(config: &Config) -> Vec<Case> {
    let selected = |k: &&Kind| match &config.kinds {
        None => true,
        Some(names) => names
            .iter()
            .any(|n| n == k.name || kinds::kind(n).map(|x| x.baseline) == Some(k.name)),
    };
    let serves = |conns: usize| move |k: &&Kind| k.max_connections.is_none_or(|max| max >= conns);
    let all: Vec<&'static Kind> = KINDS.iter().filter(selected).collect();
    let mut cases = Vec::new();
    let mut add = |transport, scenario, conns, size, detail| {
        let kinds: Vec<_> = all.iter().copied().filter(serves(conns)).collect();
        if !kinds.is_empty() {
            cases.push(Case {
                transport,
                scenario,
                conns,
                size,
                kinds,
                detail,
            });
        }
    };
    for transport in [Transport::Tcp, Transport::Unix] {
        let detail = transport == Transport::Tcp;
        add(transport, Scenario::PingPong, 1, 64, detail);
        add(transport, Scenario::PingPong, 128, 64, false);
        add(transport, Scenario::Churn, 1, 64, detail);
        add(transport, Scenario::Stream, 1, 65536, false);
    }
    for transport in [Transport::Udp, Transport::UnixDgram] {
        add(
            transport,
            Scenario::Datagram,
            1,
            64,
            transport == Transport::Udp,
        );
    }
    cases.retain(|c| {
        config.only.is_empty() || config.only.iter().any(|o| c.id().contains(o.as_str()))
    });
    cases
}
