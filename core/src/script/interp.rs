//! Walks a compiled route. Kamailio's flow rules: a function returning
//! `< 0` is false, `> 0` true, `0` ends the script; `return [n]` leaves a
//! sub-route (n becomes `$retcode`), `exit` ends everything, `drop` is exit
//! plus "do not relay", `break` leaves a `switch` or `while`.

use std::cmp::Ordering;

use super::ast::BinOp;
use super::exec_ctx::{ip_in_net, Exec};
use super::program::{CExpr, CStmt, Keyword, MyselfKind, RouteId};
use super::value::Val;
use crate::sip::{host, Uri};
use crate::transport::Transport;

/// Why a statement list stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Next,
    Break,
    Return(i64),
    Exit,
}

/// Kamailio's bound on `while` iterations (`max_while_loops`, 100).
const MAX_WHILE_LOOPS: u32 = 100;
/// Bound on nested `route()` calls (Kamailio: 100).
const MAX_ROUTE_DEPTH: u32 = 100;

impl<'a> Exec<'a, '_> {
    /// Runs route `id` from the top; returns how it ended.
    pub fn run_route(&mut self, id: RouteId) -> Flow {
        self.call_route(id, 0)
    }

    fn call_route(&mut self, id: RouteId, depth: u32) -> Flow {
        if depth > MAX_ROUTE_DEPTH {
            self.log_err("route() calls nested too deeply; stopping");
            return Flow::Exit;
        }
        let prog = self.prog;
        let body = &prog.routes[id as usize].body;
        self.stmts(body, depth)
    }

    fn stmts(&mut self, list: &'a [CStmt], depth: u32) -> Flow {
        let mut i = 0;
        while i < list.len() {
            let f = self.stmt(&list[i], depth);
            if f != Flow::Next {
                return f;
            }
            i += 1;
        }
        Flow::Next
    }

    fn stmt(&mut self, s: &'a CStmt, depth: u32) -> Flow {
        match s {
            CStmt::Expr(e) => match self.eval(e, depth) {
                Ok(_) => Flow::Next,
                Err(f) => f,
            },
            CStmt::If { cond, then, els } => match self.cond(cond, depth) {
                Ok(true) => self.stmts(then, depth),
                Ok(false) => self.stmts(els, depth),
                Err(f) => f,
            },
            CStmt::While { cond, body } => {
                let mut n = 0;
                loop {
                    match self.cond(cond, depth) {
                        Ok(true) => {}
                        Ok(false) => return Flow::Next,
                        Err(f) => return f,
                    }
                    n += 1;
                    if n > MAX_WHILE_LOOPS {
                        self.log_err("while loop reached 100 iterations; leaving it");
                        return Flow::Next;
                    }
                    match self.stmts(body, depth) {
                        Flow::Next => {}
                        Flow::Break => return Flow::Next,
                        other => return other,
                    }
                }
            }
            CStmt::Switch {
                subject,
                cases,
                default,
                body,
            } => {
                let v = match self.eval(subject, depth) {
                    Ok(v) => v,
                    Err(f) => return f,
                };
                let start = cases
                    .iter()
                    .find(|(label, _)| v.equals(&label.as_val()))
                    .map(|(_, s)| *s)
                    .or(*default);
                let Some(start) = start else {
                    return Flow::Next;
                };
                match self.stmts(&body[start..], depth) {
                    Flow::Break => Flow::Next,
                    other => other,
                }
            }
            CStmt::Return(v) => {
                let code = match v {
                    None => 1,
                    Some(e) => match self.eval(e, depth) {
                        Ok(v) => v.to_int(),
                        Err(f) => return f,
                    },
                };
                Flow::Return(code)
            }
            CStmt::Exit => Flow::Exit,
            CStmt::Drop => {
                self.st.dropped = true;
                Flow::Exit
            }
            CStmt::Break => Flow::Break,
            CStmt::Assign { target, add, value } => {
                let v = match self.eval(value, depth) {
                    Ok(v) => v,
                    Err(f) => return f,
                };
                self.assign(target, v, *add);
                Flow::Next
            }
        }
    }

    fn cond(&mut self, e: &'a CExpr, depth: u32) -> Result<bool, Flow> {
        Ok(match self.eval(e, depth)? {
            // Negative return codes (and numbers) are false.
            Val::Int(i) => i > 0,
            v => v.truthy(),
        })
    }

    /// Evaluates an expression; `Err` when evaluation ends the script
    /// (a function returning 0, or `exit` inside a called route).
    pub fn eval(&mut self, e: &'a CExpr, depth: u32) -> Result<Val<'a>, Flow> {
        Ok(match e {
            CExpr::Const(c) => c.as_val(),
            CExpr::Pv(p) => self.read_pv(p),
            CExpr::Keyword(k) => self.keyword(*k),
            CExpr::Call(site) => {
                let rc = (site.spec.imp)(self, &site.args);
                self.st.retcode = i64::from(rc);
                if rc == 0 {
                    return Err(Flow::Exit);
                }
                Val::Int(i64::from(rc))
            }
            CExpr::RouteCall(id) => {
                let rc = match self.call_route(*id, depth + 1) {
                    Flow::Next | Flow::Break => 1,
                    Flow::Return(v) => v,
                    Flow::Exit => return Err(Flow::Exit),
                };
                self.st.retcode = rc;
                Val::Int(rc)
            }
            CExpr::Not(inner) => Val::Int(i64::from(!self.cond(inner, depth)?)),
            CExpr::Neg(inner) => Val::Int(-self.eval(inner, depth)?.to_int()),
            CExpr::BitNot(inner) => Val::Int(!self.eval(inner, depth)?.to_int()),
            CExpr::Defined(inner) => {
                Val::Int(i64::from(!matches!(self.eval(inner, depth)?, Val::Null)))
            }
            CExpr::StrLen(inner) => Val::Int(self.eval(inner, depth)?.to_bytes().len() as i64),
            CExpr::StrEmpty(inner) => {
                Val::Int(i64::from(self.eval(inner, depth)?.to_bytes().is_empty()))
            }
            CExpr::Bin(op, l, r) => self.binary(*op, l, r, depth)?,
            CExpr::MatchConst(l, re, negate) => {
                let v = self.eval(l, depth)?;
                let m = !matches!(v, Val::Null) && re.is_match(&v.to_bytes());
                Val::Int(i64::from(m != *negate))
            }
            CExpr::Myself(inner, kind, negate) => {
                let v = self.eval(inner, depth)?;
                let m = self.is_myself(&v, *kind);
                Val::Int(i64::from(m != *negate))
            }
            CExpr::InNet(inner, net, bits, negate) => {
                let v = self.eval(inner, depth)?;
                let ip = std::str::from_utf8(&v.to_bytes())
                    .ok()
                    .and_then(|s| s.trim_start_matches('[').trim_end_matches(']').parse().ok());
                let m = ip.is_some_and(|ip| ip_in_net(ip, *net, *bits));
                Val::Int(i64::from(m != *negate))
            }
        })
    }

    fn binary(
        &mut self,
        op: BinOp,
        l: &'a CExpr,
        r: &'a CExpr,
        depth: u32,
    ) -> Result<Val<'a>, Flow> {
        // Short-circuit logic first.
        match op {
            BinOp::And => {
                return Ok(Val::Int(i64::from(
                    self.cond(l, depth)? && self.cond(r, depth)?,
                )))
            }
            BinOp::Or => {
                return Ok(Val::Int(i64::from(
                    self.cond(l, depth)? || self.cond(r, depth)?,
                )))
            }
            _ => {}
        }
        let a = self.eval(l, depth)?;
        let b = self.eval(r, depth)?;
        let int = |x: bool| Val::Int(i64::from(x));
        Ok(match op {
            BinOp::Eq => int(a.equals(&b)),
            BinOp::Ne => int(!a.equals(&b)),
            BinOp::Lt => int(a.compare(&b) == Some(Ordering::Less)),
            BinOp::Gt => int(a.compare(&b) == Some(Ordering::Greater)),
            BinOp::Le => int(matches!(
                a.compare(&b),
                Some(Ordering::Less | Ordering::Equal)
            )),
            BinOp::Ge => int(matches!(
                a.compare(&b),
                Some(Ordering::Greater | Ordering::Equal)
            )),
            BinOp::Match | BinOp::NoMatch => {
                // A regex only known at run time.
                let pat = String::from_utf8_lossy(&b.to_bytes()).into_owned();
                let m = match super::compile::posix_regex(&pat) {
                    Ok(re) => !matches!(a, Val::Null) && re.is_match(&a.to_bytes()),
                    Err(e) => {
                        self.log_err(&e);
                        false
                    }
                };
                int(m == (op == BinOp::Match))
            }
            BinOp::Add => a.plus(b),
            BinOp::Sub => Val::Int(a.to_int().wrapping_sub(b.to_int())),
            BinOp::Mul => Val::Int(a.to_int().wrapping_mul(b.to_int())),
            BinOp::Div | BinOp::Mod => {
                let d = b.to_int();
                if d == 0 {
                    self.log_err("division by zero in script expression");
                    Val::Int(0)
                } else if op == BinOp::Div {
                    Val::Int(a.to_int().wrapping_div(d))
                } else {
                    Val::Int(a.to_int().wrapping_rem(d))
                }
            }
            BinOp::BitOr => Val::Int(a.to_int() | b.to_int()),
            BinOp::BitAnd => Val::Int(a.to_int() & b.to_int()),
            BinOp::BitXor => Val::Int(a.to_int() ^ b.to_int()),
            BinOp::And | BinOp::Or => unreachable_logic(),
        })
    }

    fn keyword(&self, k: Keyword) -> Val<'a> {
        let owned = |b: &[u8]| Val::Str(b.to_vec().into());
        let msg = self.msg;
        match k {
            Keyword::Method => {
                if msg.is_request() {
                    owned(msg.method_bytes())
                } else {
                    msg.cseq().map_or(Val::Null, |c| owned(c.method_bytes))
                }
            }
            Keyword::Uri => {
                if msg.is_request() {
                    Val::Str(self.ruri().into_owned().into())
                } else {
                    Val::Null
                }
            }
            Keyword::FromUri => msg.from().map_or(Val::Null, |f| owned(f.uri)),
            Keyword::ToUri => msg.to().map_or(Val::Null, |t| owned(t.uri)),
            Keyword::SrcIp => owned(self.inb.src.ip().to_string().as_bytes()),
            Keyword::SrcPort => Val::Int(i64::from(self.inb.src.port())),
            Keyword::DstIp => owned(self.inb.local.ip().to_string().as_bytes()),
            Keyword::DstPort => Val::Int(i64::from(self.inb.local.port())),
            Keyword::Proto => owned(self.inb.proto.lower_name().as_bytes()),
            Keyword::Af => Val::Int(if self.inb.src.is_ipv4() { 4 } else { 6 }),
            Keyword::Status => msg.status().map_or(Val::Null, |s| Val::Int(i64::from(s))),
            Keyword::RetCode => Val::Int(self.st.retcode),
        }
    }

    /// Kamailio's `check_self`: the host (and port/transport, when given)
    /// is one of our listen, advertised or alias addresses.
    pub fn is_myself(&self, v: &Val<'_>, kind: MyselfKind) -> bool {
        let bytes = v.to_bytes();
        match kind {
            MyselfKind::Uri => match Uri::parse(&bytes) {
                Ok(u) => {
                    let default = if matches!(u.scheme, crate::sip::Scheme::Sips) {
                        5061
                    } else {
                        5060
                    };
                    let proto = u.transport();
                    self.self_match(u.host_unbracketed(), Some(u.port.unwrap_or(default)), proto)
                }
                Err(_) => false,
            },
            MyselfKind::Ip | MyselfKind::Host => {
                self.self_match(host::unbracket(&bytes), None, None)
            }
        }
    }

    fn self_match(&self, host: &[u8], port: Option<u16>, proto: Option<Transport>) -> bool {
        let ip = host::parse_ip(host);
        self.prog.myself.iter().any(|s| {
            let host_ok = match (ip, s.host.parse::<std::net::IpAddr>().ok()) {
                (Some(a), Some(b)) => a == b,
                _ => s.host.as_bytes().eq_ignore_ascii_case(host),
            };
            host_ok
                && (port.is_none() || s.port.is_none() || s.port == port)
                && (proto.is_none() || s.proto.is_none() || s.proto == proto)
        })
    }
}

fn unreachable_logic() -> Val<'static> {
    // `&&`/`||` return early in `binary`.
    Val::Int(0)
}
