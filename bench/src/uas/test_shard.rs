//! Test support for the plain-thread shards (`ticker`, `blocking`): one
//! shard on a fresh port in a thread, a probe socket that talks to it, and
//! a stop flag; `finish` stops the shard and returns its counts.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::answer::UasBehaviour;
use super::stats::UasStats;
use super::ticker::bind;

/// An INVITE the shards answer with 180 and 200.
pub const INVITE: &[u8] = b"INVITE sip:s@h SIP/2.0\r\nVia: SIP/2.0/UDP c;branch=z9hG4bKc\r\nFrom: <sip:a@b>;tag=f\r\nTo: <sip:s@h>\r\nCall-ID: 9@c\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\r\n";

/// The stop check a shard polls.
pub type Stopped = Box<dyn Fn() -> bool + Send>;

/// A running shard and the probe that talks to it.
pub struct TestShard {
    listen: SocketAddr,
    probe: UdpSocket,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<UasStats>,
}

impl TestShard {
    /// Binds a port and runs `shard` on it (answers at once, no 100, contact
    /// `127.0.0.1:1`) until `finish`.
    pub fn start(shard: impl FnOnce(UdpSocket, UasBehaviour, Vec<u8>, Stopped) -> UasStats + Send + 'static) -> TestShard {
        let listen = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let behaviour = UasBehaviour {
            answer_delay: Duration::ZERO,
            failure_code: 503,
            failure_ppm: 0,
            send_100: false,
        };
        let socket = bind(listen).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let stopped: Stopped = Box::new(move || flag.load(Ordering::Relaxed));
        let thread = std::thread::spawn(move || shard(socket, behaviour, b"127.0.0.1:1".to_vec(), stopped));
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        TestShard {
            listen,
            probe,
            stop,
            thread,
        }
    }

    /// Sends `request` to the shard.
    pub fn send(&self, request: &[u8]) {
        self.probe.send_to(request, self.listen).unwrap();
    }

    /// The next datagram the shard sent back (fails after 2 s).
    pub fn recv(&self) -> String {
        let mut buf = [0u8; 4096];
        let (n, _) = self.probe.recv_from(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Sends [`INVITE`] and checks the shard answers 180 then 200.
    pub fn rings_then_answers_an_invite(&self) {
        self.send(INVITE);
        let r = self.recv();
        assert!(r.starts_with("SIP/2.0 180 "), "{r}");
        let r = self.recv();
        assert!(r.starts_with("SIP/2.0 200 "), "{r}");
    }

    /// Stops the shard; its counts.
    pub fn finish(self) -> UasStats {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}
