//! usrloc commands, named as Kamailio's: `ul.dump`, `ul.lookup table AOR`,
//! `ul.rm table AOR`, over the location tables the running config opened
//! (on its first REGISTER or lookup).

use serde_json::{json, Value};
use sipshard_core::usrloc::{self, Binding};

use super::rpc::{str_param, Commands, RpcError};

fn contact(b: &Binding, now: u64) -> Value {
    json!({
        "Contact": &*b.contact,
        "Expires": b.expires.saturating_sub(now),
        "Q": b.q,
        "Call-ID": &*b.callid,
        "CSeq": b.cseq,
        "User-Agent": &*b.user_agent,
        "Received": b.received.as_deref(),
        "Path": b.path.as_deref(),
        "Socket": b.socket.as_deref(),
        "Instance": b.instance.as_deref(),
        "Reg-Id": b.reg_id,
        "Ruid": &*b.ruid,
        "Last-Modified": b.last_modified,
        // Kamailio's bitmask; no restriction is ALL_METHODS
        "Methods": b.methods.unwrap_or(sipshard_core::registrar::methods::ALL),
    })
}

fn aor_value(aor: &str, v: &[Binding], now: u64) -> Value {
    json!({
        "AoR": aor,
        "Contacts": v.iter().filter(|b| b.expires > now).map(|b| contact(b, now)).collect::<Vec<_>>(),
    })
}

/// Registers the usrloc commands.
pub fn register(c: &mut Commands) {
    c.add(
        "ul.dump",
        "Every AoR of the location table with its contacts.",
        |_, _| {
            let now = usrloc::now();
            let mut aors = Vec::new();
            for t in usrloc::all_locations() {
                for (aor, v) in t.dump() {
                    if v.iter().any(|b| b.expires > now) {
                        aors.push(aor_value(&aor, &v, now));
                    }
                }
            }
            Ok(json!({ "Domains": [{ "Domain": "location", "AoRs": aors }] }))
        },
    );
    c.add(
        "ul.lookup",
        "ul.lookup TABLE AOR: the contacts of one AoR.",
        |_, p| {
            let aor = str_param(p, 1).ok_or_else(|| RpcError::params("usage: TABLE AOR"))?;
            let now = usrloc::now();
            for t in usrloc::all_locations() {
                if let Some(v) = t.get(&aor) {
                    if v.iter().any(|b| b.expires > now) {
                        return Ok(aor_value(&aor, &v, now));
                    }
                }
            }
            Err(RpcError::failed("AOR not found in location table"))
        },
    );
    c.add(
        "ul.rm",
        "ul.rm TABLE AOR: removes every contact of an AoR.",
        |_, p| {
            let aor = str_param(p, 1).ok_or_else(|| RpcError::params("usage: TABLE AOR"))?;
            let mut found = false;
            for t in usrloc::all_locations() {
                if t.get(&aor).is_some() {
                    t.remove_aor(&aor);
                    t.sync();
                    found = true;
                }
            }
            if found {
                Ok(json!("OK"))
            } else {
                Err(RpcError::failed("AOR not found in location table"))
            }
        },
    );
}
