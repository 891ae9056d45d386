//! The [`RouteEnv`] a shard gives the router: name resolution from the
//! shard's cache, the local socket to send from, logging, and an outbox
//! the shard drains after the router returns.

use std::cell::{RefCell, RefMut};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use sipshard_core::route_io::{LocalSocket, Outbound, RouteEnv, Router, TmAccess};
use sipshard_core::tm::proxy::Output;
use sipshard_core::tm::table::Table;
use sipshard_core::transport::Transport;
use smallvec::SmallVec;

use crate::shard::Shard;

/// What one message produces: almost always one or two sends, kept inline
/// so routing a message does not allocate for them.
pub type Outbox = SmallVec<[Outbound; 2]>;

/// A routing environment borrowed from a shard for one message.
pub struct ShardEnv<'a, R: Router> {
    shard: &'a Shard<R>,
    outbox: Outbox,
    /// The raw message being routed, for the Call-ID of log lines.
    msg: &'a [u8],
    /// The shard's transaction table, borrowed for the route (`tm`).
    tm: Option<RefMut<'a, Table>>,
    tm_out: Vec<Output>,
    now: u64,
}

impl<'a, R: Router> ShardEnv<'a, R> {
    pub fn new(shard: &'a Shard<R>) -> Self {
        ShardEnv {
            shard,
            outbox: Outbox::new(),
            msg: &[],
            tm: shard.tm.as_ref().map(|t| t.borrow_mut()),
            tm_out: Vec::new(),
            now: shard.epoch.elapsed().as_millis() as u64,
        }
    }

    /// Log lines written while routing `msg` carry its Call-ID.
    pub fn with_message(mut self, msg: &'a [u8]) -> Self {
        self.msg = msg;
        self
    }

    /// What the router asked to send.
    pub fn into_outbox(self) -> Outbox {
        self.outbox
    }

    /// What the router asked to send, and what the transaction table put
    /// out meanwhile (sends, `failure_route` events). Releases the table.
    pub fn into_parts(self) -> (Outbox, Vec<Output>) {
        (self.outbox, self.tm_out)
    }
}

thread_local! {
    /// Source address the kernel picks towards a destination, for sockets
    /// bound to a wildcard address.
    static ROUTE_SRC: RefCell<HashMap<IpAddr, Option<IpAddr>>> = RefCell::new(HashMap::new());
}

/// The local IP the kernel would use to reach `dst`.
fn source_ip_towards(dst: SocketAddr) -> Option<IpAddr> {
    ROUTE_SRC.with(|c| {
        *c.borrow_mut().entry(dst.ip()).or_insert_with(|| {
            let any: SocketAddr = if dst.is_ipv6() {
                "[::]:0".parse().ok()?
            } else {
                "0.0.0.0:0".parse().ok()?
            };
            let s = std::net::UdpSocket::bind(any).ok()?;
            s.connect(dst).ok()?;
            s.local_addr().ok().map(|a| a.ip())
        })
    })
}

impl<R: Router> RouteEnv for ShardEnv<'_, R> {
    fn resolve(&mut self, host: &str, port: Option<u16>, proto: Transport) -> Option<SocketAddr> {
        self.shard.resolver.borrow_mut().resolve(host, port, proto)
    }

    fn local_for(&self, dst: SocketAddr, proto: Transport) -> Option<LocalSocket> {
        let locals = &self.shard.locals;
        let fits = |l: &&LocalSocket| l.proto == proto && l.addr.is_ipv6() == dst.is_ipv6();
        let mut candidates = locals.iter().filter(fits);
        let first = candidates.next()?;
        if candidates.next().is_none() {
            return Some(first.clone());
        }
        // Several sockets fit: the one on the address the kernel routes
        // `dst` from, as Kamailio's mhomed does; else one on the same side
        // of loopback; else the first.
        let routed = source_ip_towards(dst)
            .and_then(|ip| locals.iter().filter(fits).find(|l| l.addr.ip() == ip));
        let chosen = routed
            .or_else(|| {
                locals
                    .iter()
                    .filter(fits)
                    .find(|l| l.addr.ip().is_loopback() == dst.ip().is_loopback())
            })
            .unwrap_or(first);
        Some(chosen.clone())
    }

    fn local_for_request(&self, dst: SocketAddr, proto: Transport) -> Option<LocalSocket> {
        let shared = self.local_for(dst, proto)?;
        let own = self
            .shard
            .own_ports
            .iter()
            .find(|o| o.listen == shared.addr && shared.proto == Transport::Udp);
        Some(own.map_or(shared, |o| o.local.clone()))
    }

    fn is_shard_sent_by(&self, host: &[u8], port: u16) -> bool {
        crate::own_ports::is_own_sent_by(&self.shard.all_own_ports, host, port)
    }

    fn log(&mut self, level: i32, line: &str) {
        let call_id = crate::logger::call_id_of(self.msg);
        self.shard
            .logger
            .log_call(level, Some(self.shard.id), call_id, line);
    }

    fn log_enabled(&self, level: i32) -> bool {
        self.shard.logger.enabled(level)
    }

    fn send(&mut self, out: Outbound) {
        self.outbox.push(out);
    }

    fn shard(&self) -> usize {
        self.shard.id
    }

    fn prom(
        &mut self,
        def: &std::sync::Arc<sipshard_core::script::functions::xhttp_prom::PromDef>,
        labels: &[&str],
        op: sipshard_core::script::functions::xhttp_prom::PromOp,
    ) {
        self.shard
            .stats_set
            .shard(self.shard.id)
            .user
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .apply(def, labels, op);
    }

    fn tm(&mut self) -> Option<TmAccess<'_>> {
        let table = self.tm.as_deref_mut()?;
        Some(TmAccess {
            table,
            now: self.now,
            out: &mut self.tm_out,
        })
    }
}
