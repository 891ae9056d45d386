//! Shared helpers for the tm integration tests: a caller, callees that
//! answer what the proxy sends, and a table driven by a fake clock.
#![allow(dead_code)]

use std::net::SocketAddr;

use sipshard_core::proxy::{build_via, forward_request, Destination};
use sipshard_core::sip::{Edits, HeaderName, Message};
use sipshard_core::tm::proxy::{Output, TxId};
use sipshard_core::tm::table::{Table, TableConfig};
use sipshard_core::transport::Transport;

pub const CALLER: &str = "10.0.0.1:5060";
/// Where the tests' responses come from.
pub const DOWNSTREAM: &str = "10.0.0.2:5060";

pub fn caller() -> SocketAddr {
    CALLER.parse().unwrap()
}

pub fn invite(branch: &str) -> Message {
    request("INVITE", branch, 1)
}

pub fn request(method: &str, branch: &str, cseq: u32) -> Message {
    let m = format!(
        "{method} sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         Route: <sip:proxy.example.com;lr>\r\n\
         From: Alice <sip:alice@example.com>;tag=a1\r\n\
         To: Bob <sip:bob@example.com>\r\n\
         Call-ID: call-1@10.0.0.1\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:alice@10.0.0.1>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: 129\r\n\r\n\
         v=0\r\no=alice 2890844526 2890844526 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    Message::parse(m.into_bytes()).expect("test request parses")
}

/// A CANCEL or ACK for `req` (same top Via), as the caller sends it.
pub fn caller_follow_up(req: &Message, method: &str, to_tag: Option<&str>) -> Message {
    let via = req.top_via().unwrap().raw;
    let to = match to_tag {
        Some(t) => format!("Bob <sip:bob@example.com>;tag={t}"),
        None => "Bob <sip:bob@example.com>".into(),
    };
    let m = format!(
        "{method} sip:bob@example.com SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: Alice <sip:alice@example.com>;tag=a1\r\nTo: {to}\r\nCall-ID: call-1@10.0.0.1\r\nCSeq: 1 {method}\r\nReason: Q.850;cause=16\r\nContent-Length: 0\r\n\r\n",
        String::from_utf8_lossy(via)
    );
    Message::parse(m.into_bytes()).unwrap()
}

/// The response a callee gives to `req`: every Via, From, To with a tag,
/// Call-ID, CSeq, `extra` header lines.
pub fn respond(req: &Message, code: u16, extra: &str) -> Message {
    let mut m = format!("SIP/2.0 {code} Reason {code}\r\n");
    for h in req.headers() {
        let name = String::from_utf8_lossy(h.name_bytes).into_owned();
        let value = String::from_utf8_lossy(h.value).into_owned();
        match h.name {
            HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                m.push_str(&format!("{name}: {value}\r\n"))
            }
            HeaderName::To if code > 100 && !value.contains("tag=") => {
                m.push_str(&format!("{name}: {value};tag=callee\r\n"))
            }
            HeaderName::To => m.push_str(&format!("{name}: {value}\r\n")),
            _ => {}
        }
    }
    m.push_str(extra);
    m.push_str("Content-Length: 0\r\n\r\n");
    Message::parse(m.into_bytes()).expect("test response parses")
}

pub fn dst(host: &str) -> Destination {
    Destination {
        host: host.into(),
        port: 5060,
        transport: Transport::Udp,
    }
}

/// A table with a fake clock and everything it sent.
pub struct World {
    pub t: Table,
    pub now: u64,
    pub out: Vec<Output>,
}

/// A sent message, parsed.
#[derive(Debug)]
pub struct Sent {
    pub to: String,
    pub msg: Message,
    pub at: u64,
}

impl World {
    pub fn new(cfg: TableConfig) -> World {
        World::on_shard(0, cfg)
    }

    pub fn on_shard(shard: u16, cfg: TableConfig) -> World {
        World {
            t: Table::new(shard, cfg),
            now: 0,
            out: Vec::new(),
        }
    }

    /// `t_relay()` of `req` to `hosts`.
    pub fn relay(&mut self, req: &Message, hosts: &[&str]) -> TxId {
        let id = self
            .t
            .create(self.now, req, caller(), Transport::Udp, &mut self.out)
            .expect("transaction created");
        for h in hosts {
            self.branch(id, req, h);
        }
        id
    }

    /// Adds a branch to `host`.
    pub fn branch(&mut self, id: TxId, req: &Message, host: &str) -> u8 {
        let b = self.t.branch_param(id).expect("branch allowed");
        let via = build_via(Transport::Udp, "192.0.2.1", 5060, &b, false);
        let mut edits = Edits::new();
        let mf = req.header(HeaderName::MaxForwards).unwrap();
        edits.set_header_value(&mf, b"69");
        let bytes = forward_request(req, &edits, &via).unwrap();
        self.t
            .add_branch(self.now, id, bytes, dst(host), &mut self.out)
            .expect("branch added")
    }

    pub fn advance(&mut self, to: u64) {
        while let Some(d) = self.t.next_deadline() {
            if d > to {
                break;
            }
            self.now = d.max(self.now);
            self.t.on_timer(self.now, &mut self.out);
        }
        self.now = to;
    }

    /// Drains what was sent, parsed, with the clock at drain time.
    pub fn sent(&mut self) -> Vec<Sent> {
        let now = self.now;
        self.out
            .drain(..)
            .filter_map(|o| match o {
                Output::Send { dst, bytes, .. } => Some(Sent {
                    to: dst.host,
                    msg: Message::parse(bytes.to_vec()).expect("we send parseable SIP"),
                    at: now,
                }),
                Output::Failure { .. } => None,
            })
            .collect()
    }

    /// Drains outputs, keeping the Failure events.
    pub fn failures(&mut self) -> Vec<(TxId, u16)> {
        let mut f = Vec::new();
        self.out.retain(|o| match o {
            Output::Failure { tx, code } => {
                f.push((*tx, *code));
                false
            }
            _ => true,
        });
        f
    }

    pub fn response(&mut self, m: &Message) {
        self.t
            .on_response(self.now, m, DOWNSTREAM.parse().unwrap(), &mut self.out);
    }
}

/// Status code and method of a sent message, e.g. "180" or "INVITE".
pub fn what(s: &Sent) -> String {
    match s.msg.status() {
        Some(c) => c.to_string(),
        None => String::from_utf8_lossy(s.msg.method_bytes()).into_owned(),
    }
}

pub fn whats(v: &[Sent]) -> Vec<String> {
    v.iter().map(|s| format!("{}>{}", what(s), s.to)).collect()
}
