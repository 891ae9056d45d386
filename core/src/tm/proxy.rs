//! One stateful proxy transaction (RFC 3261 §16): the server transaction
//! for the received request, one client transaction per branch, the CANCEL
//! client transactions, and the response context that picks what goes
//! upstream.
//!
//! The flow, as Kamailio's `t_relay()` runs it:
//!
//! 1. [`ProxyTx::start`]: an INVITE is answered `100 trying -- your call is
//!    important to us` at once (`auto_inv_100`).
//! 2. [`ProxyTx::add_branch`] per destination (parallel forking); each gets a
//!    client transaction that retransmits and times out by itself.
//! 3. Responses: 100 is absorbed (`relay_100` = 0); other provisionals are
//!    relayed until a final one is sent; every 2xx is relayed at once and
//!    cancels the other branches; 3xx–6xx are stored and ACKed hop by hop,
//!    a 6xx cancels the other branches. A branch that times out gets a
//!    local 408 (487 once cancelled); one that fails to send, a 503.
//! 4. When every branch has a final response: if `failure_route` is armed,
//!    [`Output::Failure`] lets the runtime run it; it may add branches
//!    (serial failover), reply with [`ProxyTx::reply`], or do nothing; then
//!    it calls [`ProxyTx::failure_done`]. Otherwise the best response goes
//!    upstream (§16.7: 6xx, lowest class, 401/407 challenges merged, 503
//!    relayed as 500).
//! 5. A CANCEL for the INVITE is answered `200 canceling`, and every branch
//!    that has seen a provisional gets a CANCEL (§9.1); one that has not gets
//!    it when its first provisional arrives (Kamailio `cancel_b_method` 1).
//!
//! Timer C (`fr_inv_timer`) runs per INVITE branch from its first
//! provisional and restarts on each; when it fires the branch is cancelled
//! and counts as a local 408 (Kamailio `noisy_ctimer`). A whole-transaction
//! lifetime (`max_inv_lifetime` / `max_noninv_lifetime`) bounds everything.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use smallvec::SmallVec;

use super::best;
use super::build;
use super::client_invite::ClientInvite;
use super::client_non_invite::ClientNonInvite;
use super::machine::{Action, Actions, Event, Outgoing, Up};
use super::server_invite::ServerInvite;
use super::server_non_invite::ServerNonInvite;
use super::timers::{Millis, TimerConfig, TimerKind};
use crate::proxy::reply::{build_reply, reply_destination, LocalReply};
use crate::proxy::{reply_bytes, Destination, KnownVia};
use crate::sip::{Edits, Message, Method, Span};
use crate::transport::Transport;

/// Kamailio's `auto_inv_100_reason`.
pub const TRYING_REASON: &[u8] = b"trying -- your call is important to us";

/// Proxy behaviour switches (Kamailio tm modparams).
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub timers: TimerConfig,
    /// Prefix of the To-tags of local replies (`proxy::reply::to_tag_prefix`).
    pub to_tag_prefix: [u8; 32],
    /// `auto_inv_100`: answer an INVITE with 100 when the transaction starts.
    pub auto_inv_100: bool,
    /// `remap_503_500`: a 503 goes upstream as 500 (§16.7 step 6).
    pub remap_503_500: bool,
    /// `disable_6xx_block`: a 6xx does not cancel the other branches.
    pub disable_6xx_block: bool,
    /// Most branches one transaction may have (Kamailio `MAX_BRANCHES` 12).
    pub max_branches: u8,
}

impl Default for ProxyConfig {
    fn default() -> ProxyConfig {
        ProxyConfig {
            timers: TimerConfig::default(),
            to_tag_prefix: [b'0'; 32],
            auto_inv_100: true,
            remap_503_500: true,
            disable_6xx_block: false,
            max_branches: 12,
        }
    }
}

/// A transaction's handle in its shard's table: slot and generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxId {
    pub slot: u32,
    pub gen: u32,
}

/// Which timer of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerSlot {
    /// A timer of the server transaction (G, H, I, J, L).
    Server(TimerKind),
    /// A timer of branch `n`'s client transaction (A, B, D, E, F, K, M) or
    /// its Timer C.
    Branch(u8, TimerKind),
    /// A timer of the CANCEL sent on branch `n`.
    Cancel(u8, TimerKind),
    /// §9.1: 64·T1 after a CANCEL without a final response, give the branch up.
    CancelGuard(u8),
    /// `max_inv_lifetime` / `max_noninv_lifetime`.
    Lifetime,
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `bytes` to `dst`. `branch` names the transaction and branch
    /// when `bytes` is that branch's request: if the transport cannot send
    /// it, the runtime calls `Table::branch_transport_error` (§16.9).
    Send {
        dst: Destination,
        bytes: Rc<[u8]>,
        branch: Option<(TxId, u8)>,
    },
    /// Every branch of `tx` failed and `failure_route` is armed: run it,
    /// then call `failure_done`. `code` is the best response so far.
    Failure { tx: TxId, code: u16 },
}

/// Where a transaction's outputs go during one call.
#[derive(Debug)]
pub struct Sink<'a> {
    pub now: Millis,
    pub out: &'a mut Vec<Output>,
    /// Timers armed during the call, for the table's queue.
    pub arms: SmallVec<[(TimerSlot, Millis); 8]>,
}

impl<'a> Sink<'a> {
    pub fn new(now: Millis, out: &'a mut Vec<Output>) -> Sink<'a> {
        Sink {
            now,
            out,
            arms: SmallVec::new(),
        }
    }
}

/// Why a call on a transaction was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxError {
    /// The id names no live transaction.
    NoTransaction,
    /// A final response has gone upstream; no new branch (§16.7 step 10).
    Completed,
    /// The transaction was cancelled; no new branch (§16.10).
    Canceled,
    /// `max_branches` reached.
    TooManyBranches,
    /// The branch request's top Via branch is not the one `branch_param`
    /// gave.
    BadBranchRequest,
    /// `reply` with a code outside 100..=699.
    BadStatus,
}

impl std::fmt::Display for TxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TxError::NoTransaction => "no such transaction",
            TxError::Completed => "a final response was already sent",
            TxError::Canceled => "the transaction was cancelled",
            TxError::TooManyBranches => "too many branches",
            TxError::BadBranchRequest => "branch request does not carry the expected Via branch",
            TxError::BadStatus => "status code outside 100..=699",
        })
    }
}

impl std::error::Error for TxError {}

#[derive(Debug)]
enum Client {
    Invite(ClientInvite),
    NonInvite(ClientNonInvite),
}

#[derive(Debug)]
enum Server {
    Invite(ServerInvite),
    NonInvite(ServerNonInvite),
}

#[derive(Debug)]
enum CancelState {
    None,
    /// Cancelled before any provisional: send the CANCEL on the first one.
    Pending,
    Sent {
        tx: ClientNonInvite,
        bytes: Rc<[u8]>,
    },
}

#[derive(Debug)]
struct Branch {
    request: Rc<[u8]>,
    dst: Destination,
    client: Client,
    provisional: bool,
    final_code: Option<u16>,
    cancel: CancelState,
    /// Given up (§9.1 guard or lifetime): its client machine is ignored.
    abandoned: bool,
    /// Ended by a timer (B/F, C, the CANCEL guard): Kamailio's `F_RB_TIMEOUT`.
    timed_out: bool,
    /// A response was received and processed: Kamailio's `F_RB_REPLIED`.
    replied: bool,
    /// Where the branch's latest response came from (`$T_rpl($si)`).
    reply_src: Option<SocketAddr>,
}

impl Branch {
    fn client_done(&self) -> bool {
        self.abandoned
            || match &self.client {
                Client::Invite(c) => c.is_terminated(),
                Client::NonInvite(c) => c.is_terminated(),
            }
    }

    fn cancel_done(&self) -> bool {
        match &self.cancel {
            CancelState::Sent { tx, .. } => self.abandoned || tx.is_terminated(),
            _ => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Collecting responses; nothing final sent.
    Relaying,
    /// `Output::Failure` emitted; waiting for `failure_done`.
    FailureRoute,
    /// A final response went upstream.
    Completed,
}

/// The best final response so far.
#[derive(Debug)]
struct Best {
    code: u16,
    /// The branch it came from (Kamailio's picked branch).
    branch: u8,
    /// The received response (our Via still on top); None for a local one.
    resp: Option<Rc<[u8]>>,
}

/// One stateful proxy transaction.
#[derive(Debug)]
pub struct ProxyTx {
    id: TxId,
    /// The received request, kept once.
    request: Box<[u8]>,
    /// Its top Via (where it lies in `request`) and whether a response may
    /// go back through it: a response's next Via is usually the same text
    /// and need not be parsed again.
    request_via: Span,
    request_via_relayable: bool,
    method: Method,
    src: SocketAddr,
    upstream: Destination,
    server: Server,
    last_reply: Option<Rc<[u8]>>,
    branches: Vec<Branch>,
    best: Option<Best>,
    /// Challenges of 401/407 responses other than the best (§16.7 step 7).
    auth: Vec<u8>,
    phase: Phase,
    canceled: bool,
    failure_armed: bool,
    killed: bool,
    /// The picked branch when `failure_route` was last triggered.
    failed: Option<Box<FailedBranch>>,
    /// `t_set_fr`: `[fr_inv_timer, fr_timer]` in ms for this transaction's
    /// branches started afterwards; 0 keeps the module's value.
    fr: [u32; 2],
    /// Armed timers and their deadlines; the table's queue may hold stale
    /// entries, this list is the truth.
    timers: SmallVec<[(TimerSlot, Millis); 6]>,
}

/// The branch whose final response `failure_route` sees (Kamailio's
/// picked branch), as it was when every branch had failed.
#[derive(Debug, Clone)]
pub struct FailedBranch {
    pub index: u8,
    /// `t_branch_timeout()`: it ended by a timer, not by a response.
    pub timeout: bool,
    /// `t_branch_replied()`: it had received a response before the one
    /// that ended it (Kamailio marks the branch after processing a reply).
    pub replied: bool,
    /// The received final response (`$T_rpl`); None for a local one.
    pub reply: Option<Rc<[u8]>>,
    /// Where that response came from (`$T_rpl($si)`, `$T_rpl($sp)`).
    pub reply_src: Option<SocketAddr>,
    /// Where the branch was sent.
    pub dst: Destination,
}

fn parse(bytes: &[u8]) -> Option<Message> {
    Message::parse(bytes.to_vec()).ok()
}

impl ProxyTx {
    /// Creates the transaction for `req`, received from `src` over `proto`.
    pub fn new(id: TxId, req: &Message, src: SocketAddr, proto: Transport) -> ProxyTx {
        let reliable = proto.is_stream();
        let method = req.method();
        let top = req.top_via();
        ProxyTx {
            id,
            request: req.as_bytes().into(),
            request_via: top.and_then(|v| req.span_of(v.raw)).unwrap_or_default(),
            request_via_relayable: top.is_some_and(|v| KnownVia::new(&v).relayable),
            method,
            src,
            upstream: reply_destination(req, src, proto),
            server: if method == Method::Invite {
                Server::Invite(ServerInvite::new(reliable))
            } else {
                Server::NonInvite(ServerNonInvite::new(reliable))
            },
            last_reply: None,
            branches: Vec::new(),
            best: None,
            auth: Vec::new(),
            phase: Phase::Relaying,
            canceled: false,
            failure_armed: false,
            killed: false,
            failed: None,
            fr: [0, 0],
            timers: SmallVec::new(),
        }
    }

    /// `t_set_fr(fr_inv, fr)`: Timer C (`fr_inv_timer`) and Timer B/F
    /// (`fr_timer`) for branches started from now on; 0 leaves one as is.
    pub fn set_fr(&mut self, fr_inv_ms: u32, fr_ms: u32) {
        for (slot, v) in self.fr.iter_mut().zip([fr_inv_ms, fr_ms]) {
            if v > 0 {
                *slot = v;
            }
        }
    }

    /// The timers this transaction runs with (`t_set_fr` applied).
    fn timers(&self, cfg: &ProxyConfig) -> TimerConfig {
        let mut t = cfg.timers;
        if self.fr[0] > 0 {
            t.fr_inv_timer = Duration::from_millis(u64::from(self.fr[0]));
        }
        if self.fr[1] > 0 {
            t.fr_timer = Duration::from_millis(u64::from(self.fr[1]));
        }
        t
    }

    pub fn id(&self) -> TxId {
        self.id
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// The received request's bytes.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// Where the request came from and over which transport.
    pub fn source(&self) -> (SocketAddr, Transport) {
        (self.src, self.upstream.transport)
    }

    /// `t_is_canceled()`.
    pub fn is_canceled(&self) -> bool {
        self.canceled
    }

    /// A final response has gone upstream.
    pub fn is_completed(&self) -> bool {
        self.phase == Phase::Completed
    }

    pub fn branch_count(&self) -> usize {
        self.branches.len()
    }

    /// The final code of branch `n`, if it has one (received or local).
    pub fn branch_final(&self, n: u8) -> Option<u16> {
        self.branches.get(usize::from(n))?.final_code
    }

    /// The picked branch of the last `failure_route` trigger.
    pub fn failed_branch(&self) -> Option<&FailedBranch> {
        self.failed.as_deref()
    }

    /// `t_on_failure()`: run `failure_route` when every branch failed.
    pub fn set_on_failure(&mut self, armed: bool) {
        self.failure_armed = armed;
    }

    /// Heap bytes this transaction keeps (request, branch requests, best
    /// response, last reply, challenges, with the 16-byte header of each
    /// `Rc`), for accounting.
    pub fn heap_bytes(&self) -> usize {
        const RC: usize = 16;
        let rcs = self.branches.len()
            + usize::from(self.last_reply.is_some())
            + usize::from(self.best.as_ref().is_some_and(|b| b.resp.is_some()));
        rcs * RC
            + self.request.len()
            + self.branches.capacity() * std::mem::size_of::<Branch>()
            + self
                .branches
                .iter()
                .map(|b| {
                    b.request.len()
                        + b.dst.host.capacity()
                        + match &b.cancel {
                            CancelState::Sent { bytes, .. } => bytes.len(),
                            _ => 0,
                        }
                })
                .sum::<usize>()
            + self
                .best
                .as_ref()
                .and_then(|b| b.resp.as_ref())
                .map_or(0, |r| r.len())
            + self.last_reply.as_ref().map_or(0, |r| r.len())
            + self.auth.capacity()
            + self.upstream.host.capacity()
            + self.failed.as_ref().map_or(0, |f| {
                std::mem::size_of::<FailedBranch>() + f.dst.host.capacity()
            })
    }

    /// Every machine has terminated (or the transaction was killed): the
    /// state can be freed.
    pub fn is_done(&self) -> bool {
        if self.killed {
            return true;
        }
        let server_done = match &self.server {
            Server::Invite(s) => s.is_terminated(),
            Server::NonInvite(s) => s.is_terminated(),
        };
        server_done
            && self
                .branches
                .iter()
                .all(|b| b.client_done() && b.cancel_done())
    }

    /// Whether `slot` is armed with `deadline` (stale queue entries are not).
    pub fn timer_is(&self, slot: TimerSlot, deadline: Millis) -> bool {
        self.timers.iter().any(|&(s, d)| s == slot && d == deadline)
    }

    /// Number of armed timers.
    pub fn armed_timers(&self) -> usize {
        self.timers.len()
    }

    fn arm(&mut self, slot: TimerSlot, d: Duration, sink: &mut Sink<'_>) {
        let at = sink
            .now
            .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        match self.timers.iter_mut().find(|(s, _)| *s == slot) {
            Some(t) => t.1 = at,
            None => self.timers.push((slot, at)),
        }
        sink.arms.push((slot, at));
    }

    fn disarm(&mut self, slot: TimerSlot) {
        self.timers.retain(|(s, _)| *s != slot);
    }

    fn send(&self, dst: &Destination, bytes: Rc<[u8]>, sink: &mut Sink<'_>) {
        sink.out.push(Output::Send {
            dst: dst.clone(),
            bytes,
            branch: None,
        });
    }

    // ----- start, local replies -------------------------------------------

    /// Arms the lifetime and, for an INVITE, sends 100 Trying. `req` is
    /// the request the transaction was created from (already parsed, so
    /// the 100 does not parse the stored copy again).
    pub fn start(&mut self, cfg: &ProxyConfig, req: &Message, sink: &mut Sink<'_>) {
        let life = if self.method == Method::Invite {
            cfg.timers.max_inv_lifetime
        } else {
            cfg.timers.max_noninv_lifetime
        };
        self.arm(TimerSlot::Lifetime, life, sink);
        //= RFC 3261 §16.2
        //# Thus, a stateful proxy SHOULD NOT generate 100 (Trying) responses
        //# to non-INVITE requests.
        //= RFC 3261 §17.2.1
        //# the server transaction MUST generate a 100 (Trying) response
        //# unless it knows that the TU will generate a provisional or final
        //# response within 200 ms
        if self.method == Method::Invite && cfg.auto_inv_100 {
            self.reply_to(cfg, req, 100, TRYING_REASON, sink);
        }
    }

    fn local_reply(&mut self, cfg: &ProxyConfig, code: u16, reason: &[u8], sink: &mut Sink<'_>) {
        let Some(req) = parse(&self.request) else {
            return;
        };
        self.reply_to(cfg, &req, code, reason, sink);
    }

    /// A local response to `req` (the transaction's request) upstream.
    fn reply_to(
        &mut self,
        cfg: &ProxyConfig,
        req: &Message,
        code: u16,
        reason: &[u8],
        sink: &mut Sink<'_>,
    ) {
        let bytes = build_reply(
            req,
            self.src,
            &LocalReply::new(code, reason, &cfg.to_tag_prefix),
        );
        self.send_upstream(cfg, code, bytes.into(), sink);
    }

    /// `t_reply(code, reason)`: a local response upstream. A final one
    /// completes the transaction and cancels the pending branches.
    pub fn reply(
        &mut self,
        cfg: &ProxyConfig,
        code: u16,
        reason: &[u8],
        sink: &mut Sink<'_>,
    ) -> Result<(), TxError> {
        if !(100..=699).contains(&code) {
            return Err(TxError::BadStatus);
        }
        if self.phase == Phase::Completed && !(200..300).contains(&code) {
            return Err(TxError::Completed);
        }
        if code >= 200 {
            self.phase = Phase::Completed;
            self.cancel_pending(cfg, b"", sink);
        }
        self.local_reply(cfg, code, reason, sink);
        Ok(())
    }

    fn send_upstream(
        &mut self,
        cfg: &ProxyConfig,
        code: u16,
        bytes: Rc<[u8]>,
        sink: &mut Sink<'_>,
    ) {
        self.last_reply = Some(bytes);
        self.run_server(cfg, Event::Response(code), sink);
    }

    // ----- the server transaction -------------------------------------------

    fn run_server(&mut self, cfg: &ProxyConfig, ev: Event, sink: &mut Sink<'_>) {
        let mut acts = Actions::new();
        match &mut self.server {
            Server::Invite(s) => s.on_event(&cfg.timers, ev, &mut acts),
            Server::NonInvite(s) => s.on_event(&cfg.timers, ev, &mut acts),
        };
        for a in acts {
            match a {
                Action::Send(Outgoing::Response) => {
                    if let Some(r) = &self.last_reply {
                        self.send(&self.upstream, r.clone(), sink);
                    }
                }
                Action::Arm(k, d) => self.arm(TimerSlot::Server(k), d, sink),
                Action::Cancel(k) => self.disarm(TimerSlot::Server(k)),
                // No ACK for our final response (Timer H), a 2xx ACK in
                // Accepted (forwarded end to end by the script), a transport
                // error upstream: nothing more to do here.
                Action::PassUp(_) | Action::Send(_) | Action::Terminated => {}
            }
        }
    }

    /// A retransmission of the request: the last response goes again
    /// (§17.2.1, §17.2.2), or nothing.
    pub fn on_retransmission(&mut self, cfg: &ProxyConfig, sink: &mut Sink<'_>) {
        self.run_server(cfg, Event::Request, sink);
    }

    /// An ACK for our non-2xx final response (hop by hop, absorbed).
    pub fn on_ack(&mut self, cfg: &ProxyConfig, sink: &mut Sink<'_>) {
        self.run_server(cfg, Event::Ack, sink);
    }

    // ----- branches ---------------------------------------------------------

    /// Checks that a new branch may be added; returns its index.
    pub fn next_branch_index(&self, cfg: &ProxyConfig) -> Result<u8, TxError> {
        if self.phase == Phase::Completed {
            return Err(TxError::Completed);
        }
        if self.canceled {
            return Err(TxError::Canceled);
        }
        let n = self.branches.len();
        if n >= usize::from(cfg.max_branches) {
            return Err(TxError::TooManyBranches);
        }
        u8::try_from(n).map_err(|_| TxError::TooManyBranches)
    }

    /// Adds a branch: `request` is the outgoing request (already carrying
    /// our Via with the branch the table gave), `dst` where it goes. Its
    /// client transaction starts at once.
    pub fn add_branch(
        &mut self,
        cfg: &ProxyConfig,
        request: Vec<u8>,
        dst: Destination,
        sink: &mut Sink<'_>,
    ) -> Result<u8, TxError> {
        let n = self.next_branch_index(cfg)?;
        if self.phase == Phase::FailureRoute && self.branches.iter().all(|b| b.final_code.is_some())
        {
            // Serial failover: failure_route sees only the replies of the
            // new step (Kamailio `failure_reply_mode` 3).
            self.best = None;
            self.auth.clear();
        }
        if self.phase == Phase::FailureRoute {
            self.phase = Phase::Relaying;
        }
        let reliable = dst.transport.is_stream();
        let mut acts = Actions::new();
        let timers = self.timers(cfg);
        let client = if self.method == Method::Invite {
            Client::Invite(ClientInvite::start(&timers, reliable, &mut acts))
        } else {
            Client::NonInvite(ClientNonInvite::start(&timers, reliable, &mut acts))
        };
        // Grow one at a time: most transactions have one or two branches.
        self.branches.reserve_exact(1);
        self.branches.push(Branch {
            request: request.into(),
            dst,
            client,
            provisional: false,
            final_code: None,
            cancel: CancelState::None,
            abandoned: false,
            timed_out: false,
            replied: false,
            reply_src: None,
        });
        self.apply_client(cfg, n, acts, None, sink);
        Ok(n)
    }

    fn run_client(
        &mut self,
        cfg: &ProxyConfig,
        n: u8,
        ev: Event,
        resp: Option<&Message>,
        sink: &mut Sink<'_>,
    ) {
        let timers = self.timers(cfg);
        let Some(b) = self.branches.get_mut(usize::from(n)) else {
            return;
        };
        if b.abandoned {
            return;
        }
        let mut acts = Actions::new();
        match &mut b.client {
            Client::Invite(c) => c.on_event(&timers, ev, &mut acts),
            Client::NonInvite(c) => c.on_event(&timers, ev, &mut acts),
        };
        self.apply_client(cfg, n, acts, resp, sink);
    }

    fn apply_client(
        &mut self,
        cfg: &ProxyConfig,
        n: u8,
        acts: Actions,
        resp: Option<&Message>,
        sink: &mut Sink<'_>,
    ) {
        let mut ups: SmallVec<[Up; 2]> = SmallVec::new();
        for a in acts {
            match a {
                Action::Send(Outgoing::Request) => {
                    let b = &self.branches[usize::from(n)];
                    sink.out.push(Output::Send {
                        dst: b.dst.clone(),
                        bytes: b.request.clone(),
                        branch: Some((self.id, n)),
                    });
                }
                Action::Send(Outgoing::Ack) => {
                    let b = &self.branches[usize::from(n)];
                    let ack =
                        resp.and_then(|r| parse(&b.request).and_then(|q| build::ack_for(&q, r)));
                    if let Some(ack) = ack {
                        self.send(&b.dst, ack.into(), sink);
                    }
                }
                Action::Send(Outgoing::Response) | Action::Terminated => {}
                Action::Arm(k, d) => self.arm(TimerSlot::Branch(n, k), d, sink),
                Action::Cancel(k) => self.disarm(TimerSlot::Branch(n, k)),
                Action::PassUp(up) => ups.push(up),
            }
        }
        for up in ups {
            match up {
                Up::Response(code) => {
                    if let Some(r) = resp {
                        self.branch_response(cfg, n, code, r, sink);
                    }
                }
                Up::Timeout => {
                    let code = if self.canceled { 487 } else { 408 };
                    self.branches[usize::from(n)].timed_out = true;
                    self.branch_local_final(cfg, n, code, sink);
                }
                //= RFC 3261 §16.9
                //# If the transport layer notifies a proxy of an error when it
                //# tries to forward a request, the proxy MUST behave as if the
                //# forwarded request received a 503 (Service Unavailable)
                //# response.
                Up::TransportError => self.branch_local_final(cfg, n, 503, sink),
                Up::Ack => {}
            }
        }
    }

    /// A response received for branch `n` (matched by the table) from `src`.
    pub fn on_branch_response(
        &mut self,
        cfg: &ProxyConfig,
        n: u8,
        resp: &Message,
        src: SocketAddr,
        sink: &mut Sink<'_>,
    ) {
        let Some(code) = resp.status() else {
            return;
        };
        if resp.method() == Method::Cancel {
            self.run_cancel(cfg, n, Event::Response(code), sink);
        } else {
            if let Some(b) = self.branches.get_mut(usize::from(n)) {
                b.reply_src = Some(src);
            }
            self.run_client(cfg, n, Event::Response(code), Some(resp), sink);
            // After the response is processed, as Kamailio: a failure_route
            // it triggered sees the branch as not replied before it.
            if let Some(b) = self.branches.get_mut(usize::from(n)) {
                b.replied = true;
            }
        }
    }

    /// The transport could not send on branch `n`.
    pub fn on_branch_transport_error(&mut self, cfg: &ProxyConfig, n: u8, sink: &mut Sink<'_>) {
        self.run_client(cfg, n, Event::TransportError, None, sink);
    }

    fn branch_response(
        &mut self,
        cfg: &ProxyConfig,
        n: u8,
        code: u16,
        resp: &Message,
        sink: &mut Sink<'_>,
    ) {
        let i = usize::from(n);
        let invite = self.method == Method::Invite;
        if code < 200 {
            self.branches[i].provisional = true;
            if invite && self.branches[i].final_code.is_none() {
                //= RFC 3261 §16.7
                //# If a provisional response is received for an INVITE ...
                //# the proxy MUST reset timer C
                self.arm(
                    TimerSlot::Branch(n, TimerKind::C),
                    self.timers(cfg).fr_inv_timer,
                    sink,
                );
            }
            if matches!(self.branches[i].cancel, CancelState::Pending) {
                self.send_cancel(cfg, n, b"", sink);
            }
            //= RFC 3261 §16.7
            //# the proxy MUST NOT forward a 100 (Trying) response.
            if code > 100 && self.phase != Phase::Completed {
                self.relay(cfg, code, resp, sink);
            }
            return;
        }
        self.disarm(TimerSlot::Branch(n, TimerKind::C));
        if code < 300 {
            //= RFC 3261 §16.7
            //# Any response chosen for immediate forwarding MUST be processed
            //# as described in steps "Aggregate Authorization Header Field
            //# Values" through "Record-Route".  ... 2xx responses are
            //# forwarded immediately.
            self.branches[i].final_code = Some(code);
            let first_final = self.phase != Phase::Completed;
            self.phase = Phase::Completed;
            self.relay(cfg, code, resp, sink);
            if first_final && invite {
                //= RFC 3261 §16.7
                //# If a final response has been sent on the server
                //# transaction, ... the proxy MUST cancel all pending client
                //# transactions
                self.cancel_pending(
                    cfg,
                    b"Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n",
                    sink,
                );
            }
            return;
        }
        if self.branches[i].final_code.is_some() {
            // Already failed locally (Timer C): the ACK went out, done.
            return;
        }
        self.branches[i].final_code = Some(code);
        if self.phase == Phase::Completed {
            return;
        }
        self.consider(n, code, Some(resp));
        //= RFC 3261 §16.7
        //# If a 6xx response is received, it is not immediately forwarded,
        //# but the stateful proxy SHOULD cancel all client pending
        //# transactions as described in Section 10
        if code >= 600 && invite && !cfg.disable_6xx_block {
            self.cancel_pending(cfg, b"", sink);
        }
        self.check_all_failed(cfg, sink);
    }

    /// Branch `n` ends with a local `code` (timeout, transport error).
    fn branch_local_final(&mut self, cfg: &ProxyConfig, n: u8, code: u16, sink: &mut Sink<'_>) {
        let b = &mut self.branches[usize::from(n)];
        if b.final_code.is_some() {
            return;
        }
        b.final_code = Some(code);
        self.disarm(TimerSlot::Branch(n, TimerKind::C));
        if self.phase != Phase::Completed {
            self.consider(n, code, None);
            self.check_all_failed(cfg, sink);
        }
    }

    /// Updates the best response and the challenges to merge.
    fn consider(&mut self, n: u8, code: u16, resp: Option<&Message>) {
        let is_better = best::better(code, self.best.as_ref().map(|b| b.code));
        if is_better {
            if let Some(old) = self.best.take() {
                if best::is_challenge(old.code) {
                    if let Some(m) = old.resp.as_ref().and_then(|r| parse(r)) {
                        build::auth_lines(&m, &mut self.auth);
                    }
                }
            }
            self.best = Some(Best {
                code,
                branch: n,
                resp: resp.map(|r| Rc::from(r.as_bytes())),
            });
        } else if best::is_challenge(code) {
            if let Some(r) = resp {
                build::auth_lines(r, &mut self.auth);
            }
        }
    }

    fn check_all_failed(&mut self, cfg: &ProxyConfig, sink: &mut Sink<'_>) {
        if self.phase != Phase::Relaying || self.branches.iter().any(|b| b.final_code.is_none()) {
            return;
        }
        if self.failure_armed {
            // Armed once: failure_route re-arms with t_on_failure() for
            // another round.
            self.failure_armed = false;
            self.phase = Phase::FailureRoute;
            self.failed = self.best.as_ref().and_then(|best| {
                let b = self.branches.get(usize::from(best.branch))?;
                Some(Box::new(FailedBranch {
                    index: best.branch,
                    timeout: b.timed_out,
                    replied: b.replied,
                    reply: best.resp.clone(),
                    reply_src: best.resp.as_ref().and(b.reply_src),
                    dst: b.dst.clone(),
                }))
            });
            sink.out.push(Output::Failure {
                tx: self.id,
                code: self.best.as_ref().map_or(408, |b| b.code),
            });
        } else {
            self.send_best(cfg, sink);
        }
    }

    /// `failure_route` has returned. Unless it added a branch or replied,
    /// the best response goes upstream.
    pub fn failure_done(&mut self, cfg: &ProxyConfig, sink: &mut Sink<'_>) {
        if self.phase == Phase::FailureRoute {
            self.send_best(cfg, sink);
        }
    }

    /// Sends the best final response upstream.
    fn send_best(&mut self, cfg: &ProxyConfig, sink: &mut Sink<'_>) {
        self.phase = Phase::Completed;
        let (code, resp) = match &self.best {
            Some(b) => (b.code, b.resp.clone()),
            None => (408, None),
        };
        //= RFC 3261 §16.7
        //# The proxy SHOULD map 503 (Service Unavailable) response to 500
        //# (Server Internal Error) ... (Kamailio `remap_503_500`).
        let out_code = if code == 503 && cfg.remap_503_500 {
            500
        } else {
            code
        };
        if let Some(m) = resp.as_ref().and_then(|r| parse(r)) {
            let mut edits = Edits::new();
            if out_code != code {
                if let Some(r) = build::status_code_range(&m) {
                    edits.replace(r, b"500");
                }
            }
            if best::is_challenge(code) && !self.auth.is_empty() {
                //= RFC 3261 §16.7
                //# If the selected response is a 401 (Unauthorized) or 407
                //# (Proxy Authentication Required), the proxy MUST collect
                //# any WWW-Authenticate and Proxy-Authenticate header field
                //# values from all other 401 (Unauthorized) and 407 (Proxy
                //# Authentication Required) responses received so far in this
                //# response context and add them to this response without
                //# modification before forwarding.
                edits.add_header(&m, &self.auth);
            }
            if let Ok(r) = reply_bytes(&m, &edits, |_| true, Some(self.request_via())) {
                self.send_upstream(cfg, out_code, r.into(), sink);
                return;
            }
        }
        let reason: &[u8] = match out_code {
            408 => b"Request Timeout",
            487 => b"Request Terminated",
            500 => b"Server Internal Error",
            _ => b"Error",
        };
        self.local_reply(cfg, out_code, reason, sink);
    }

    /// The request's top Via, as checked when it came in.
    fn request_via(&self) -> KnownVia<'_> {
        KnownVia {
            raw: self.request_via.of(&self.request),
            relayable: self.request_via_relayable,
        }
    }

    /// Relays a received response upstream as is (minus our Via).
    fn relay(&mut self, cfg: &ProxyConfig, code: u16, resp: &Message, sink: &mut Sink<'_>) {
        if let Ok(r) = reply_bytes(resp, &Edits::new(), |_| true, Some(self.request_via())) {
            self.send_upstream(cfg, code, r.into(), sink);
        }
    }

    // ----- CANCEL -----------------------------------------------------------

    /// A CANCEL matching this INVITE arrived from `src` over `proto`:
    /// `200 canceling` to it, CANCEL on every pending branch (§16.10).
    pub fn on_cancel(
        &mut self,
        cfg: &ProxyConfig,
        cancel: &Message,
        src: SocketAddr,
        proto: Transport,
        sink: &mut Sink<'_>,
    ) {
        //= RFC 3261 §16.10
        //# If a response context is found, the element MUST immediately
        //# return a 200 (OK) response to the CANCEL request.
        let ok = build_reply(
            cancel,
            src,
            &LocalReply::new(200, b"canceling", &cfg.to_tag_prefix),
        );
        self.send(&reply_destination(cancel, src, proto), ok.into(), sink);
        if self.method != Method::Invite || self.phase == Phase::Completed {
            return;
        }
        self.canceled = true;
        // e2e_cancel_reason: the caller's Reason goes downstream.
        let mut reason = Vec::new();
        for h in cancel.headers_named(b"Reason") {
            reason.extend_from_slice(h.name_bytes);
            reason.extend_from_slice(b": ");
            reason.extend_from_slice(h.value);
            reason.extend_from_slice(b"\r\n");
        }
        //= RFC 3261 §16.10
        //# the element MUST generate CANCEL requests for all pending client
        //# transactions in the context as described in Section 16.7 step 10.
        self.cancel_pending(cfg, &reason, sink);
        if self.branches.is_empty() && self.phase == Phase::Relaying {
            self.reply(cfg, 487, b"Request Terminated", sink).ok();
        }
    }

    /// CANCELs every branch without a final response.
    fn cancel_pending(&mut self, cfg: &ProxyConfig, reason: &[u8], sink: &mut Sink<'_>) {
        if self.method != Method::Invite {
            return;
        }
        for n in 0..self.branches.len() {
            let b = &mut self.branches[n];
            if b.final_code.is_some() || !matches!(b.cancel, CancelState::None) {
                continue;
            }
            let n = u8::try_from(n).unwrap_or(u8::MAX);
            if b.provisional {
                self.send_cancel(cfg, n, reason, sink);
            } else {
                //= RFC 3261 §9.1
                //# If no provisional response has been received, the CANCEL
                //# request MUST NOT be sent; rather, the client MUST wait for
                //# the arrival of a provisional response before sending the
                //# request.
                b.cancel = CancelState::Pending;
            }
        }
    }

    fn send_cancel(&mut self, cfg: &ProxyConfig, n: u8, reason: &[u8], sink: &mut Sink<'_>) {
        let b = &mut self.branches[usize::from(n)];
        let Some(bytes) = parse(&b.request).and_then(|q| build::cancel_for(&q, reason)) else {
            return;
        };
        let mut acts = Actions::new();
        let tx = ClientNonInvite::start(&cfg.timers, b.dst.transport.is_stream(), &mut acts);
        b.cancel = CancelState::Sent {
            tx,
            bytes: bytes.into(),
        };
        self.apply_cancel(n, acts, sink);
        //= RFC 3261 §9.1
        //# If there is no final response for the original request in 64*T1
        //# seconds ..., the client SHOULD then consider the original
        //# transaction cancelled and SHOULD destroy the client transaction
        //# handling the original request.
        self.arm(
            TimerSlot::CancelGuard(n),
            cfg.timers.t1.saturating_mul(64),
            sink,
        );
    }

    fn run_cancel(&mut self, cfg: &ProxyConfig, n: u8, ev: Event, sink: &mut Sink<'_>) {
        let Some(b) = self.branches.get_mut(usize::from(n)) else {
            return;
        };
        let CancelState::Sent { tx, .. } = &mut b.cancel else {
            return;
        };
        let mut acts = Actions::new();
        tx.on_event(&cfg.timers, ev, &mut acts);
        self.apply_cancel(n, acts, sink);
    }

    fn apply_cancel(&mut self, n: u8, acts: Actions, sink: &mut Sink<'_>) {
        for a in acts {
            match a {
                Action::Send(Outgoing::Request) => {
                    let b = &self.branches[usize::from(n)];
                    if let CancelState::Sent { bytes, .. } = &b.cancel {
                        self.send(&b.dst, bytes.clone(), sink);
                    }
                }
                Action::Arm(k, d) => self.arm(TimerSlot::Cancel(n, k), d, sink),
                Action::Cancel(k) => self.disarm(TimerSlot::Cancel(n, k)),
                // The 200 to our CANCEL, its timeout: the INVITE's own
                // outcome is what counts.
                _ => {}
            }
        }
    }

    // ----- timers -----------------------------------------------------------

    /// A timer of this transaction fired (the table checked it is current).
    pub fn on_timer(&mut self, cfg: &ProxyConfig, slot: TimerSlot, sink: &mut Sink<'_>) {
        self.disarm(slot);
        match slot {
            TimerSlot::Server(k) => self.run_server(cfg, Event::TimerFired(k), sink),
            TimerSlot::Branch(n, TimerKind::C) => {
                //= RFC 3261 §16.8
                //# If timer C should fire, the proxy MUST either reset the
                //# timer with any value it chooses, or terminate the client
                //# transaction.  If the client transaction has received a
                //# provisional response, the proxy MUST generate a CANCEL
                //# request matching that transaction.
                if self.branch_final(n).is_none() {
                    if self.branches[usize::from(n)].provisional {
                        self.send_cancel(cfg, n, b"", sink);
                    }
                    self.branches[usize::from(n)].timed_out = true;
                    self.branch_local_final(cfg, n, 408, sink);
                }
            }
            TimerSlot::Branch(n, k) => self.run_client(cfg, n, Event::TimerFired(k), None, sink),
            TimerSlot::Cancel(n, k) => self.run_cancel(cfg, n, Event::TimerFired(k), sink),
            TimerSlot::CancelGuard(n) => {
                let i = usize::from(n);
                if !self.branches[i].client_done() {
                    let code = if self.canceled { 487 } else { 408 };
                    self.branches[i].abandoned = true;
                    self.branches[i].timed_out = true;
                    self.timers
                        .retain(|(s, _)| !matches!(s, TimerSlot::Branch(m, _) | TimerSlot::Cancel(m, _) if *m == n));
                    self.branch_local_final(cfg, n, code, sink);
                }
            }
            TimerSlot::Lifetime => {
                if self.phase != Phase::Completed {
                    self.send_best(cfg, sink);
                }
                self.killed = true;
                self.timers.clear();
            }
        }
    }
}
