//! A small HTTP/1.1 listener for operators and scrapers, on an address
//! separate from the SIP ports: `GET /metrics` (Prometheus text format)
//! and `POST /RPC` (JSON-RPC 2.0, as Kamailio's jsonrpcs serves it). One
//! request per connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::Control;
use crate::metrics::prom::CONTENT_TYPE;

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 1 << 20;

/// Binds `addr` and serves it on a thread; returns the bound address.
pub fn serve(ctl: Arc<Control>, addr: SocketAddr) -> Result<SocketAddr, String> {
    let listener =
        TcpListener::bind(addr).map_err(|e| format!("cannot listen on http {addr}: {e}"))?;
    let bound = listener.local_addr().unwrap_or(addr);
    thread::Builder::new()
        .name("sipshard-http".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let ctl = Arc::clone(&ctl);
                let _ = thread::Builder::new()
                    .name("sipshard-http-conn".into())
                    .spawn(move || serve_conn(&ctl, conn));
            }
        })
        .map_err(|e| format!("cannot start the http thread: {e}"))?;
    Ok(bound)
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    method: String,
    path: String,
    content_length: usize,
}

fn parse_head(head: &str) -> Option<Head> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.split('?').next()?.to_string();
    let mut content_length = 0;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse().ok()?;
            }
        }
    }
    Some(Head {
        method,
        path,
        content_length,
    })
}

fn serve_conn(ctl: &Control, mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return respond(&mut conn, 431, "text/plain", b"headers too large\n");
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let Some(head) = std::str::from_utf8(&buf[..head_end])
        .ok()
        .and_then(parse_head)
    else {
        return respond(&mut conn, 400, "text/plain", b"bad request\n");
    };
    if head.content_length > MAX_BODY {
        return respond(&mut conn, 413, "text/plain", b"body too large\n");
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < head.content_length {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(head.content_length);
    match (head.method.as_str(), head.path.as_str()) {
        ("GET", "/metrics") => {
            let text = ctl.metrics_text();
            respond(&mut conn, 200, CONTENT_TYPE, text.as_bytes())
        }
        ("POST", "/RPC") | ("POST", "/rpc") | ("POST", "/") => {
            let text = String::from_utf8_lossy(&body);
            match ctl.call(&text) {
                Some(r) => respond(&mut conn, 200, "application/json", r.as_bytes()),
                None => respond(&mut conn, 204, "application/json", b""),
            }
        }
        (_, "/metrics") | (_, "/RPC") => {
            respond(&mut conn, 405, "text/plain", b"method not allowed\n")
        }
        _ => respond(
            &mut conn,
            404,
            "text/plain",
            b"not found: try /metrics or POST /RPC\n",
        ),
    }
}

fn respond(conn: &mut TcpStream, code: u16, ctype: &str, body: &[u8]) {
    let reason = match code {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        _ => "Request Header Fields Too Large",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body);
    let _ = conn.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        assert_eq!(
            parse_head("POST /RPC?x=1 HTTP/1.1\r\nHost: a\r\ncontent-length: 12"),
            Some(Head {
                method: "POST".into(),
                path: "/RPC".into(),
                content_length: 12
            })
        );
        assert_eq!(parse_head("GET\r\n"), None);
        assert_eq!(parse_head("GET / HTTP/1.1\r\nContent-Length: x"), None);
    }
}
