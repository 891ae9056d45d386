//! Errors of the ESP engine: each variant names what was wrong with the
//! packet or the SA, so the data plane can count it as an RFC 4303
//! "auditable event" and the operator tool can print it.

use std::fmt;

/// Why a packet could not be protected or unprotected.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EspError {
    /// Shorter than SPI + sequence number + IV + trailer + ICV.
    Truncated { len: usize, min: usize },
    /// The ciphertext is not a whole number of cipher blocks.
    Misaligned { len: usize, block: usize },
    /// The SPI in the packet is not the SA's.
    WrongSpi { expected: u32, found: u32 },
    /// The ICV did not verify (RFC 4303 §3.4.4): wrong key or tampered packet.
    IntegrityFailure { spi: u32, seq: u32 },
    /// The sequence number was already received (RFC 4303 §3.4.3).
    Replay { spi: u32, seq: u32 },
    /// The sequence number is left of the replay window (RFC 4303 §3.4.3).
    TooOld { spi: u32, seq: u32, window_top: u32 },
    /// Sequence number 0 is never sent (RFC 4303 §2.2: the first packet is 1).
    ZeroSequence { spi: u32 },
    /// Pad Length points outside the decrypted data, or the padding bytes are
    /// not 1, 2, 3, ... (RFC 4303 §2.4).
    BadPadding { spi: u32, seq: u32 },
    /// Next Header 59 marks a dummy packet (RFC 4303 §2.6); it carries nothing.
    DummyPacket { spi: u32 },
    /// The outbound counter reached 2^32 - 1: the SA must be replaced
    /// (RFC 4303 §3.3.3, no ESN in IMS).
    SequenceExhausted { spi: u32 },
    /// The payload would make the ESP packet larger than an IP packet can be.
    TooLarge { len: usize },
    /// The IV given has the wrong length for the cipher.
    BadIvLength { expected: usize, found: usize },
    /// The SA is for the other direction.
    WrongDirection { spi: u32 },
}

impl EspError {
    /// True for the failures the operator tool reports with exit status 2:
    /// the packet was well formed but the SA rejected it.
    pub fn is_integrity_or_replay(&self) -> bool {
        matches!(
            self,
            Self::IntegrityFailure { .. }
                | Self::Replay { .. }
                | Self::TooOld { .. }
                | Self::ZeroSequence { .. }
        )
    }
}

impl fmt::Display for EspError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { len, min } => {
                write!(f, "ESP packet truncated: {len} bytes, at least {min} needed")
            }
            Self::Misaligned { len, block } => write!(
                f,
                "ESP ciphertext of {len} bytes is not a multiple of the {block}-byte cipher block"
            ),
            Self::WrongSpi { expected, found } => write!(
                f,
                "wrong SPI: packet has {found} (0x{found:08x}), SA has {expected} (0x{expected:08x})"
            ),
            Self::IntegrityFailure { spi, seq } => write!(
                f,
                "ICV check failed (SPI 0x{spi:08x}, seq {seq}): wrong integrity key or tampered packet"
            ),
            Self::Replay { spi, seq } => {
                write!(f, "replayed packet: SPI 0x{spi:08x} seq {seq} was already received")
            }
            Self::TooOld { spi, seq, window_top } => write!(
                f,
                "packet too old: SPI 0x{spi:08x} seq {seq} is left of the replay window (highest seen {window_top})"
            ),
            Self::ZeroSequence { spi } => {
                write!(f, "sequence number 0 on SPI 0x{spi:08x} is never valid")
            }
            Self::BadPadding { spi, seq } => write!(
                f,
                "bad ESP padding (SPI 0x{spi:08x}, seq {seq}): wrong encryption key or corrupt packet"
            ),
            Self::DummyPacket { spi } => {
                write!(f, "dummy packet (next header 59) on SPI 0x{spi:08x}")
            }
            Self::SequenceExhausted { spi } => write!(
                f,
                "sequence numbers of SPI 0x{spi:08x} exhausted: the SA must be replaced"
            ),
            Self::TooLarge { len } => write!(f, "payload of {len} bytes is too large for ESP"),
            Self::BadIvLength { expected, found } => {
                write!(f, "IV is {found} bytes, the cipher needs {expected}")
            }
            Self::WrongDirection { spi } => {
                write!(f, "SA 0x{spi:08x} is not usable in this direction")
            }
        }
    }
}

impl std::error::Error for EspError {}

/// Keys that do not fit the algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLengthError {
    /// The algorithm's name.
    pub algorithm: &'static str,
    /// The length it needs.
    pub expected: usize,
    /// The length given.
    pub found: usize,
}

impl fmt::Display for KeyLengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} needs a {}-byte key, got {} bytes",
            self.algorithm, self.expected, self.found
        )
    }
}

impl std::error::Error for KeyLengthError {}
