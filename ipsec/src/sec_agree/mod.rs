//! The IMS security agreement as the P-CSCF runs it (RFC 3329, TS 33.203
//! §7 and Annexes H and I): parse the UE's Security-Client and
//! Security-Verify, choose the algorithms, build Security-Server, take CK and
//! IK out of the S-CSCF's 401, derive the ESP keys, and allocate SPIs and
//! protected ports.

pub mod allocator;
pub mod choose;
pub mod header;
pub mod keys;
pub mod www_authenticate;

pub use allocator::{AllocationError, PortAllocator, SpiAllocator};
pub use choose::{choose, Agreement, AlgorithmPolicy, LocalSecurity, NoAcceptableOffer};
pub use header::{parse_sec_header, verify_matches, Ipsec3gppOffer, SecHeaderError, SecMechanism};
pub use keys::{derive_esp_keys, EspKeys, ImsKeys};
pub use www_authenticate::{take_ck_ik, CkIkError, StrippedChallenge};
