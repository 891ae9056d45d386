//! The boundary between a compiled routing program and the runtime.
//!
//! The runtime (the `shards` crate) receives bytes, parses them into a
//! [`crate::sip::Message`], and hands them to the program together with an
//! [`Inbound`] describing where they came from and a [`RouteEnv`] through
//! which the program resolves names, picks the local socket to send from,
//! logs, and sends. Everything the program wants on the wire leaves as an
//! [`Outbound`] through [`RouteEnv::send`]; the program never touches a
//! socket, so it can be driven by a fake environment in tests.

use std::net::SocketAddr;

use crate::transport::Transport;

/// Where a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inbound {
    /// Transport it arrived on.
    pub proto: Transport,
    /// The peer's address (`$si`, `$sp`).
    pub src: SocketAddr,
    /// The local address it was received on (`$Ri`, `$Rp`).
    pub local: SocketAddr,
    /// For stream transports: the connection it arrived on, so a reply can
    /// go back on the same connection.
    pub conn: Option<ConnId>,
}

/// A stream connection, named by the shard that owns it and a number unique
/// within that shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId {
    pub shard: u16,
    pub id: u64,
}

/// A local listening socket a message can be sent from, with the address
/// to write into Via / Record-Route for it (`listen=... advertise ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSocket {
    pub proto: Transport,
    pub addr: SocketAddr,
    /// Host to advertise (an IP literal, IPv6 without brackets, or a name).
    /// Shared, so handing a socket to the router per message is a
    /// reference-count bump, not an allocation.
    pub advertise_host: std::sync::Arc<str>,
    pub advertise_port: u16,
}

/// Something to put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    pub proto: Transport,
    /// The local socket address to send from (one of the `listen=` ones).
    pub local: SocketAddr,
    /// Destination address.
    pub dst: SocketAddr,
    /// For stream transports: send on this existing connection if it is
    /// still open (replies); otherwise the runtime uses or opens a
    /// connection to `dst`.
    pub conn: Option<ConnId>,
    pub bytes: Vec<u8>,
}

/// Log levels with Kamailio's numbers (`L_ALERT` -5 ... `L_DBG` 3).
pub mod level {
    pub const ALERT: i32 = -5;
    pub const BUG: i32 = -4;
    pub const CRIT: i32 = -3;
    pub const ERR: i32 = -1;
    pub const WARN: i32 = 0;
    pub const NOTICE: i32 = 1;
    pub const INFO: i32 = 2;
    pub const DBG: i32 = 3;
}

/// What a routing program may ask of the runtime while it runs.
pub trait RouteEnv {
    /// Resolves `host` (an IP literal, with or without IPv6 brackets, or a
    /// name) to an address to send to over `proto`. `port` None means the
    /// transport's default (5060, 5061 for TLS). None when it cannot be
    /// resolved.
    fn resolve(&mut self, host: &str, port: Option<u16>, proto: Transport) -> Option<SocketAddr>;

    /// The local socket to send to `dst` over `proto` from: a `listen=`
    /// socket of that transport and address family. None when there is none.
    fn local_for(&self, dst: SocketAddr, proto: Transport) -> Option<LocalSocket>;

    /// The local socket a request relayed downstream (`forward()`,
    /// `t_relay()` and its branches, CANCEL, ACK for a non-2xx) leaves
    /// from, whose address goes into our Via sent-by. The runtime may pick a
    /// socket of the sending shard's own here, so that the responses come
    /// back to that shard; by default the same as [`RouteEnv::local_for`].
    fn local_for_request(&self, dst: SocketAddr, proto: Transport) -> Option<LocalSocket> {
        self.local_for(dst, proto)
    }

    /// Whether `host:port` in a Via sent-by names one of the runtime's
    /// per-shard sockets ([`RouteEnv::local_for_request`]), which the
    /// configured `myself` addresses do not list.
    fn is_shard_sent_by(&self, _host: &[u8], _port: u16) -> bool {
        false
    }

    /// Writes a log line at a Kamailio level (see [`level`]); the runtime
    /// filters by the configured `debug=` level and never blocks.
    fn log(&mut self, level: i32, line: &str);

    /// Whether a line at `level` would be written (to skip formatting).
    fn log_enabled(&self, level: i32) -> bool;

    /// Queues bytes for the wire.
    fn send(&mut self, out: Outbound);

    /// The shard running the program (0-based).
    fn shard(&self) -> usize;

    /// The shard's transaction table, when the `tm` module is loaded:
    /// what `t_relay()`, `t_reply()`, ... act on. What the table puts in
    /// [`TmAccess::out`] the runtime carries out after the route returns.
    fn tm(&mut self) -> Option<TmAccess<'_>> {
        None
    }

    /// `xhttp_prom`: updates this shard's value of a script metric for the
    /// label values `labels` (as many as the definition has).
    fn prom(
        &mut self,
        _def: &std::sync::Arc<crate::script::functions::xhttp_prom::PromDef>,
        _labels: &[&str],
        _op: crate::script::functions::xhttp_prom::PromOp,
    ) {
    }
}

/// The transaction table of the shard running a route, lent to it.
pub struct TmAccess<'a> {
    pub table: &'a mut crate::tm::table::Table,
    /// The shard's clock (ms), as the table expects it.
    pub now: crate::tm::timers::Millis,
    /// Sends and `failure_route` events for the runtime.
    pub out: &'a mut Vec<crate::tm::proxy::Output>,
}

/// A routing program as the runtime drives it: one shared, immutable
/// program and one mutable state per shard.
pub trait Router: Send + Sync {
    /// What one shard keeps across messages (Kamailio: per worker).
    type ShardState: 'static;

    fn new_shard_state(&self, shard: usize) -> Self::ShardState;

    /// Routes a request that parsed.
    fn on_request(
        &self,
        msg: crate::sip::Message,
        inb: &Inbound,
        env: &mut dyn RouteEnv,
        state: &mut Self::ShardState,
    );

    /// Routes a reply that parsed.
    fn on_reply(
        &self,
        msg: crate::sip::Message,
        inb: &Inbound,
        env: &mut dyn RouteEnv,
        state: &mut Self::ShardState,
    );

    /// The transaction table each shard needs (`tm` loaded), or None for a
    /// stateless program. The runtime fills in `seed`.
    fn tm_config(&self) -> Option<crate::tm::table::TableConfig> {
        None
    }

    /// Every branch of transaction `tx` failed with best `code` and a
    /// `failure_route` was armed ([`crate::tm::proxy::Output::Failure`]):
    /// run it. The runtime calls `failure_done` afterwards.
    fn on_failure(
        &self,
        _tx: crate::tm::proxy::TxId,
        _code: u16,
        _env: &mut dyn RouteEnv,
        _state: &mut Self::ShardState,
    ) {
    }

    /// Whether [`Router::on_tm_reply`] has anything to run (else the
    /// runtime hands transaction responses straight to the table).
    fn has_tm_reply_routes(&self) -> bool {
        false
    }

    /// A response matched to branch `branch` of transaction `tx`, before
    /// the table acts on it (`reply_route`, then `onreply_route` armed by
    /// `t_on_reply`).
    fn on_tm_reply(
        &self,
        _tx: crate::tm::proxy::TxId,
        _branch: u8,
        _msg: &crate::sip::Message,
        _inb: &Inbound,
        _env: &mut dyn RouteEnv,
        _state: &mut Self::ShardState,
    ) -> TmReply {
        TmReply::Keep
    }
}

/// What the reply routes made of a transaction's response.
#[derive(Debug)]
pub enum TmReply {
    /// Unchanged: the table takes the received response.
    Keep,
    /// `drop`: the table never sees it.
    Drop,
    /// Edited (`append_hf`, ...): the table takes this one instead.
    Edited(Box<crate::sip::Message>),
}

impl Router for crate::script::Program {
    type ShardState = crate::script::ShardState;

    fn new_shard_state(&self, _shard: usize) -> Self::ShardState {
        crate::script::Program::new_shard_state(self)
    }

    fn on_request(
        &self,
        msg: crate::sip::Message,
        inb: &Inbound,
        env: &mut dyn RouteEnv,
        state: &mut Self::ShardState,
    ) {
        crate::script::Program::on_request(self, msg, inb, env, state)
    }

    fn on_reply(
        &self,
        msg: crate::sip::Message,
        inb: &Inbound,
        env: &mut dyn RouteEnv,
        state: &mut Self::ShardState,
    ) {
        crate::script::Program::on_reply(self, msg, inb, env, state)
    }

    fn tm_config(&self) -> Option<crate::tm::table::TableConfig> {
        crate::script::Program::tm_config(self)
    }

    fn on_failure(
        &self,
        tx: crate::tm::proxy::TxId,
        code: u16,
        env: &mut dyn RouteEnv,
        state: &mut Self::ShardState,
    ) {
        crate::script::Program::on_failure(self, tx, code, env, state)
    }

    fn has_tm_reply_routes(&self) -> bool {
        crate::script::Program::has_tm_reply_routes(self)
    }

    fn on_tm_reply(
        &self,
        tx: crate::tm::proxy::TxId,
        branch: u8,
        msg: &crate::sip::Message,
        inb: &Inbound,
        env: &mut dyn RouteEnv,
        state: &mut Self::ShardState,
    ) -> TmReply {
        crate::script::Program::on_tm_reply(self, tx, branch, msg, inb, env, state)
    }
}
