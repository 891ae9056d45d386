//! Keyed cryptographic state of one SA: the integrity key (HMAC-*-96), the
//! cipher key (AES-CBC, 3DES-CBC, NULL) and the IV generator. Keys are
//! expanded once, when the SA is made, never per packet.

mod cipher;
mod integrity;
mod iv;

pub use cipher::CipherKey;
pub use integrity::{IntegrityKey, Sha1Backend};
pub use iv::{IvGenerator, RandomUnavailable};
