//! Which shard owns the stream connection to a peer address.
//!
//! Read on every stream send, written only when a connection opens or
//! closes: a copy-on-write map behind `ArcSwap`, so readers never take a
//! lock and never contend with each other.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use sipshard_core::route_io::ConnId;
use sipshard_core::transport::Transport;

/// Key of a connection in the index: transport and peer address.
pub type ConnKey = (Transport, SocketAddr);

/// Process-wide index of open stream connections.
#[derive(Default)]
pub struct ConnIndex {
    map: ArcSwap<HashMap<ConnKey, ConnId>>,
}

impl ConnIndex {
    pub fn new() -> Arc<ConnIndex> {
        Arc::new(ConnIndex::default())
    }

    /// The connection to `peer` over `proto`, if one is open.
    pub fn get(&self, proto: Transport, peer: SocketAddr) -> Option<ConnId> {
        self.map.load().get(&(proto, peer)).copied()
    }

    /// Records that `id` is the connection to `peer`.
    pub fn insert(&self, proto: Transport, peer: SocketAddr, id: ConnId) {
        self.map.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.insert((proto, peer), id);
            m
        });
    }

    /// Forgets `id` (only if it is still the one recorded for `peer`).
    pub fn remove(&self, proto: Transport, peer: SocketAddr, id: ConnId) {
        self.map.rcu(|m| {
            let mut m = HashMap::clone(m);
            if m.get(&(proto, peer)) == Some(&id) {
                m.remove(&(proto, peer));
            }
            m
        });
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.map.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove() {
        let idx = ConnIndex::new();
        let peer: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        let a = ConnId { shard: 0, id: 1 };
        let b = ConnId { shard: 1, id: 7 };
        assert_eq!(idx.get(Transport::Tcp, peer), None);
        idx.insert(Transport::Tcp, peer, a);
        assert_eq!(idx.get(Transport::Tcp, peer), Some(a));
        assert_eq!(idx.get(Transport::Tls, peer), None);
        idx.insert(Transport::Tcp, peer, b);
        idx.remove(Transport::Tcp, peer, a); // stale id: ignored
        assert_eq!(idx.get(Transport::Tcp, peer), Some(b));
        idx.remove(Transport::Tcp, peer, b);
        assert!(idx.is_empty());
    }
}
