//! The per-shard transaction table: no lock, not `Sync`, bounded.
//!
//! A slab of [`ProxyTx`] indexed by slot; a slot's generation changes when
//! it is freed so stale ids and late responses miss. Server-side matching
//! goes through a hash of the [`ServerKey`] (keyed SipHash, so a sender
//! cannot aim collisions), verified against the stored request. Client-side
//! matching needs no index: the branch names the slot ([`BranchId`]).
//!
//! Timers live in one [`DeadlineQueue`] per table; the caller drives it with
//! [`Table::on_timer`] at [`Table::next_deadline`]. An entry is freed as soon
//! as all its machines have terminated, so memory follows live
//! transactions; past `max_transactions` new requests get a 503.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;

use md5::{Digest, Md5};

use super::key::{BranchId, ServerKey};
use super::proxy::{Output, ProxyConfig, ProxyTx, Sink, TimerSlot, TxError, TxId};
use super::timers::{DeadlineQueue, Millis};
use crate::proxy::reply::{build_reply, reply_destination, LocalReply};
use crate::proxy::Destination;
use crate::sip::scan::top_via_branch_is;
use crate::sip::{Message, Method};
use crate::transport::Transport;

/// Table settings.
#[derive(Debug, Clone)]
pub struct TableConfig {
    pub proxy: ProxyConfig,
    /// Most live transactions on this shard; past it requests get 503.
    pub max_transactions: usize,
    /// Secret mixed into branch nonces (e.g. random bytes at start-up).
    pub seed: [u8; 16],
}

impl Default for TableConfig {
    fn default() -> TableConfig {
        TableConfig {
            proxy: ProxyConfig::default(),
            max_transactions: 400_000,
            seed: [0; 16],
        }
    }
}

/// Why [`Table::create`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreateError {
    /// `max_transactions` live transactions: the request was answered
    /// [`CreateError::status`] 503.
    Full,
    /// A transaction for this request exists (a retransmission).
    Exists(TxId),
    /// ACK never creates a transaction (§17.2.3); CANCEL is handled by
    /// [`Table::on_request`].
    NotForMethod,
    /// The request lacks a top Via or CSeq.
    Unmatchable,
}

impl CreateError {
    /// The status a caller would answer with.
    pub fn status(&self) -> u16 {
        match self {
            CreateError::Full => 503,
            CreateError::Exists(_) => 0,
            CreateError::NotForMethod | CreateError::Unmatchable => 400,
        }
    }
}

impl std::fmt::Display for CreateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CreateError::Full => f.write_str("transaction table full (503)"),
            CreateError::Exists(_) => f.write_str("transaction exists"),
            CreateError::NotForMethod => f.write_str("no transaction for ACK or CANCEL"),
            CreateError::Unmatchable => f.write_str("request has no top Via or CSeq"),
        }
    }
}

impl std::error::Error for CreateError {}

/// What [`Table::on_request`] did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestMatch {
    /// No transaction: run the script (and maybe [`Table::create`]).
    NoMatch,
    /// A retransmission, absorbed (the last response was re-sent).
    Retransmission(TxId),
    /// An ACK for our non-2xx final response, absorbed.
    Ack(TxId),
    /// A CANCEL for this INVITE: answered 200 and relayed to the branches.
    Cancel(TxId),
}

/// What [`Table::on_response`] did with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMatch {
    /// Handled by this transaction.
    Handled(TxId),
    /// Our branch, but another shard owns it: hand it over.
    OtherShard(u16),
    /// Not a branch of ours, or the transaction is gone: the runtime may
    /// forward it statelessly (a late 2xx) or drop it.
    NoMatch,
}

#[derive(Debug)]
struct Entry {
    nonce: u128,
    key: u64,
    tx: ProxyTx,
    /// When the request came in (for the latency histogram).
    created: Millis,
}

#[derive(Debug, Default)]
struct Slot {
    gen: u32,
    entry: Option<Box<Entry>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TimerRef {
    slot: u32,
    gen: u32,
    which: TimerSlot,
}

/// One shard's transactions.
#[derive(Debug)]
pub struct Table {
    shard: u16,
    cfg: TableConfig,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Keyed by the ServerKey's keyed SipHash: already uniform and
    /// unpredictable, so the map uses it as is instead of hashing it again.
    index: HashMap<u64, u32, BuildHasherDefault<KeyedHash>>,
    hasher: RandomState,
    timers: DeadlineQueue<TimerRef>,
    live: usize,
    /// Counts for `tm.stats` and `/metrics`.
    pub stats: super::stats::TableStats,
}

/// The index's hasher: its keys are keyed 64-bit hashes already.
#[derive(Default)]
struct KeyedHash(u64);

impl Hasher for KeyedHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

impl Table {
    pub fn new(shard: u16, cfg: TableConfig) -> Table {
        Table {
            shard,
            cfg,
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::default(),
            hasher: RandomState::new(),
            timers: DeadlineQueue::new(),
            live: 0,
            stats: Default::default(),
        }
    }

    pub fn shard(&self) -> u16 {
        self.shard
    }

    pub fn config(&self) -> &TableConfig {
        &self.cfg
    }

    /// Live transactions.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Entries in the timer queue (stale ones included).
    pub fn queued_timers(&self) -> usize {
        self.timers.len()
    }

    /// When to call [`Table::on_timer`] next.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.timers.next_deadline()
    }

    /// The transaction behind `id`, if live.
    pub fn get(&self, id: TxId) -> Option<&ProxyTx> {
        let s = self.slots.get(usize::try_from(id.slot).ok()?)?;
        if s.gen != id.gen {
            return None;
        }
        s.entry.as_deref().map(|e| &e.tx)
    }

    /// Bytes one live transaction costs: the entry and its heap data.
    pub fn footprint(&self, id: TxId) -> Option<usize> {
        let tx = self.get(id)?;
        Some(
            std::mem::size_of::<Slot>()
                + std::mem::size_of::<Entry>()
                + tx.heap_bytes()
                + tx.armed_timers() * std::mem::size_of::<(Millis, u64, TimerRef)>()
                // The index entry.
                + 16,
        )
    }

    /// The transaction of `key`, whose keyed hash is `h`.
    fn lookup(&self, key: &ServerKey<'_>, h: u64) -> Option<TxId> {
        let slot = *self.index.get(&h)?;
        let s = &self.slots[usize::try_from(slot).ok()?];
        let e = s.entry.as_deref()?;
        let stored = Message::parse(e.tx.request().to_vec()).ok()?;
        let skey = ServerKey::of(&stored)?;
        skey.same(key).then_some(TxId { slot, gen: s.gen })
    }

    /// `t_check_trans()`: a request for an existing transaction is absorbed
    /// (retransmission, ACK) or acted on (CANCEL).
    pub fn on_request(
        &mut self,
        now: Millis,
        msg: &Message,
        src: SocketAddr,
        proto: Transport,
        out: &mut Vec<Output>,
    ) -> RequestMatch {
        let Some(key) = ServerKey::of(msg) else {
            return RequestMatch::NoMatch;
        };
        let method = msg.method();
        let key = if method == Method::Cancel {
            key.as_invite()
        } else {
            key
        };
        let Some(id) = self.lookup(&key, key.hash_with(&self.hasher)) else {
            return RequestMatch::NoMatch;
        };
        let result = self.with_tx(now, id, out, |tx, cfg, sink| match method {
            Method::Ack => {
                tx.on_ack(cfg, sink);
                RequestMatch::Ack(id)
            }
            Method::Cancel => {
                tx.on_cancel(cfg, msg, src, proto, sink);
                RequestMatch::Cancel(id)
            }
            _ => {
                tx.on_retransmission(cfg, sink);
                RequestMatch::Retransmission(id)
            }
        });
        if matches!(result, Some(RequestMatch::Retransmission(_))) {
            self.stats.retransmissions_received += 1;
        }
        result.unwrap_or(RequestMatch::NoMatch)
    }

    /// `t_newtran()`: creates the transaction for `msg` (an INVITE gets its
    /// 100 Trying). When the table is full a 503 is put in `out`.
    pub fn create(
        &mut self,
        now: Millis,
        msg: &Message,
        src: SocketAddr,
        proto: Transport,
        out: &mut Vec<Output>,
    ) -> Result<TxId, CreateError> {
        if matches!(msg.method(), Method::Ack | Method::Cancel) {
            return Err(CreateError::NotForMethod);
        }
        let key = ServerKey::of(msg).ok_or(CreateError::Unmatchable)?;
        let h = key.hash_with(&self.hasher);
        if let Some(id) = self.lookup(&key, h) {
            return Err(CreateError::Exists(id));
        }
        // A different key with the same 64-bit keyed hash is as unlikely as
        // guessing the hasher's key; it is refused like a full table rather
        // than chaining.
        if self.live >= self.cfg.max_transactions || self.index.contains_key(&h) {
            let reply = build_reply(
                msg,
                src,
                &LocalReply::new(503, b"Service Unavailable", &self.cfg.proxy.to_tag_prefix),
            );
            out.push(Output::Send {
                dst: reply_destination(msg, src, proto),
                bytes: reply.into(),
                branch: None,
            });
            self.stats.replied_locally += 1;
            return Err(CreateError::Full);
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Slot::default());
                u32::try_from(self.slots.len() - 1).map_err(|_| CreateError::Full)?
            }
        };
        let s = &mut self.slots[slot as usize];
        let id = TxId { slot, gen: s.gen };
        let nonce = nonce(&self.cfg.seed, self.shard, slot, s.gen);
        s.entry = Some(Box::new(Entry {
            nonce,
            key: h,
            tx: ProxyTx::new(id, msg, src, proto),
            created: now,
        }));
        self.index.insert(h, slot);
        self.live += 1;
        self.stats.created += 1;
        self.with_tx(now, id, out, |tx, cfg, sink| tx.start(cfg, msg, sink))
            .ok_or(CreateError::Full)?;
        Ok(id)
    }

    /// The Via branch parameter the next branch of `id` must carry.
    pub fn branch_param(&self, id: TxId) -> Result<String, TxError> {
        self.next_branch_id(id).map(|b| b.to_param())
    }

    fn next_branch_id(&self, id: TxId) -> Result<BranchId, TxError> {
        let e = self.entry(id).ok_or(TxError::NoTransaction)?;
        let index = e.tx.next_branch_index(&self.cfg.proxy)?;
        Ok(BranchId {
            shard: self.shard,
            slot: id.slot,
            nonce: e.nonce,
            index,
        })
    }

    /// `t_relay()` for one destination: `request` carries our Via with
    /// [`Table::branch_param`]; its client transaction starts now.
    pub fn add_branch(
        &mut self,
        now: Millis,
        id: TxId,
        request: Vec<u8>,
        dst: Destination,
        out: &mut Vec<Output>,
    ) -> Result<u8, TxError> {
        let want = self.next_branch_id(id)?;
        // The caller built `request` from a parsed message: reading the
        // top Via branch off the bytes is enough, no second parse.
        if !top_via_branch_is(&request, want.param().as_bytes()) {
            return Err(TxError::BadBranchRequest);
        }
        self.with_tx(now, id, out, |tx, cfg, sink| {
            tx.add_branch(cfg, request, dst, sink)
        })
        .ok_or(TxError::NoTransaction)?
    }

    /// `t_reply(code, reason)`.
    pub fn reply(
        &mut self,
        now: Millis,
        id: TxId,
        code: u16,
        reason: &[u8],
        out: &mut Vec<Output>,
    ) -> Result<(), TxError> {
        let completed = self.stats.completed;
        let r = self
            .with_tx(now, id, out, |tx, cfg, sink| {
                tx.reply(cfg, code, reason, sink)
            })
            .ok_or(TxError::NoTransaction)?;
        if self.stats.completed > completed {
            self.stats.replied_locally += 1;
        }
        r
    }

    /// `t_on_failure()` armed (or disarmed) for `id`.
    pub fn set_on_failure(&mut self, id: TxId, armed: bool) -> Result<(), TxError> {
        let e = self.entry_mut(id).ok_or(TxError::NoTransaction)?;
        e.tx.set_on_failure(armed);
        Ok(())
    }

    /// `t_set_fr(fr_inv, fr)` for `id` (ms, 0 = unchanged).
    pub fn set_fr(&mut self, id: TxId, fr_inv_ms: u32, fr_ms: u32) -> Result<(), TxError> {
        let e = self.entry_mut(id).ok_or(TxError::NoTransaction)?;
        e.tx.set_fr(fr_inv_ms, fr_ms);
        Ok(())
    }

    /// `failure_route` has run for `id` (after [`Output::Failure`]).
    pub fn failure_done(
        &mut self,
        now: Millis,
        id: TxId,
        out: &mut Vec<Output>,
    ) -> Result<(), TxError> {
        self.with_tx(now, id, out, |tx, cfg, sink| tx.failure_done(cfg, sink))
            .ok_or(TxError::NoTransaction)
    }

    /// The transport could not send branch `n` of `id`.
    pub fn branch_transport_error(&mut self, now: Millis, id: TxId, n: u8, out: &mut Vec<Output>) {
        self.with_tx(now, id, out, |tx, cfg, sink| {
            tx.on_branch_transport_error(cfg, n, sink)
        });
    }

    /// Which transaction and branch a response belongs to, without acting:
    /// lets the runtime run `onreply_route` first.
    pub fn match_response(&self, msg: &Message) -> Result<(TxId, u8), ResponseMatch> {
        let b = msg
            .top_via()
            .and_then(|v| v.branch())
            .and_then(BranchId::parse)
            .ok_or(ResponseMatch::NoMatch)?;
        if b.shard != self.shard {
            return Err(ResponseMatch::OtherShard(b.shard));
        }
        let s = self
            .slots
            .get(b.slot as usize)
            .ok_or(ResponseMatch::NoMatch)?;
        let e = s.entry.as_deref().ok_or(ResponseMatch::NoMatch)?;
        //= RFC 3261 §17.1.3
        //# 1.  If the response has the same value of the branch parameter in
        //#     the top Via header field as the branch parameter in the top
        //#     Via header field of the request that created the transaction.
        //# 2.  If the method parameter in the CSeq header field matches the
        //#     method of the request that created the transaction.  The
        //#     method is needed since a CANCEL request constitutes a
        //#     different transaction, but shares the same value of the branch
        //#     parameter.
        let method = msg.method();
        let method_ok = method == e.tx.method()
            || (method == Method::Cancel && e.tx.method() == Method::Invite)
            || (method == Method::Other && e.tx.method() == Method::Other);
        if e.nonce != b.nonce || usize::from(b.index) >= e.tx.branch_count() || !method_ok {
            return Err(ResponseMatch::NoMatch);
        }
        Ok((
            TxId {
                slot: b.slot,
                gen: s.gen,
            },
            b.index,
        ))
    }

    /// A response from downstream, received from `src`.
    pub fn on_response(
        &mut self,
        now: Millis,
        msg: &Message,
        src: std::net::SocketAddr,
        out: &mut Vec<Output>,
    ) -> ResponseMatch {
        let (id, n) = match self.match_response(msg) {
            Ok(v) => v,
            Err(m) => return m,
        };
        self.with_tx(now, id, out, |tx, cfg, sink| {
            tx.on_branch_response(cfg, n, msg, src, sink)
        });
        ResponseMatch::Handled(id)
    }

    /// Runs every timer due at `now`.
    pub fn on_timer(&mut self, now: Millis, out: &mut Vec<Output>) {
        while let Some((at, r)) = self.timers.pop_due(now) {
            let id = TxId {
                slot: r.slot,
                gen: r.gen,
            };
            let current = self.entry(id).is_some_and(|e| e.tx.timer_is(r.which, at));
            if current {
                use super::timers::TimerKind as K;
                if matches!(
                    r.which,
                    TimerSlot::Branch(_, K::A | K::E) | TimerSlot::Server(K::G)
                ) {
                    self.stats.retransmissions_sent += 1;
                }
                let completed = self.stats.completed;
                self.with_tx(now, id, out, |tx, cfg, sink| {
                    tx.on_timer(cfg, r.which, sink)
                });
                // A final response decided by a timer (408, or the best
                // of branches that timed out) is the proxy's own.
                if self.stats.completed > completed {
                    self.stats.replied_locally += 1;
                }
            }
        }
        self.maybe_compact();
    }

    fn entry(&self, id: TxId) -> Option<&Entry> {
        let s = self.slots.get(id.slot as usize)?;
        (s.gen == id.gen).then_some(())?;
        s.entry.as_deref()
    }

    fn entry_mut(&mut self, id: TxId) -> Option<&mut Entry> {
        let s = self.slots.get_mut(id.slot as usize)?;
        (s.gen == id.gen).then_some(())?;
        s.entry.as_deref_mut()
    }

    /// Runs `f` on a live transaction, queues the timers it armed and frees
    /// it when it is done.
    fn with_tx<R>(
        &mut self,
        now: Millis,
        id: TxId,
        out: &mut Vec<Output>,
        f: impl FnOnce(&mut ProxyTx, &ProxyConfig, &mut Sink<'_>) -> R,
    ) -> Option<R> {
        let cfg = &self.cfg.proxy;
        let s = self.slots.get_mut(id.slot as usize)?;
        if s.gen != id.gen {
            return None;
        }
        let e = s.entry.as_deref_mut()?;
        let was_completed = e.tx.is_completed();
        let first_out = out.len();
        let mut sink = Sink::new(now, out);
        let r = f(&mut e.tx, cfg, &mut sink);
        if !was_completed && e.tx.is_completed() {
            let code = sink.out[first_out..].iter().rev().find_map(|o| match o {
                Output::Send { bytes, .. } => super::stats::status_of(bytes).filter(|c| *c >= 200),
                _ => None,
            });
            self.stats
                .final_reply(code.unwrap_or(500), now.saturating_sub(e.created));
        }
        for (which, at) in sink.arms {
            self.timers.push(
                at,
                TimerRef {
                    slot: id.slot,
                    gen: id.gen,
                    which,
                },
            );
        }
        if e.tx.is_done() {
            let key = e.key;
            let e_completed = e.tx.is_completed();
            s.entry = None;
            s.gen = s.gen.wrapping_add(1);
            self.index.remove(&key);
            self.free.push(id.slot);
            self.live -= 1;
            self.stats.freed += 1;
            if e_completed {
                self.stats.completed_freed += 1;
            }
        }
        Some(r)
    }

    /// Drops stale queue entries once they clearly outnumber what live
    /// transactions can have armed (a handful each), so re-armed timers
    /// cannot grow the queue without limit. Amortised: runs at most once
    /// per doubling.
    fn maybe_compact(&mut self) {
        if self.timers.len() <= 8 * self.live + 1024 {
            return;
        }
        let slots = &self.slots;
        self.timers.compact(|at, r| {
            slots.get(r.slot as usize).is_some_and(|s| {
                s.gen == r.gen
                    && s.entry
                        .as_deref()
                        .is_some_and(|e| e.tx.timer_is(r.which, at))
            })
        });
    }
}

/// The 32-hex part of our branches: MD5 over the seed, shard, slot and
/// generation, so it differs per transaction and cannot be guessed.
fn nonce(seed: &[u8; 16], shard: u16, slot: u32, gen: u32) -> u128 {
    let mut h = Md5::new();
    h.update(seed);
    h.update(shard.to_be_bytes());
    h.update(slot.to_be_bytes());
    h.update(gen.to_be_bytes());
    u128::from_be_bytes(h.finalize().into())
}
