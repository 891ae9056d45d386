//! The ESP algorithms IMS negotiates (TS 33.203 §6.3 and Annex H), by their
//! RFC 3329 `alg=` / `ealg=` names, with the sizes each one fixes on the wire.

use std::fmt;
use std::str::FromStr;

/// Length of the integrity check value for every IMS integrity algorithm:
/// HMAC-SHA-1-96 (RFC 2404) and HMAC-MD5-96 (RFC 2403) both truncate to 96 bits.
pub const ICV_LEN: usize = 12;

/// An integrity algorithm (`alg=` in Security-Client/Server/Verify).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegrityAlgorithm {
    /// HMAC-SHA-1-96, RFC 2404: 160-bit key, 96-bit ICV.
    HmacSha196,
    /// HMAC-MD5-96, RFC 2403: 128-bit key, 96-bit ICV.
    HmacMd596,
}

impl IntegrityAlgorithm {
    /// Every integrity algorithm this crate implements.
    pub const ALL: [IntegrityAlgorithm; 2] = [Self::HmacSha196, Self::HmacMd596];

    /// The RFC 3329 / TS 33.203 token, e.g. `hmac-sha-1-96`.
    pub fn name(self) -> &'static str {
        match self {
            Self::HmacSha196 => "hmac-sha-1-96",
            Self::HmacMd596 => "hmac-md5-96",
        }
    }

    /// Length of the ESP authentication key (RFC 2404 §3, RFC 2403 §3).
    pub fn key_len(self) -> usize {
        match self {
            Self::HmacSha196 => 20,
            Self::HmacMd596 => 16,
        }
    }
}

/// An encryption algorithm (`ealg=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncryptionAlgorithm {
    /// AES-CBC with a 128-bit key, RFC 3602.
    AesCbc,
    /// DES-EDE3-CBC (3DES), RFC 2451.
    DesEde3Cbc,
    /// NULL encryption, RFC 2410: no IV, padding to 4 bytes.
    Null,
}

impl EncryptionAlgorithm {
    /// Every encryption algorithm this crate implements.
    pub const ALL: [EncryptionAlgorithm; 3] = [Self::AesCbc, Self::DesEde3Cbc, Self::Null];

    /// The RFC 3329 / TS 33.203 token, e.g. `aes-cbc`.
    pub fn name(self) -> &'static str {
        match self {
            Self::AesCbc => "aes-cbc",
            Self::DesEde3Cbc => "des-ede3-cbc",
            Self::Null => "null",
        }
    }

    /// Length of the ESP encryption key.
    pub fn key_len(self) -> usize {
        match self {
            Self::AesCbc => 16,
            Self::DesEde3Cbc => 24,
            Self::Null => 0,
        }
    }

    /// Length of the explicit IV carried in each packet (RFC 3602 §3, RFC 2451 §3).
    pub fn iv_len(self) -> usize {
        match self {
            Self::AesCbc => 16,
            Self::DesEde3Cbc => 8,
            Self::Null => 0,
        }
    }

    /// The alignment of payload ‖ padding ‖ pad length ‖ next header:
    /// the cipher block, or 4 bytes (RFC 4303 §2.4) for NULL.
    pub fn block_len(self) -> usize {
        match self {
            Self::AesCbc => 16,
            Self::DesEde3Cbc => 8,
            Self::Null => 4,
        }
    }
}

/// A token that names no algorithm this crate implements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAlgorithm(pub String);

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown or unsupported algorithm `{}`", self.0)
    }
}

impl std::error::Error for UnknownAlgorithm {}

impl FromStr for IntegrityAlgorithm {
    type Err = UnknownAlgorithm;
    /// Case-insensitive, as RFC 3329 tokens are.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownAlgorithm(s.to_owned()))
    }
}

impl FromStr for EncryptionAlgorithm {
    type Err = UnknownAlgorithm;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownAlgorithm(s.to_owned()))
    }
}

impl fmt::Display for IntegrityAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for EncryptionAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for a in IntegrityAlgorithm::ALL {
            assert_eq!(a.name().to_uppercase().parse::<IntegrityAlgorithm>(), Ok(a));
        }
        for e in EncryptionAlgorithm::ALL {
            assert_eq!(e.name().parse::<EncryptionAlgorithm>(), Ok(e));
        }
        assert!("aes-gcm".parse::<EncryptionAlgorithm>().is_err());
        assert!("hmac-sha-256".parse::<IntegrityAlgorithm>().is_err());
    }

    #[test]
    fn sizes_match_the_rfcs() {
        assert_eq!(IntegrityAlgorithm::HmacSha196.key_len(), 20);
        assert_eq!(IntegrityAlgorithm::HmacMd596.key_len(), 16);
        assert_eq!(EncryptionAlgorithm::AesCbc.iv_len(), 16);
        assert_eq!(EncryptionAlgorithm::DesEde3Cbc.key_len(), 24);
        assert_eq!(EncryptionAlgorithm::DesEde3Cbc.block_len(), 8);
        assert_eq!(EncryptionAlgorithm::Null.block_len(), 4);
        assert_eq!(EncryptionAlgorithm::Null.iv_len(), 0);
    }
}
