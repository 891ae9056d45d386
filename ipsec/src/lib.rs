//! Userspace ESP for an IMS P-CSCF, sans-IO: bytes in, bytes out, no
//! sockets and no executor.
//!
//! sipshard terminates the phones' IPsec itself because the kernels it runs
//! on have no ESP. This crate holds:
//!
//! * the ESP engine — [`esp`] (RFC 4303 wire format), [`sa`] (one Security
//!   Association with its counter, replay window and lifetime), [`replay`]
//!   (RFC 4303 §3.4.3), [`crypto`] (HMAC-SHA-1-96, HMAC-MD5-96, AES-CBC,
//!   DES-EDE3-CBC, NULL), [`transport`] (IPv4/IPv6 transport-mode
//!   encapsulation) and [`udp_encap`] (RFC 3948);
//! * the SA database, [`sad`]: lock-free lookups shared by all shards, with
//!   the four SAs of a registration installed and replaced as a unit;
//! * the security agreement, [`sec_agree`] (RFC 3329, TS 33.203):
//!   Security-Client/Verify/Server, algorithm choice, CK/IK from the 401, key
//!   derivation and SPI/port allocation.
//!
//! Not here: raw sockets, the TUN device and the registration state machine
//! (they live in `shards/` and `core/`).

pub mod algorithm;
pub mod crypto;
pub mod error;
pub mod esp;
pub mod fuzzing;
pub mod ip;
pub mod replay;
pub mod sa;
pub mod sad;
pub mod sec_agree;
pub mod transport;
pub mod udp_encap;

pub use algorithm::{EncryptionAlgorithm, IntegrityAlgorithm, ICV_LEN};
pub use error::EspError;
pub use sa::{Direction, SaParams, SecurityAssociation};
