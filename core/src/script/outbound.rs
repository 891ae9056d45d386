//! What a route puts on the wire, statelessly (RFC 3261 §16.11):
//! forwarding a request (`forward()`), replying to it (`sl_send_reply`),
//! and relaying a reply back along the Via path.
//!
//! - Our Via carries the deterministic branch of `proxy::stateless_branch`,
//!   so a retransmission, a CANCEL and a non-2xx ACK get the same branch.
//! - The received top Via gets `received=` when its host is not the source
//!   address (RFC 3261 §18.2.1) and `rport=` when asked (RFC 3581 §4, or
//!   `force_rport()`).
//! - Replies go to the source address and, with rport, the source port;
//!   over a stream they go back on the connection they came in on.
//!
//! The branch, our Via line, local replies and reply relaying come from
//! the shared [`crate::proxy`] helpers; this file adds what the script
//! controls (`force_rport()`, `append_to_reply`, the 3xx Contact, the
//! Server header).

use std::borrow::Cow;
use std::net::SocketAddr;

use smallvec::SmallVec;

use super::exec_ctx::Exec;
use crate::route_io::Outbound;
use crate::sip::{Message, Method, Scheme, Uri};
use crate::transport::Transport;

/// The top Via rewritten with `received`/`rport` when needed: the byte
/// range of its value element and the new text. None when unchanged.
pub fn fixed_top_via(
    msg: &Message,
    src: SocketAddr,
    force_rport: bool,
) -> Option<(std::ops::Range<usize>, ViaText)> {
    let via = msg.top_via()?;
    let rport_asked = via.rport().is_some() || force_rport;
    let differs = via.host_ip() != Some(src.ip());
    if !differs && !rport_asked {
        return None;
    }
    let span = msg.span_of(via.raw)?;
    let mut text = without_param(via.raw, b"rport");
    if via.received().is_some() {
        text = without_param(&text, b"received");
    }
    text.extend_from_slice(b";received=");
    crate::proxy::via::push_ip(&mut text, src.ip());
    if rport_asked {
        let mut digits = [0u8; 20];
        text.extend_from_slice(b";rport=");
        text.extend_from_slice(crate::sip::edit::decimal(
            usize::from(src.port()),
            &mut digits,
        ));
    }
    Some((span.range(), text))
}

/// A rewritten Via value, on the stack when of ordinary length.
pub type ViaText = SmallVec<[u8; 192]>;

/// `raw` with every `;name` / `;name=value` parameter removed.
fn without_param(raw: &[u8], name: &[u8]) -> ViaText {
    let mut out = ViaText::new();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b';' {
            let mut j = i + 1;
            while j < raw.len() && raw[j] == b' ' {
                j += 1;
            }
            let name_end = j + name.len();
            if name_end <= raw.len()
                && raw[j..name_end].eq_ignore_ascii_case(name)
                && matches!(raw.get(name_end), None | Some(b';' | b'=' | b' ' | b'\t'))
            {
                let mut k = name_end;
                while k < raw.len() && raw[k] != b';' {
                    k += 1;
                }
                i = k;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// Where `uri` says to send: host, port, transport.
pub fn uri_target(uri: &[u8]) -> Option<(String, Option<u16>, Transport)> {
    let u = Uri::parse(uri).ok()?;
    let host = String::from_utf8_lossy(u.maddr().unwrap_or(u.host_unbracketed())).into_owned();
    let proto = u
        .transport()
        .unwrap_or(if matches!(u.scheme, Scheme::Sips) {
            Transport::Tls
        } else {
            Transport::Udp
        });
    Some((host, u.port, proto))
}

impl Exec<'_, '_> {
    /// Kamailio `forward()`: relays the request statelessly to `target`
    /// (host, port) or else `$du`, else the R-URI. Returns 1 when sent,
    /// -1 when the destination cannot be resolved or no local socket fits.
    pub fn forward(
        &mut self,
        target: Option<(Cow<'_, str>, Option<u16>)>,
        force_proto: Option<Transport>,
    ) -> i32 {
        if self.msg.is_response() {
            return -1;
        }
        let Some((dst, local, proto)) = self.relay_target(target, force_proto, "forward") else {
            return -1;
        };
        let branch = crate::proxy::stateless_branch(self.msg);
        let Some(bytes) = self.forward_bytes(dst, proto, &local, branch.as_str(), "forward") else {
            return -1;
        };
        self.env.send(Outbound {
            proto,
            local: local.addr,
            dst,
            conn: None,
            bytes,
        });
        self.st.handled = true;
        1
    }

    /// Where `forward()` / `t_relay()` send: `target` (host, port), else
    /// `$du`, else the R-URI; resolved, with the local socket to send from.
    /// None (logged) when it cannot be resolved or no socket fits.
    pub fn relay_target(
        &mut self,
        target: Option<(Cow<'_, str>, Option<u16>)>,
        force_proto: Option<Transport>,
        what: &str,
    ) -> Option<(SocketAddr, crate::route_io::LocalSocket, Transport)> {
        let (host, port, mut proto) = match target {
            Some((h, p)) => (h, p, Transport::Udp),
            None => {
                let dest = match &self.st.du {
                    Some(d) => d.clone(),
                    None => self.ruri().into_owned(),
                };
                match uri_target(&dest) {
                    Some((h, p, t)) => (Cow::Owned(h), p, t),
                    None => {
                        self.log_err(&format!(
                            "{what}: bad destination URI `{}`",
                            String::from_utf8_lossy(&dest)
                        ));
                        return None;
                    }
                }
            }
        };
        if let Some(p) = force_proto {
            proto = p;
        }
        let Some(dst) = self.env.resolve(&host, port, proto) else {
            self.log_err(&format!("{what}: cannot resolve `{host}`"));
            return None;
        };
        let Some(local) = self.env.local_for_request(dst, proto) else {
            self.log_err(&format!("{what}: no {proto} socket to send to {dst}"));
            return None;
        };
        Some((dst, local, proto))
    }

    /// The request as it leaves for `dst`: the script's edits, our
    /// Record-Route(s), `received`/`rport` on the top Via, our Via with
    /// `branch` on top, the Path as `Route`, the new R-URI.
    pub fn forward_bytes(
        &mut self,
        dst: SocketAddr,
        proto: Transport,
        local: &crate::route_io::LocalSocket,
        branch: &str,
        what: &str,
    ) -> Option<Vec<u8>> {
        // Queue this hop's edits after the script's, apply, and forget them
        // again (the script may forward more than once).
        let mark = self.st.edits.len();
        if self.st.rr.is_some() {
            // The listen socket towards `dst` (`local` may be a shard's
            // own port, which is no address for a dialog's route set).
            let out = self
                .env
                .local_for(dst, proto)
                .unwrap_or_else(|| local.clone());
            crate::script::functions::rr::queue_for_relay(self, &out);
        }
        if let Some((range, text)) = fixed_top_via(self.msg, self.inb.src, self.st.force_rport) {
            self.st.edits.replace(range, text);
        }
        let via = crate::proxy::via::via_line(
            proto,
            &local.advertise_host,
            local.advertise_port,
            branch,
            self.st.add_local_rport,
        );
        // Our Via goes first, above headers the script inserted at the top
        // (`insert_hf`), as Kamailio's Via lump does.
        self.st.edits.add_header_very_first(self.msg, &via);
        // The Path of the binding `lookup()` chose, for this branch only.
        if let Some(p) = &self.st.path {
            let mut line = Vec::with_capacity(p.len() + 9);
            line.extend_from_slice(b"Route: ");
            line.extend_from_slice(p);
            self.st.edits.add_header_first(self.msg, &line);
        }
        if let Some(u) = &self.st.new_ruri {
            let span = self.msg.ruri_span().range();
            self.st.edits.replace(span, u);
        }
        let applied = self.st.edits.apply(self.msg);
        self.st.edits.truncate(mark);
        match applied {
            Ok(b) => Some(b),
            Err(e) => {
                self.log_err(&format!("{what}: conflicting message edits: {e:?}"));
                None
            }
        }
    }

    /// Kamailio `sl_send_reply(code, reason)`: a reply built from the
    /// request, sent back to where it came from. ACKs are never answered.
    pub fn send_reply(&mut self, code: u16, reason: &[u8]) -> i32 {
        if self.msg.is_response() || !(100..=699).contains(&code) {
            return -1;
        }
        if self.msg.method() == Method::Ack {
            return 1;
        }
        let bytes = self.build_reply(code, reason);
        let via = self.msg.top_via();
        let rport = self.st.force_rport || via.as_ref().is_some_and(|v| v.rport().is_some());
        let port = if rport || self.inb.proto.is_stream() {
            self.inb.src.port()
        } else {
            via.as_ref().and_then(|v| v.port).unwrap_or(5060)
        };
        let dst = SocketAddr::new(self.inb.src.ip(), port);
        self.env.send(Outbound {
            proto: self.inb.proto,
            local: self.inb.local,
            dst,
            conn: self.inb.conn,
            bytes,
        });
        self.st.handled = true;
        1
    }

    /// The bytes of a local reply to the request: the shared
    /// [`crate::proxy::build_reply`] with `force_rport()`, the 3xx Contact
    /// of a rewritten R-URI, `append_to_reply` headers and the configured
    /// Server header.
    pub fn build_reply(&self, code: u16, reason: &[u8]) -> Vec<u8> {
        let contact = match (300..400).contains(&code) {
            true => self.st.new_ruri.as_deref(),
            false => None,
        };
        let server = self.prog.settings.server_header.as_deref();
        // the headers added by the script as they are, unless a Contact
        // or the Server header joins them
        let extra: std::borrow::Cow<'_, [u8]> = if contact.is_none() && server.is_none() {
            std::borrow::Cow::Borrowed(&self.st.reply_headers)
        } else {
            let mut extra = Vec::with_capacity(
                self.st.reply_headers.len()
                    + contact.map_or(0, |u| u.len() + 14)
                    + server.map_or(0, |s| s.len() + 2),
            );
            if let Some(u) = contact {
                extra.extend_from_slice(b"Contact: <");
                extra.extend_from_slice(u);
                extra.extend_from_slice(b">\r\n");
            }
            extra.extend_from_slice(&self.st.reply_headers);
            if let Some(s) = server {
                extra.extend_from_slice(s.as_bytes());
                extra.extend_from_slice(b"\r\n");
            }
            std::borrow::Cow::Owned(extra)
        };
        let mut r = crate::proxy::LocalReply::new(code, reason, &self.prog.to_tag_prefix);
        r.extra_headers = &extra;
        r.server = None;
        r.force_rport = self.st.force_rport;
        crate::proxy::build_reply(self.msg, self.inb.src, &r)
    }

    /// Relays a reply statelessly (shared `proxy::route_reply`): the top
    /// Via must be one of our `listen`/`advertise`/`alias` addresses; it is
    /// removed and the reply goes where the next Via says (RFC 3261
    /// §18.2.2: `received` and `rport` win over sent-by). Returns false
    /// when the reply is not ours or has nowhere to go.
    pub fn relay_reply(&mut self) -> bool {
        let myself = &self.prog.myself;
        let is_ours = |top: &crate::sip::Via<'_>| {
            let port = top.port.unwrap_or(5060);
            myself.iter().any(|s| {
                let host_ok = match (top.host_ip(), s.host.parse::<std::net::IpAddr>().ok()) {
                    (Some(a), Some(b)) => a == b,
                    _ => s
                        .host
                        .as_bytes()
                        .eq_ignore_ascii_case(top.host_unbracketed()),
                };
                host_ok
                    && (s.port.is_none() || s.port == Some(port))
                    && (s.proto.is_none() || top.transport.is_none() || s.proto == top.transport)
            })
        };
        let env = &*self.env;
        let is_ours = |top: &crate::sip::Via<'_>| {
            is_ours(top) || env.is_shard_sent_by(top.host_unbracketed(), top.port.unwrap_or(5060))
        };
        let routed = match crate::proxy::route_reply(self.msg, &self.st.edits, is_ours) {
            Ok(r) => r,
            Err(e) => {
                self.log_err(&format!("reply not relayed: {e:?}"));
                return false;
            }
        };
        let d = routed.dst;
        let Some(dst) = self.env.resolve(&d.host, Some(d.port), d.transport) else {
            self.log_err(&format!("reply: cannot resolve Via host `{}`", d.host));
            return false;
        };
        let Some(local) = self.env.local_for(dst, d.transport) else {
            self.log_err(&format!(
                "reply: no {} socket to send to {dst}",
                d.transport
            ));
            return false;
        };
        self.env.send(Outbound {
            proto: d.transport,
            local: local.addr,
            dst,
            conn: None,
            bytes: routed.bytes,
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_removal() {
        assert_eq!(
            &without_param(b"SIP/2.0/UDP h;rport;branch=z", b"rport")[..],
            b"SIP/2.0/UDP h;branch=z"
        );
        assert_eq!(
            &without_param(b"SIP/2.0/UDP h;branch=z;rport=5", b"rport")[..],
            b"SIP/2.0/UDP h;branch=z"
        );
        assert_eq!(
            &without_param(b"SIP/2.0/UDP h;rportx=1", b"rport")[..],
            b"SIP/2.0/UDP h;rportx=1"
        );
    }

    #[test]
    fn uri_targets() {
        assert_eq!(
            uri_target(b"sip:a@10.0.0.1:5070;transport=tcp"),
            Some(("10.0.0.1".into(), Some(5070), Transport::Tcp))
        );
        assert_eq!(
            uri_target(b"sips:[::1]"),
            Some(("::1".into(), None, Transport::Tls))
        );
        assert_eq!(uri_target(b"nonsense"), None);
    }
}
