//! The Security Association Database shared by all shards (RFC 4301 §4.4.2,
//! shaped for IMS).
//!
//! * Inbound SAs are found by SPI alone (the P-CSCF allocates its SPIs
//!   uniquely); outbound SAs by (UE address, UE port, local protected port).
//! * Reads take no lock: each map is split into [`BUCKETS`] `ArcSwap`
//!   snapshots of an immutable `HashMap`; a lookup is an atomic load and a
//!   hash probe. Writers (registration events, rare) serialise on a mutex,
//!   copy the buckets they touch and swap them in, so a write costs
//!   O(entries / BUCKETS), not O(entries).
//! * The four SAs of a registration are installed and removed as one
//!   [`RegistrationSas`]. On re-registration the new set is *pending* and the
//!   old one keeps working; the first packet that passes the ICV on a pending
//!   set's inbound SA confirms it ([`SaDatabase::inbound_verified`]) and the
//!   old set is given a short grace lifetime (TS 33.203 §7.4; ims-ipsec.md §1.8).
//! * Outbound sequence numbers live in each SA's `AtomicU64`, so shards that
//!   share an SA never reuse a number.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

use crate::sa::{Direction, SaBuildError, SaParams, SecurityAssociation};
use crate::sec_agree::{derive_esp_keys, ImsKeys};
use crate::{EncryptionAlgorithm, IntegrityAlgorithm};

/// Number of independently swapped parts of each map.
pub const BUCKETS: usize = 64;

/// Key of an outbound SA: where the packet goes and from which protected port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutboundKey {
    /// The UE's address.
    pub ue: IpAddr,
    /// The UE's port the packet goes to.
    pub ue_port: u16,
    /// The P-CSCF's protected port the packet leaves from.
    pub local_port: u16,
}

/// Identifies an installed SA set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SetId(pub u64);

/// The registration an SA set belongs to, as the caller keys registrations
/// (e.g. the UE's contact).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistrationKey(pub String);

/// What is needed to build the four SAs of one registration
/// (ims-ipsec.md §1.6).
#[derive(Clone)]
pub struct RegistrationParams {
    /// The UE's address.
    pub ue: IpAddr,
    /// The P-CSCF's address.
    pub local: IpAddr,
    /// P-CSCF's inbound SPI on its protected client port.
    pub spi_pc: u32,
    /// P-CSCF's inbound SPI on its protected server port.
    pub spi_ps: u32,
    /// UE's inbound SPI on its protected client port.
    pub spi_uc: u32,
    /// UE's inbound SPI on its protected server port.
    pub spi_us: u32,
    /// P-CSCF protected client port.
    pub port_pc: u16,
    /// P-CSCF protected server port.
    pub port_ps: u16,
    /// UE protected client port.
    pub port_uc: u16,
    /// UE protected server port.
    pub port_us: u16,
    /// Negotiated integrity algorithm.
    pub integrity: IntegrityAlgorithm,
    /// Negotiated encryption algorithm.
    pub encryption: EncryptionAlgorithm,
    /// CK and IK from the 401.
    pub keys: ImsKeys,
    /// Expiry on the caller's clock (temporary SAs: reg-await-auth).
    pub expires_at_ms: u64,
}

/// The four SAs of one registration.
#[derive(Debug)]
pub struct RegistrationSas {
    /// Identity of this set.
    pub id: SetId,
    /// UE `port_uc` → P-CSCF `port_ps`, SPI `spi_ps`.
    pub inbound_ps: Arc<SecurityAssociation>,
    /// UE `port_us` → P-CSCF `port_pc`, SPI `spi_pc`.
    pub inbound_pc: Arc<SecurityAssociation>,
    /// P-CSCF `port_ps` → UE `port_uc`, SPI `spi_uc`.
    pub outbound_uc: Arc<SecurityAssociation>,
    /// P-CSCF `port_pc` → UE `port_us`, SPI `spi_us`.
    pub outbound_us: Arc<SecurityAssociation>,
    confirmed: AtomicBool,
}

impl RegistrationSas {
    fn build(id: SetId, p: &RegistrationParams) -> Result<Self, SaBuildError> {
        let keys = derive_esp_keys(&p.keys, p.integrity, p.encryption);
        let sa = |spi, direction, local_port, ue_port| -> Result<_, SaBuildError> {
            Ok(Arc::new(SecurityAssociation::new(SaParams {
                spi,
                direction,
                local: SocketAddr::new(p.local, local_port),
                remote: SocketAddr::new(p.ue, ue_port),
                integrity: p.integrity,
                auth_key: keys.auth_key.clone(),
                encryption: p.encryption,
                enc_key: keys.enc_key.clone(),
                expires_at_ms: p.expires_at_ms,
            })?))
        };
        Ok(Self {
            id,
            inbound_ps: sa(p.spi_ps, Direction::Inbound, p.port_ps, p.port_uc)?,
            inbound_pc: sa(p.spi_pc, Direction::Inbound, p.port_pc, p.port_us)?,
            outbound_uc: sa(p.spi_uc, Direction::Outbound, p.port_ps, p.port_uc)?,
            outbound_us: sa(p.spi_us, Direction::Outbound, p.port_pc, p.port_us)?,
            confirmed: AtomicBool::new(false),
        })
    }

    fn all(&self) -> [&Arc<SecurityAssociation>; 4] {
        [
            &self.inbound_ps,
            &self.inbound_pc,
            &self.outbound_uc,
            &self.outbound_us,
        ]
    }

    fn inbound(&self) -> [&Arc<SecurityAssociation>; 2] {
        [&self.inbound_ps, &self.inbound_pc]
    }

    fn outbound(&self) -> [(OutboundKey, &Arc<SecurityAssociation>); 2] {
        [&self.outbound_uc, &self.outbound_us].map(|sa| {
            (
                OutboundKey {
                    ue: sa.remote().ip(),
                    ue_port: sa.remote().port(),
                    local_port: sa.local().port(),
                },
                sa,
            )
        })
    }

    /// The P-CSCF SPIs (`spi_pc`, `spi_ps`) to give back to the allocator.
    pub fn local_spis(&self) -> (u32, u32) {
        (self.inbound_pc.spi(), self.inbound_ps.spi())
    }

    /// Whether traffic has been seen on this set.
    pub fn is_confirmed(&self) -> bool {
        self.confirmed.load(Ordering::Relaxed)
    }

    /// Sets the lifetime of all four SAs (e.g. registration expiry + 30 s).
    pub fn set_expires_at_ms(&self, at_ms: u64) {
        self.all().iter().for_each(|sa| sa.set_expires_at_ms(at_ms));
    }

    fn expired(&self, now_ms: u64) -> bool {
        self.all().iter().all(|sa| sa.is_expired(now_ms))
    }
}

/// An inbound SA found by SPI, with the set it belongs to.
#[derive(Debug, Clone)]
pub struct InboundEntry {
    /// The SA.
    pub sa: Arc<SecurityAssociation>,
    /// Its registration set.
    pub set: Arc<RegistrationSas>,
}

#[derive(Default)]
struct Registration {
    active: Option<Arc<RegistrationSas>>,
    pending: Option<Arc<RegistrationSas>>,
    retiring: Vec<Arc<RegistrationSas>>,
}

#[derive(Default)]
struct Writer {
    next_id: u64,
    registrations: HashMap<RegistrationKey, Registration>,
    owner: HashMap<SetId, RegistrationKey>,
}

type Buckets<K, V> = Box<[ArcSwap<HashMap<K, V>>]>;

/// The database. Share it as `Arc<SaDatabase>`.
pub struct SaDatabase {
    inbound: Buckets<u32, InboundEntry>,
    outbound: Buckets<OutboundKey, Arc<SecurityAssociation>>,
    writer: Mutex<Writer>,
}

impl Default for SaDatabase {
    fn default() -> Self {
        Self::new()
    }
}

fn bucket_of<K: Hash>(key: &K) -> usize {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() as usize) % BUCKETS
}

fn empty_buckets<K, V>() -> Buckets<K, V> {
    (0..BUCKETS)
        .map(|_| ArcSwap::from_pointee(HashMap::new()))
        .collect()
}

fn edit<K: Hash + Eq + Clone, V: Clone>(
    buckets: &Buckets<K, V>,
    key: &K,
    f: impl FnOnce(&mut HashMap<K, V>),
) {
    let slot = &buckets[bucket_of(key)];
    let mut map = HashMap::clone(&slot.load());
    f(&mut map);
    slot.store(Arc::new(map));
}

/// Why a set could not be installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallError {
    /// Key material or randomness problem.
    Build(SaBuildError),
    /// An inbound SPI is already used by another set.
    SpiInUse { spi: u32 },
}

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Build(e) => e.fmt(f),
            Self::SpiInUse { spi } => write!(f, "inbound SPI {spi} is already in use"),
        }
    }
}

impl std::error::Error for InstallError {}

impl SaDatabase {
    /// An empty database.
    pub fn new() -> Self {
        Self {
            inbound: empty_buckets(),
            outbound: empty_buckets(),
            writer: Mutex::new(Writer::default()),
        }
    }

    /// Lock-free: the inbound SA for `spi`.
    pub fn lookup_inbound(&self, spi: u32) -> Option<InboundEntry> {
        self.inbound[bucket_of(&spi)].load().get(&spi).cloned()
    }

    /// Lock-free: the outbound SA for a packet to `ue`:`ue_port` from `local_port`.
    pub fn lookup_outbound(
        &self,
        ue: IpAddr,
        ue_port: u16,
        local_port: u16,
    ) -> Option<Arc<SecurityAssociation>> {
        let key = OutboundKey {
            ue,
            ue_port,
            local_port,
        };
        self.outbound[bucket_of(&key)].load().get(&key).cloned()
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Builds and installs the four SAs of `params` for `registration`.
    /// With no set yet, the new one is active at once; otherwise it is
    /// pending and the active one keeps working until the new one is used.
    /// A previous pending set (e.g. a second 401 after a resync) is replaced
    /// and returned, so its SPIs can be released.
    pub fn install(
        &self,
        registration: RegistrationKey,
        params: &RegistrationParams,
    ) -> Result<(Arc<RegistrationSas>, Option<Arc<RegistrationSas>>), InstallError> {
        let mut w = self.writer();
        for spi in [params.spi_pc, params.spi_ps] {
            if self.lookup_inbound(spi).is_some() {
                return Err(InstallError::SpiInUse { spi });
            }
        }
        w.next_id += 1;
        let set = Arc::new(
            RegistrationSas::build(SetId(w.next_id), params).map_err(InstallError::Build)?,
        );
        self.publish(&set);
        w.owner.insert(set.id, registration.clone());
        let reg = w.registrations.entry(registration).or_default();
        let replaced = if reg.active.is_none() {
            reg.active = Some(Arc::clone(&set));
            None
        } else {
            reg.pending.replace(Arc::clone(&set))
        };
        if let Some(old) = &replaced {
            w.owner.remove(&old.id);
            self.unpublish(old);
        }
        Ok((set, replaced))
    }

    /// Call after a packet on `entry` passed its ICV. Cheap when the set is
    /// already confirmed (one atomic load); otherwise promotes a pending set
    /// to active and gives the old set `grace_ms` more life. Returns true if
    /// a promotion happened.
    pub fn inbound_verified(&self, entry: &InboundEntry, now_ms: u64, grace_ms: u64) -> bool {
        if entry.set.is_confirmed() {
            return false;
        }
        let mut w = self.writer();
        entry.set.confirmed.store(true, Ordering::Relaxed);
        let Some(key) = w.owner.get(&entry.set.id).cloned() else {
            return false;
        };
        let Some(reg) = w.registrations.get_mut(&key) else {
            return false;
        };
        if reg.pending.as_ref().is_some_and(|p| p.id == entry.set.id) {
            if let Some(old) = reg.active.take() {
                let at = now_ms.saturating_add(grace_ms);
                for sa in old.all() {
                    sa.set_expires_at_ms(sa.expires_at_ms().min(at));
                }
                reg.retiring.push(old);
            }
            reg.active = reg.pending.take();
            return true;
        }
        false
    }

    /// Removes every set of `registration` (de-registration); returns them
    /// so their SPIs and ports can be released.
    pub fn remove(&self, registration: &RegistrationKey) -> Vec<Arc<RegistrationSas>> {
        let mut w = self.writer();
        let Some(reg) = w.registrations.remove(registration) else {
            return Vec::new();
        };
        let sets: Vec<_> = reg
            .active
            .into_iter()
            .chain(reg.pending)
            .chain(reg.retiring)
            .collect();
        for set in &sets {
            w.owner.remove(&set.id);
            self.unpublish(set);
        }
        sets
    }

    /// Removes every set whose four SAs are expired at `now_ms`.
    pub fn expire(&self, now_ms: u64) -> Vec<Arc<RegistrationSas>> {
        let mut w = self.writer();
        let mut gone = Vec::new();
        for reg in w.registrations.values_mut() {
            let mut take = |slot: &mut Option<Arc<RegistrationSas>>| {
                if slot.as_ref().is_some_and(|s| s.expired(now_ms)) {
                    gone.extend(slot.take());
                }
            };
            take(&mut reg.active);
            take(&mut reg.pending);
            let (dead, live): (Vec<_>, Vec<_>) =
                reg.retiring.drain(..).partition(|s| s.expired(now_ms));
            reg.retiring = live;
            gone.extend(dead);
        }
        w.registrations
            .retain(|_, r| r.active.is_some() || r.pending.is_some() || !r.retiring.is_empty());
        for set in &gone {
            w.owner.remove(&set.id);
            self.unpublish(set);
        }
        gone
    }

    fn publish(&self, set: &Arc<RegistrationSas>) {
        for sa in set.inbound() {
            let entry = InboundEntry {
                sa: Arc::clone(sa),
                set: Arc::clone(set),
            };
            edit(&self.inbound, &sa.spi(), |m| {
                m.insert(sa.spi(), entry);
            });
        }
        // Newest wins if a UE reuses a port pair (it should not).
        for (key, sa) in set.outbound() {
            edit(&self.outbound, &key, |m| {
                m.insert(key, Arc::clone(sa));
            });
        }
    }

    fn unpublish(&self, set: &RegistrationSas) {
        for sa in set.inbound() {
            edit(&self.inbound, &sa.spi(), |m| {
                if m.get(&sa.spi()).is_some_and(|e| e.set.id == set.id) {
                    m.remove(&sa.spi());
                }
            });
        }
        for (key, sa) in set.outbound() {
            edit(&self.outbound, &key, |m| {
                if m.get(&key).is_some_and(|cur| Arc::ptr_eq(cur, sa)) {
                    m.remove(&key);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(spi_base: u32, port_pc: u16, port_uc: u16) -> RegistrationParams {
        RegistrationParams {
            ue: "10.201.0.2".parse().unwrap(),
            local: "10.201.0.1".parse().unwrap(),
            spi_pc: spi_base,
            spi_ps: spi_base + 1,
            spi_uc: 9000 + spi_base,
            spi_us: 9001 + spi_base,
            port_pc,
            port_ps: 6100,
            port_uc,
            port_us: 31800,
            integrity: IntegrityAlgorithm::HmacSha196,
            encryption: EncryptionAlgorithm::AesCbc,
            keys: ImsKeys {
                ck: [1; 16],
                ik: [2; 16],
            },
            expires_at_ms: 240_000,
        }
    }

    fn key() -> RegistrationKey {
        RegistrationKey("sip:ue@10.201.0.2:31800".into())
    }

    #[test]
    fn the_four_sas_are_found_by_their_keys() {
        let db = SaDatabase::new();
        let (set, _) = db.install(key(), &params(4096, 5100, 31900)).unwrap();
        let ue: IpAddr = "10.201.0.2".parse().unwrap();
        let ps = db.lookup_inbound(4097).unwrap();
        assert!(Arc::ptr_eq(&ps.sa, &set.inbound_ps));
        assert_eq!(ps.sa.local().port(), 6100);
        assert!(Arc::ptr_eq(
            &db.lookup_inbound(4096).unwrap().sa,
            &set.inbound_pc
        ));
        let uc = db.lookup_outbound(ue, 31900, 6100).unwrap();
        assert_eq!(uc.spi(), 9000 + 4096);
        let us = db.lookup_outbound(ue, 31800, 5100).unwrap();
        assert_eq!(us.spi(), 9001 + 4096);
        assert!(db.lookup_outbound(ue, 31800, 6100).is_none());
        assert!(db.lookup_inbound(1).is_none());
    }

    #[test]
    fn sealed_by_the_outbound_set_opened_by_a_ue_side_sa() {
        let db = SaDatabase::new();
        let (set, _) = db.install(key(), &params(4096, 5100, 31900)).unwrap();
        // What the UE would install for its inbound SA on port_uc.
        let ue_keys = derive_esp_keys(
            &ImsKeys {
                ck: [1; 16],
                ik: [2; 16],
            },
            IntegrityAlgorithm::HmacSha196,
            EncryptionAlgorithm::AesCbc,
        );
        let ue_in = SecurityAssociation::new(SaParams {
            spi: set.outbound_uc.spi(),
            direction: Direction::Inbound,
            local: set.outbound_uc.remote(),
            remote: set.outbound_uc.local(),
            integrity: IntegrityAlgorithm::HmacSha196,
            auth_key: ue_keys.auth_key,
            encryption: EncryptionAlgorithm::AesCbc,
            enc_key: ue_keys.enc_key,
            expires_at_ms: 1,
        })
        .unwrap();
        let mut p = Vec::new();
        set.outbound_uc.seal(17, b"SIP/2.0 401", &mut p).unwrap();
        let o = ue_in.open(&mut p).unwrap();
        assert_eq!(&p[o.payload], b"SIP/2.0 401");
    }

    #[test]
    fn reregistration_keeps_the_old_set_until_the_new_one_is_used() {
        let db = SaDatabase::new();
        let ue: IpAddr = "10.201.0.2".parse().unwrap();
        let (old, _) = db.install(key(), &params(4096, 5100, 31900)).unwrap();
        let (new, replaced) = db.install(key(), &params(4098, 5101, 31902)).unwrap();
        assert!(replaced.is_none());
        // Both work meanwhile.
        assert!(db.lookup_inbound(4097).is_some() && db.lookup_inbound(4099).is_some());
        assert!(db.lookup_outbound(ue, 31800, 5100).is_some());
        assert!(db.lookup_outbound(ue, 31800, 5101).is_some());
        // Traffic on the old set confirms nothing.
        let e_old = db.lookup_inbound(4097).unwrap();
        assert!(!db.inbound_verified(&e_old, 1_000, 5_000));
        // First packet on the new set: promotion, old set gets 5 s.
        let e_new = db.lookup_inbound(4099).unwrap();
        assert!(db.inbound_verified(&e_new, 1_000, 5_000));
        assert!(!db.inbound_verified(&e_new, 1_001, 5_000), "only once");
        assert_eq!(old.inbound_ps.expires_at_ms(), 6_000);
        assert_eq!(new.inbound_ps.expires_at_ms(), 240_000);
        assert!(db.expire(5_999).is_empty());
        let gone = db.expire(6_000);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].local_spis(), (4096, 4097));
        assert!(db.lookup_inbound(4097).is_none());
        assert!(db.lookup_outbound(ue, 31800, 5100).is_none());
        assert!(db.lookup_inbound(4099).is_some());
    }

    #[test]
    fn a_second_pending_set_replaces_the_first_and_spis_stay_unique() {
        let db = SaDatabase::new();
        db.install(key(), &params(4096, 5100, 31900)).unwrap();
        let (first, _) = db.install(key(), &params(4098, 5101, 31902)).unwrap();
        let (_, replaced) = db.install(key(), &params(4100, 5102, 31904)).unwrap();
        assert_eq!(replaced.unwrap().id, first.id);
        assert!(db.lookup_inbound(4098).is_none());
        assert_eq!(
            db.install(RegistrationKey("other".into()), &params(4100, 5200, 40000))
                .unwrap_err(),
            InstallError::SpiInUse { spi: 4100 }
        );
        assert_eq!(db.remove(&key()).len(), 2);
        assert!(db.lookup_inbound(4096).is_none() && db.lookup_inbound(4100).is_none());
    }

    #[test]
    fn readers_on_other_threads_see_sets_and_share_sequence_numbers() {
        let db = Arc::new(SaDatabase::new());
        db.install(key(), &params(4096, 5100, 31900)).unwrap();
        let ue: IpAddr = "10.201.0.2".parse().unwrap();
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let db = Arc::clone(&db);
                std::thread::spawn(move || {
                    (0..500)
                        .map(|_| {
                            db.lookup_outbound(ue, 31800, 5100)
                                .unwrap()
                                .next_seq()
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seqs: Vec<u32> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(seqs.len(), 1500);
    }
}
