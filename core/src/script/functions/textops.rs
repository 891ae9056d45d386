//! Module `textops` (`src/modules/textops`): header and body text
//! operations. Edits are queued like Kamailio's lumps: after `remove_hf`
//! the header is still visible to `is_present_hf` and `$hdr` until the
//! message is sent.

use crate::script::exec_ctx::Exec;
use crate::script::program::CArg;
use crate::script::registry::{route_type as rt, ArgKind as A, FnSpec};
use crate::sip::HeaderName;

const EDIT_ROUTES: u16 = rt::REQUEST | rt::ONREPLY | rt::FAILURE | rt::BRANCH;

pub const FNS: &[FnSpec] = &[
    FnSpec {
        name: "append_hf",
        aliases: &[],
        module: "textops",
        min_args: 1,
        max_args: 2,
        args: &[A::Str, A::Str],
        routes: EDIT_ROUTES,
        imp: append_hf,
    },
    FnSpec {
        name: "insert_hf",
        aliases: &[],
        module: "textops",
        min_args: 1,
        max_args: 2,
        args: &[A::Str, A::Str],
        routes: EDIT_ROUTES,
        imp: insert_hf,
    },
    FnSpec {
        name: "remove_hf",
        aliases: &[],
        module: "textops",
        min_args: 1,
        max_args: 1,
        args: &[A::Str],
        routes: EDIT_ROUTES,
        imp: remove_hf,
    },
    FnSpec {
        name: "is_present_hf",
        aliases: &[],
        module: "textops",
        min_args: 1,
        max_args: 1,
        args: &[A::Str],
        routes: rt::ANY,
        imp: is_present_hf,
    },
    FnSpec {
        name: "search",
        aliases: &[],
        module: "textops",
        min_args: 1,
        max_args: 1,
        args: &[A::Regex],
        routes: rt::ANY,
        imp: search,
    },
    FnSpec {
        name: "subst",
        aliases: &[],
        module: "textops",
        min_args: 1,
        max_args: 1,
        args: &[A::Subst],
        routes: EDIT_ROUTES,
        imp: subst,
    },
    FnSpec {
        name: "append_to_reply",
        aliases: &[],
        module: "textops",
        min_args: 1,
        max_args: 1,
        args: &[A::Str],
        routes: rt::REQUEST | rt::FAILURE | rt::BRANCH,
        imp: append_to_reply,
    },
    FnSpec {
        name: "is_method",
        aliases: &[],
        module: "textops",
        min_args: 1,
        max_args: 1,
        args: &[A::Methods],
        routes: rt::ANY,
        imp: is_method,
    },
    FnSpec {
        name: "has_body",
        aliases: &[],
        module: "textops",
        min_args: 0,
        max_args: 1,
        args: &[A::Str],
        routes: rt::ANY,
        imp: has_body,
    },
];

/// `append_hf(txt)` adds `txt` after the last header; `append_hf(txt,
/// hdr)` after the first `hdr` header (-1 when there is none). `txt`
/// should end with CRLF, as in Kamailio.
fn append_hf(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let txt = x.arg_str(&args[0]).into_owned();
    let msg = x.msg;
    match args.get(1) {
        None => x.st.edits.add_header(msg, &txt),
        Some(a) => {
            let name = x.arg_str(a).into_owned();
            match msg.header_named(&name) {
                Some(h) => x.st.edits.insert(h.range.end, txt),
                None => return -1,
            }
        }
    }
    1
}

/// `insert_hf(txt)` adds `txt` before the first header; `insert_hf(txt,
/// hdr)` before the first `hdr` header (-1 when there is none).
fn insert_hf(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let txt = x.arg_str(&args[0]).into_owned();
    let msg = x.msg;
    match args.get(1) {
        None => x.st.edits.add_header_first(msg, &txt),
        Some(a) => {
            let name = x.arg_str(a).into_owned();
            match msg.header_named(&name) {
                Some(h) => x.st.edits.add_header_before(&h, &txt),
                None => return -1,
            }
        }
    }
    1
}

/// `remove_hf(name)`: removes every header with that name (compact forms
/// included); returns how many, or -1 when none.
fn remove_hf(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let name = x.arg_str(&args[0]).into_owned();
    let msg = x.msg;
    let mut n = 0;
    for h in msg.headers_named(&name) {
        x.st.edits.remove_header(&h);
        n += 1;
    }
    if n == 0 {
        -1
    } else {
        n
    }
}

fn is_present_hf(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let name = x.arg_str(&args[0]);
    if x.msg.has_header_named(&name) {
        1
    } else {
        -1
    }
}

/// `search(re)`: 1 when the regex matches anywhere in the message.
fn search(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    match &args[0] {
        CArg::Regex(re) if re.is_match(x.msg.as_bytes()) => 1,
        _ => -1,
    }
}

/// `subst('/re/repl/flags')`: replaces matches in the message (headers
/// and body); 1 when something was replaced, else -1.
fn subst(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let CArg::Subst(spec) = &args[0] else {
        return -1;
    };
    let msg = x.msg;
    let buf = msg.as_bytes();
    let mut n = 0;
    for caps in spec.re.captures_iter(buf) {
        let Some(m) = caps.get(0) else { continue };
        if m.start() == m.end() {
            continue;
        }
        let mut out = Vec::new();
        caps.expand(spec.repl.as_bytes(), &mut out);
        x.st.edits.replace(m.start()..m.end(), out);
        n += 1;
        if !spec.global {
            break;
        }
    }
    if n > 0 {
        1
    } else {
        -1
    }
}

/// `append_to_reply(txt)`: a header for the next local reply.
fn append_to_reply(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let txt = x.arg_str(&args[0]).into_owned();
    x.st.reply_headers.extend_from_slice(&txt);
    1
}

/// `is_method("INVITE|BYE")`; on a reply it tests the CSeq method.
fn is_method(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let CArg::Methods(set) = &args[0] else {
        return -1;
    };
    let msg = x.msg;
    let (m, raw) = if msg.is_request() {
        (msg.method(), msg.method_bytes())
    } else {
        match msg.cseq() {
            Some(c) => (c.method, c.method_bytes),
            None => return -1,
        }
    };
    if set.contains(m, raw) {
        1
    } else {
        -1
    }
}

/// `has_body()`: a non-empty body; `has_body(mime)`: and its Content-Type
/// (without parameters) is `mime`, case-insensitively.
fn has_body(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let msg = x.msg;
    if msg.body().is_empty() {
        return -1;
    }
    let Some(a) = args.first() else { return 1 };
    let want = x.arg_str(a);
    let ct = msg
        .header(HeaderName::ContentType)
        .map(|h| h.value)
        .unwrap_or(b"");
    let base = ct.split(|&b| b == b';').next().unwrap_or(b"");
    if base.trim_ascii().eq_ignore_ascii_case(want.trim_ascii()) {
        1
    } else {
        -1
    }
}
