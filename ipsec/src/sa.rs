//! One Security Association (RFC 4301 §4.4.2 fields that IMS uses): SPI,
//! direction, selectors (addresses and protected ports), transport mode,
//! keyed algorithms, the outbound sequence counter, the inbound replay
//! window, and the lifetime.
//!
//! An SA is shared by every shard through `Arc`. The outbound counter is an
//! `AtomicU64` so that `fetch_add` hands each shard a different sequence
//! number; the replay window sits behind a mutex that is held for a few
//! instructions, twice per packet (the data plane steers one SPI to one
//! shard, so it is uncontended).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::algorithm::{EncryptionAlgorithm, IntegrityAlgorithm};
use crate::crypto::{CipherKey, IntegrityKey, IvGenerator, Sha1Backend};
use crate::error::{EspError, KeyLengthError};
use crate::esp::{self, Opened};
use crate::replay::{ReplayReject, ReplayWindow};

/// Which way an SA carries packets, seen from this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// UE → P-CSCF: the SPI is one the P-CSCF chose (`spi_pc`, `spi_ps`).
    Inbound,
    /// P-CSCF → UE: the SPI is one the UE chose (`spi_uc`, `spi_us`).
    Outbound,
}

/// The only mode IMS uses (TS 33.203 §6.3, `mod=trans`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// RFC 4303 transport mode: the ESP header sits between IP and the L4 header.
    #[default]
    Transport,
}

/// Everything needed to build an SA. Keys are the ESP keys, already derived
/// (see `sec_agree::keys` for the TS 33.203 Annex I derivation from IK/CK).
#[derive(Clone)]
pub struct SaParams {
    /// The SPI on the wire.
    pub spi: u32,
    /// Inbound or outbound.
    pub direction: Direction,
    /// This node's address and protected port.
    pub local: SocketAddr,
    /// The UE's address and port.
    pub remote: SocketAddr,
    /// Integrity algorithm.
    pub integrity: IntegrityAlgorithm,
    /// ESP authentication key (20 bytes for SHA-1, 16 for MD5).
    pub auth_key: Vec<u8>,
    /// Encryption algorithm.
    pub encryption: EncryptionAlgorithm,
    /// ESP encryption key (16 for AES, 24 for 3DES, empty for NULL).
    pub enc_key: Vec<u8>,
    /// Absolute expiry on the caller's monotonic clock, in milliseconds.
    pub expires_at_ms: u64,
}

impl std::fmt::Debug for SaParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaParams")
            .field("spi", &self.spi)
            .field("direction", &self.direction)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("integrity", &self.integrity)
            .field("encryption", &self.encryption)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// An SA ready to protect or unprotect packets.
#[derive(Debug)]
pub struct SecurityAssociation {
    spi: u32,
    direction: Direction,
    mode: Mode,
    local: SocketAddr,
    remote: SocketAddr,
    integrity: IntegrityKey,
    cipher: CipherKey,
    iv: IvGenerator,
    /// Last sequence number handed out (outbound).
    last_seq: AtomicU64,
    replay: Mutex<ReplayWindow>,
    expires_at_ms: AtomicU64,
}

/// A sealed packet's sequence number, for logging.
pub type SeqNo = u32;

impl SecurityAssociation {
    /// Expands the keys and draws the IV generator's key at random.
    pub fn new(params: SaParams) -> Result<Self, SaBuildError> {
        let iv = IvGenerator::random().map_err(|_| SaBuildError::RandomUnavailable)?;
        Self::with_iv_generator(params, iv, Sha1Backend::default())
    }

    /// As [`SecurityAssociation::new`], with a given IV generator and SHA-1
    /// backend (benchmarks and reproducible tests).
    pub fn with_iv_generator(
        params: SaParams,
        iv: IvGenerator,
        sha1: Sha1Backend,
    ) -> Result<Self, SaBuildError> {
        let integrity = IntegrityKey::with_sha1_backend(params.integrity, &params.auth_key, sha1)?;
        let cipher = CipherKey::new(params.encryption, &params.enc_key)?;
        Ok(Self {
            spi: params.spi,
            direction: params.direction,
            mode: Mode::Transport,
            local: params.local,
            remote: params.remote,
            integrity,
            cipher,
            iv,
            last_seq: AtomicU64::new(0),
            replay: Mutex::new(ReplayWindow::new()),
            expires_at_ms: AtomicU64::new(params.expires_at_ms),
        })
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        self.spi
    }
    /// Inbound or outbound.
    pub fn direction(&self) -> Direction {
        self.direction
    }
    /// Always transport.
    pub fn mode(&self) -> Mode {
        self.mode
    }
    /// This node's address and protected port.
    pub fn local(&self) -> SocketAddr {
        self.local
    }
    /// The UE's address and port.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }
    /// The integrity algorithm.
    pub fn integrity_algorithm(&self) -> IntegrityAlgorithm {
        self.integrity.algorithm()
    }
    /// The encryption algorithm.
    pub fn encryption_algorithm(&self) -> EncryptionAlgorithm {
        self.cipher.algorithm()
    }
    /// The cipher key (for sizing buffers with `esp::sealed_len`).
    pub fn cipher(&self) -> &CipherKey {
        &self.cipher
    }

    /// Expiry on the caller's clock, in milliseconds.
    pub fn expires_at_ms(&self) -> u64 {
        self.expires_at_ms.load(Ordering::Relaxed)
    }
    /// Moves the expiry, e.g. to registration expiry + 30 s once the
    /// protected REGISTER succeeded (TS 33.203 §7.4).
    pub fn set_expires_at_ms(&self, at_ms: u64) {
        self.expires_at_ms.store(at_ms, Ordering::Relaxed);
    }
    /// Whether the lifetime is over at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_at_ms()
    }

    /// Takes the next outbound sequence number. Unique across threads; fails
    /// once 2^32 - 1 has been used (RFC 4303 §3.3.3: no cycling without ESN).
    pub fn next_seq(&self) -> Result<SeqNo, EspError> {
        let seq = self.last_seq.fetch_add(1, Ordering::Relaxed) + 1;
        u32::try_from(seq).map_err(|_| EspError::SequenceExhausted { spi: self.spi })
    }

    /// Appends to `out` the ESP packet for `payload` with the next sequence
    /// number and a fresh IV (RFC 4303 §3.3).
    pub fn seal(
        &self,
        next_header: u8,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<SeqNo, EspError> {
        if self.direction != Direction::Outbound {
            return Err(EspError::WrongDirection { spi: self.spi });
        }
        let seq = self.next_seq()?;
        let mut iv = [0u8; 16];
        let iv = &mut iv[..self.cipher.algorithm().iv_len()];
        self.iv.fill(u64::from(seq), iv);
        esp::seal(
            &self.integrity,
            &self.cipher,
            self.spi,
            seq,
            iv,
            next_header,
            payload,
            out,
        )?;
        Ok(seq)
    }

    /// As [`SecurityAssociation::seal`] with a caller-chosen sequence number
    /// and IV, for reproducible output (the operator tool, tests). Works in
    /// either direction and does not touch the counter.
    pub fn seal_with(
        &self,
        seq: SeqNo,
        iv: &[u8],
        next_header: u8,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EspError> {
        esp::seal(
            &self.integrity,
            &self.cipher,
            self.spi,
            seq,
            iv,
            next_header,
            payload,
            out,
        )
    }

    /// Unprotects `esp` in place in RFC 4303 §3.4 order: SPI, replay
    /// pre-check, ICV (constant time), window update, decryption, trailer.
    pub fn open(&self, esp: &mut [u8]) -> Result<Opened, EspError> {
        let header = esp::check_shape(&self.cipher, esp)?;
        if header.spi != self.spi {
            return Err(EspError::WrongSpi {
                expected: self.spi,
                found: header.spi,
            });
        }
        let replay_error = |r: ReplayReject| match r {
            ReplayReject::Zero => EspError::ZeroSequence { spi: self.spi },
            ReplayReject::Duplicate => EspError::Replay {
                spi: self.spi,
                seq: header.seq,
            },
            ReplayReject::TooOld { top } => EspError::TooOld {
                spi: self.spi,
                seq: header.seq,
                window_top: top,
            },
        };
        self.window().check(header.seq).map_err(replay_error)?;
        esp::verify_icv(&self.integrity, esp, header)?;
        self.window().accept(header.seq).map_err(replay_error)?;
        esp::decrypt_verified(&self.cipher, esp, header)
    }

    /// The replay window as it stands.
    pub fn replay_window(&self) -> ReplayWindow {
        *self.window()
    }

    fn window(&self) -> std::sync::MutexGuard<'_, ReplayWindow> {
        // The window is plain data: a panic elsewhere cannot leave it torn.
        self.replay.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why an SA could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaBuildError {
    /// A key has the wrong length for its algorithm.
    Key(KeyLengthError),
    /// The system random source failed.
    RandomUnavailable,
}

impl From<KeyLengthError> for SaBuildError {
    fn from(e: KeyLengthError) -> Self {
        Self::Key(e)
    }
}

impl std::fmt::Display for SaBuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Key(e) => e.fmt(f),
            Self::RandomUnavailable => f.write_str("the system random number generator failed"),
        }
    }
}

impl std::error::Error for SaBuildError {}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    pub(crate) fn params(spi: u32, direction: Direction) -> SaParams {
        SaParams {
            spi,
            direction,
            local: "10.0.0.1:6100".parse().unwrap(),
            remote: "10.0.0.2:31800".parse().unwrap(),
            integrity: IntegrityAlgorithm::HmacSha196,
            auth_key: vec![0x5a; 20],
            encryption: EncryptionAlgorithm::AesCbc,
            enc_key: vec![0xa5; 16],
            expires_at_ms: 60_000,
        }
    }

    fn pair() -> (SecurityAssociation, SecurityAssociation) {
        (
            SecurityAssociation::new(params(0x1234, Direction::Outbound)).unwrap(),
            SecurityAssociation::new(params(0x1234, Direction::Inbound)).unwrap(),
        )
    }

    #[test]
    fn seal_then_open_with_replay_protection() {
        let (out_sa, in_sa) = pair();
        let mut p1 = Vec::new();
        assert_eq!(out_sa.seal(17, b"INVITE", &mut p1).unwrap(), 1);
        let mut p2 = Vec::new();
        assert_eq!(out_sa.seal(6, b"SIP/2.0 200 OK", &mut p2).unwrap(), 2);

        let mut copy2 = p2.clone();
        let o = in_sa.open(&mut copy2).unwrap();
        assert_eq!(
            (o.next_header, &copy2[o.payload]),
            (6, &b"SIP/2.0 200 OK"[..])
        );
        let mut copy1 = p1.clone();
        let o = in_sa.open(&mut copy1).unwrap();
        assert_eq!(&copy1[o.payload], b"INVITE");
        assert_eq!(
            in_sa.open(&mut p1.clone()),
            Err(EspError::Replay {
                spi: 0x1234,
                seq: 1
            })
        );
    }

    #[test]
    fn window_moves_only_after_the_icv_passes() {
        let (out_sa, in_sa) = pair();
        let mut forged = Vec::new();
        out_sa
            .seal_with(1000, &[0; 16], 17, b"x", &mut forged)
            .unwrap();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert!(matches!(
            in_sa.open(&mut forged),
            Err(EspError::IntegrityFailure { seq: 1000, .. })
        ));
        assert_eq!(in_sa.replay_window().top(), 0);
        let mut eight = Vec::new();
        out_sa.seal_with(8, &[0; 16], 17, b"y", &mut eight).unwrap();
        assert!(in_sa.open(&mut eight).is_ok());
    }

    #[test]
    fn too_old_and_zero_are_refused() {
        let (out_sa, in_sa) = pair();
        let mut hi = Vec::new();
        out_sa.seal_with(500, &[0; 16], 17, b"a", &mut hi).unwrap();
        in_sa.open(&mut hi).unwrap();
        let mut old = Vec::new();
        out_sa.seal_with(300, &[0; 16], 17, b"b", &mut old).unwrap();
        assert!(matches!(
            in_sa.open(&mut old),
            Err(EspError::TooOld {
                window_top: 500,
                ..
            })
        ));
        let mut zero = Vec::new();
        out_sa.seal_with(0, &[0; 16], 17, b"c", &mut zero).unwrap();
        assert_eq!(
            in_sa.open(&mut zero),
            Err(EspError::ZeroSequence { spi: 0x1234 })
        );
    }

    #[test]
    fn wrong_spi_and_direction() {
        let (out_sa, _) = pair();
        let other = SecurityAssociation::new(params(0x9999, Direction::Inbound)).unwrap();
        let mut p = Vec::new();
        out_sa.seal(17, b"x", &mut p).unwrap();
        assert_eq!(
            other.open(&mut p),
            Err(EspError::WrongSpi {
                expected: 0x9999,
                found: 0x1234
            })
        );
        assert_eq!(
            other.seal(17, b"x", &mut Vec::new()),
            Err(EspError::WrongDirection { spi: 0x9999 })
        );
    }

    #[test]
    fn sequence_numbers_are_unique_across_threads_and_exhaust() {
        let sa = Arc::new(SecurityAssociation::new(params(1, Direction::Outbound)).unwrap());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let sa = Arc::clone(&sa);
                std::thread::spawn(move || {
                    (0..1000)
                        .map(|_| sa.next_seq().unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<u32> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4000);
        assert_eq!((all[0], all[3999]), (1, 4000));

        sa.last_seq
            .store(u64::from(u32::MAX) - 1, Ordering::Relaxed);
        assert_eq!(sa.next_seq(), Ok(u32::MAX));
        assert_eq!(sa.next_seq(), Err(EspError::SequenceExhausted { spi: 1 }));
        assert_eq!(sa.next_seq(), Err(EspError::SequenceExhausted { spi: 1 }));
    }

    #[test]
    fn lifetime() {
        let (sa, _) = pair();
        assert!(!sa.is_expired(59_999));
        assert!(sa.is_expired(60_000));
        sa.set_expires_at_ms(90_000);
        assert!(!sa.is_expired(60_000));
    }

    #[test]
    fn bad_keys_are_refused() {
        let mut p = params(1, Direction::Inbound);
        p.enc_key.pop();
        assert!(matches!(
            SecurityAssociation::new(p),
            Err(SaBuildError::Key(_))
        ));
    }
}
