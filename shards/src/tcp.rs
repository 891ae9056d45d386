//! TCP: accepting and opening connections, framing the byte stream into
//! messages (RFC 3261 §18.3, by Content-Length), idle timeout, size limits.
//!
//! Each connection is two tasks on the shard that owns it: a reader that
//! frames and routes messages, and a writer fed by a local channel, so any
//! task of the shard (or another shard, through the mesh) can queue bytes
//! for it without waiting.

use std::net::SocketAddr;
use std::rc::Rc;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::{TcpListener, TcpStream};
use sipshard_core::proxy::reply_to_malformed;
use sipshard_core::route_io::{level, ConnId, Inbound, Router};
use sipshard_core::sip::framing::{next_frame, Frame, FramingError, Limits};
use sipshard_core::sip::{HeaderName, ParseError};
use sipshard_core::transport::Transport;

use crate::shard::Shard;

/// Bytes queued for one connection before new ones are dropped.
const WRITE_QUEUE: usize = 4096;

/// A write that cannot progress for this long closes the connection.
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts connections forever; each gets a reader and a writer task.
pub async fn accept_loop<R: Router + 'static>(
    shard: Rc<Shard<R>>,
    local: SocketAddr,
    listener: TcpListener,
) {
    let per_shard_max = (shard.cfg.tcp_max_connections / shard.cfg.shard_count()).max(1);
    loop {
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                shard.logger.log(
                    level::ERR,
                    Some(shard.id),
                    &format!("tcp accept on {local} failed: {e}"),
                );
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        if shard.conn_count() >= per_shard_max {
            shard.logger.log(
                level::WARN,
                Some(shard.id),
                "tcp_max_connections reached: connection refused",
            );
            drop(stream);
            continue;
        }
        let peer = match stream.peer_addr() {
            Ok(p) => p,
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        let (tx, rx) = local_channel::new_bounded(WRITE_QUEUE);
        let cid = shard.add_conn(Transport::Tcp, peer, Rc::new(tx));
        glommio::spawn_local(run_conn(Rc::clone(&shard), stream, rx, cid, local, peer)).detach();
    }
}

/// Opens a connection to `dst` for `proto` and returns the queue to write
/// to it; the connect happens in the background and queued bytes go out
/// once it succeeds.
pub fn connect<R: Router + 'static>(
    shard: &Rc<Shard<R>>,
    proto: Transport,
    local: SocketAddr,
    dst: SocketAddr,
) -> Option<Rc<LocalSender<Vec<u8>>>> {
    if proto != Transport::Tcp {
        shard.logger.log(
            level::ERR,
            Some(shard.id),
            &format!("cannot send over {proto}: not supported yet"),
        );
        return None;
    }
    let (tx, rx) = local_channel::new_bounded(WRITE_QUEUE);
    let tx = Rc::new(tx);
    let cid = shard.add_conn(proto, dst, Rc::clone(&tx));
    let shard = Rc::clone(shard);
    glommio::spawn_local(async move {
        match TcpStream::connect_timeout(dst, std::time::Duration::from_secs(5)).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                shard.tm_connect_result(proto, dst, true).await;
                let local = stream.local_addr().unwrap_or(local);
                run_conn(shard, stream, rx, cid, local, dst).await;
            }
            Err(e) => {
                shard.logger.log(
                    level::WARN,
                    Some(shard.id),
                    &format!("tcp connect to {dst} failed: {e}"),
                );
                shard.remove_conn(cid);
                shard.tm_connect_result(proto, dst, false).await;
            }
        }
    })
    .detach();
    Some(tx)
}

/// Runs a connection until it closes, errs, or stays idle too long.
async fn run_conn<R: Router + 'static>(
    shard: Rc<Shard<R>>,
    stream: TcpStream,
    rx: LocalReceiver<Vec<u8>>,
    cid: ConnId,
    local: SocketAddr,
    peer: SocketAddr,
) {
    let _ = stream.set_read_timeout(Some(shard.cfg.tcp_idle));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let (mut reader, mut writer) = futures_lite::io::split(stream);
    // The writer ends when every queue handle is gone (the connection was
    // forgotten) after writing what was queued, or when a write fails.
    glommio::spawn_local(async move {
        while let Some(bytes) = rx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = writer.close().await;
    })
    .detach();
    let inb = Inbound {
        proto: Transport::Tcp,
        src: peer,
        local,
        conn: Some(cid),
    };
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let limits = Limits {
        max_header_bytes: shard.cfg.max_header_bytes,
        max_body_bytes: shard.cfg.max_body_bytes,
    };
    'conn: loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match next_frame(&buf, &limits) {
                Ok(Frame::Partial) => break,
                Ok(Frame::KeepAlive { len, ping }) => {
                    buf.drain(..len);
                    if ping {
                        // RFC 5626 §4.4.1: answer a double-CRLF ping with a CRLF pong.
                        if let Some(c) = shard.conns.borrow().get(&cid.id) {
                            let _ = c.tx.try_send(b"\r\n".to_vec());
                        }
                    }
                }
                Ok(Frame::Complete(len)) => {
                    shard.handle(&buf[..len], inb).await;
                    buf.drain(..len);
                }
                Err(e) => {
                    shard.logger.log(
                        level::WARN,
                        Some(shard.id),
                        &format!("closing tcp connection from {peer}: {e}"),
                    );
                    reply_unframeable(&shard, &buf, e, &inb);
                    break 'conn;
                }
            }
        }
    }
    shard.remove_conn(cid);
}

/// Before closing a connection whose byte stream cannot be framed, answers
/// the request at its head with `400 <reason>` when its headers are
/// complete and a reply can be built.
fn reply_unframeable<R: Router + 'static>(
    shard: &Rc<Shard<R>>,
    buf: &[u8],
    e: FramingError,
    inb: &Inbound,
) {
    let err = match e {
        FramingError::MissingContentLength => ParseError::MissingHeader(HeaderName::ContentLength),
        FramingError::BadContentLength => ParseError::BadContentLength,
        FramingError::HeadersTooLong | FramingError::BodyTooLong => ParseError::TooLarge,
    };
    let Some(reply) = reply_to_malformed(buf, err, inb.src) else {
        return;
    };
    if let Some(c) = inb
        .conn
        .and_then(|cid| shard.conns.borrow().get(&cid.id).map(|c| Rc::clone(&c.tx)))
    {
        let _ = c.try_send(reply);
    }
}
