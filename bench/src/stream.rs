//! SIP over TCP for the harness: a non-blocking connection with an input
//! buffer that frames messages (RFC 3261 §18.3: the header ends at the first
//! empty line, the body is Content-Length bytes; CRLF keep-alives between
//! messages are skipped) and an output buffer for what the socket did not
//! take yet. Buffers are reused, so a warm connection does not allocate.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};

/// Largest message the harness accepts on a stream.
const MAX_MESSAGE: usize = 64 * 1024;

/// One connection and its buffers.
pub struct Conn {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    input: Vec<u8>,
    /// Start of the unconsumed input.
    consumed: usize,
    output: Vec<u8>,
    /// The peer closed, or the stream broke or could not be framed.
    pub closed: bool,
}

/// Where the next complete message lies in the input, if one is complete.
fn frame(buf: &[u8]) -> Result<Option<(usize, usize)>, &'static str> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let rest = &buf[start..];
    let Some(head_end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if rest.len() > MAX_MESSAGE {
            Err("header too long")
        } else {
            Ok(None)
        };
    };
    let head = &rest[..head_end];
    let mut length = 0usize;
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            length = std::str::from_utf8(line[colon + 1..].trim_ascii())
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or("bad Content-Length")?;
        }
    }
    let end = head_end + 4 + length;
    if end > MAX_MESSAGE {
        return Err("message too long");
    }
    Ok((rest.len() >= end).then_some((start, start + end)))
}

impl Conn {
    /// Wraps a connected stream and makes it non-blocking.
    pub fn new(stream: TcpStream) -> io::Result<Conn> {
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        let peer = stream.peer_addr()?;
        Ok(Conn {
            stream,
            peer,
            input: Vec::with_capacity(16 * 1024),
            consumed: 0,
            output: Vec::with_capacity(16 * 1024),
            closed: false,
        })
    }

    /// Reads whatever the socket holds without blocking.
    pub fn fill(&mut self) {
        if self.consumed > 0 {
            self.input.drain(..self.consumed);
            self.consumed = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.closed = true;
                    return;
                }
                Ok(n) => self.input.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }

    /// The next complete message read so far, if any (valid until the next
    /// `fill`). An unframeable stream is closed.
    pub fn next_message(&mut self) -> Option<&[u8]> {
        match frame(&self.input[self.consumed..]) {
            Ok(Some((start, end))) => {
                let at = self.consumed;
                self.consumed += end;
                Some(&self.input[at + start..at + end])
            }
            Ok(None) => None,
            Err(_) => {
                self.closed = true;
                None
            }
        }
    }

    /// Queues bytes to send.
    pub fn queue(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }

    /// Writes as much queued output as the socket takes now.
    pub fn flush(&mut self) {
        let mut at = 0;
        while at < self.output.len() {
            match self.stream.write(&self.output[at..]) {
                Ok(0) => break,
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.closed = true;
                    break;
                }
            }
        }
        self.output.drain(..at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_by_content_length_and_skips_keepalives() {
        let two = b"\r\n\r\nOPTIONS sip:a SIP/2.0\r\nl: 3\r\n\r\nabcSIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\nBYE";
        let (s, e) = frame(two).unwrap().unwrap();
        assert_eq!(&two[s..e], &b"OPTIONS sip:a SIP/2.0\r\nl: 3\r\n\r\nabc"[..]);
        let (s2, e2) = frame(&two[e..]).unwrap().unwrap();
        assert_eq!(&two[e + s2..e + e2], &b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"[..]);
        assert_eq!(frame(&two[e + e2..]).unwrap(), None, "an incomplete message waits");
        assert_eq!(frame(b"INVITE x SIP/2.0\r\nContent-Length: 10\r\n\r\nshort"), Ok(None));
        assert!(frame(b"INVITE x SIP/2.0\r\nContent-Length: zz\r\n\r\n").is_err());
    }

    #[test]
    fn exchanges_messages_over_a_real_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let mut a = Conn::new(client).unwrap();
        let mut b = Conn::new(server).unwrap();
        a.queue(b"MESSAGE sip:x SIP/2.0\r\nContent-Length: 2\r\n\r\nhi");
        a.queue(b"MESSAGE sip:y SIP/2.0\r\nContent-Length: 0\r\n\r\n");
        a.flush();
        std::thread::sleep(std::time::Duration::from_millis(20));
        b.fill();
        assert!(b.next_message().unwrap().ends_with(b"hi"));
        assert!(b.next_message().unwrap().starts_with(b"MESSAGE sip:y"));
        assert!(b.next_message().is_none());
        drop(a);
        std::thread::sleep(std::time::Duration::from_millis(20));
        b.fill();
        assert!(b.closed);
    }
}
