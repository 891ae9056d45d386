//! Allocation of the P-CSCF's SPIs (`spi_pc`, `spi_ps`) and protected
//! client ports (`port_pc`) without collisions (TS 33.203 §7.1,
//! ims-ipsec.md §1.7).
//!
//! * SPIs must be unique among the P-CSCF's inbound SAs, because inbound
//!   packets are matched on the SPI alone; 0..=255 are reserved (RFC 4303 §2.1).
//! * Protected ports may be shared by many UEs (selectors include the UE
//!   address), but one UE's old and new SA sets must differ in `port_pc`, so
//!   ports are allocated per UE address. `port_ps` is fixed: it must not
//!   change on re-registration.

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;

/// Lowest SPI an allocator hands out (RFC 4303 §2.1: 1..=255 reserved by IANA).
pub const MIN_SPI: u32 = 256;

/// Why nothing could be allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocationError {
    /// Every value of the range is in use.
    Exhausted { what: &'static str },
    /// The configured range is unusable.
    BadRange {
        what: &'static str,
        reason: &'static str,
    },
}

impl fmt::Display for AllocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exhausted { what } => write!(f, "all {what}s are in use"),
            Self::BadRange { what, reason } => write!(f, "bad {what} range: {reason}"),
        }
    }
}

impl std::error::Error for AllocationError {}

/// Hands out unique SPIs from a range, round robin from a starting point.
#[derive(Debug, Clone)]
pub struct SpiAllocator {
    range: RangeInclusive<u32>,
    next: u32,
    used: HashSet<u32>,
}

impl SpiAllocator {
    /// An allocator over `range`, starting at `start` (clamped into the range);
    /// a random start keeps SPIs of a restarted P-CSCF away from the old ones.
    pub fn new(range: RangeInclusive<u32>, start: u32) -> Result<Self, AllocationError> {
        if *range.start() < MIN_SPI {
            return Err(AllocationError::BadRange {
                what: "SPI",
                reason: "SPIs 0..=255 are reserved (RFC 4303 §2.1)",
            });
        }
        if range.end() <= range.start() {
            return Err(AllocationError::BadRange {
                what: "SPI",
                reason: "needs at least two values",
            });
        }
        let width = range.end() - range.start();
        let next = range.start() + start % width;
        Ok(Self {
            range,
            next,
            used: HashSet::new(),
        })
    }

    /// A fresh SPI.
    pub fn allocate(&mut self) -> Result<u32, AllocationError> {
        let (lo, hi) = (*self.range.start(), *self.range.end());
        let width = u64::from(hi - lo) + 1;
        if self.used.len() as u64 >= width {
            return Err(AllocationError::Exhausted { what: "SPI" });
        }
        loop {
            let candidate = self.next;
            self.next = if candidate == hi { lo } else { candidate + 1 };
            if self.used.insert(candidate) {
                return Ok(candidate);
            }
        }
    }

    /// Two fresh SPIs: (`spi_pc`, `spi_ps`).
    pub fn allocate_pair(&mut self) -> Result<(u32, u32), AllocationError> {
        let c = self.allocate()?;
        match self.allocate() {
            Ok(s) => Ok((c, s)),
            Err(e) => {
                self.release(c);
                Err(e)
            }
        }
    }

    /// Returns an SPI once its SA is deleted.
    pub fn release(&mut self, spi: u32) {
        self.used.remove(&spi);
    }

    /// Whether `spi` is handed out.
    pub fn is_used(&self, spi: u32) -> bool {
        self.used.contains(&spi)
    }
}

/// Hands out protected client ports per UE address; owns the fixed server port.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    server_port: u16,
    client_ports: RangeInclusive<u16>,
    next: u16,
    used: HashSet<(IpAddr, u16)>,
}

impl PortAllocator {
    /// `server_port` is `port_ps`; `client_ports` is where `port_pc` comes from.
    pub fn new(
        server_port: u16,
        client_ports: RangeInclusive<u16>,
    ) -> Result<Self, AllocationError> {
        if client_ports.is_empty() {
            return Err(AllocationError::BadRange {
                what: "port",
                reason: "empty",
            });
        }
        if client_ports.contains(&server_port) {
            return Err(AllocationError::BadRange {
                what: "port",
                reason: "the protected server port is inside the client port range",
            });
        }
        let next = *client_ports.start();
        Ok(Self {
            server_port,
            client_ports,
            next,
            used: HashSet::new(),
        })
    }

    /// `port_ps`.
    pub fn server_port(&self) -> u16 {
        self.server_port
    }

    /// A `port_pc` that `ue` is not already using with this P-CSCF.
    pub fn allocate_client(&mut self, ue: IpAddr) -> Result<u16, AllocationError> {
        let (lo, hi) = (*self.client_ports.start(), *self.client_ports.end());
        for _ in 0..=(hi - lo) {
            let candidate = self.next;
            self.next = if candidate == hi { lo } else { candidate + 1 };
            if self.used.insert((ue, candidate)) {
                return Ok(candidate);
            }
        }
        Err(AllocationError::Exhausted {
            what: "protected client port",
        })
    }

    /// Returns `port` for `ue` once the SA set using it is deleted.
    pub fn release_client(&mut self, ue: IpAddr, port: u16) {
        self.used.remove(&(ue, port));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spis_are_unique_wrap_and_exhaust() {
        let mut a = SpiAllocator::new(4096..=4099, 2).unwrap();
        assert_eq!(a.allocate_pair(), Ok((4098, 4099)));
        assert_eq!(a.allocate_pair(), Ok((4096, 4097)));
        assert_eq!(
            a.allocate(),
            Err(AllocationError::Exhausted { what: "SPI" })
        );
        a.release(4097);
        assert_eq!(a.allocate(), Ok(4097));
        assert!(a.is_used(4097));
    }

    #[test]
    fn a_failed_pair_gives_its_first_spi_back() {
        let mut a = SpiAllocator::new(300..=302, 0).unwrap();
        a.allocate_pair().unwrap();
        assert!(a.allocate_pair().is_err());
        assert_eq!(a.allocate(), Ok(302));
    }

    #[test]
    fn reserved_and_degenerate_spi_ranges_are_refused() {
        assert!(SpiAllocator::new(100..=5000, 0).is_err());
        assert!(SpiAllocator::new(5000..=5000, 0).is_err());
    }

    #[test]
    fn client_ports_differ_per_ue_and_are_shared_across_ues() {
        let mut p = PortAllocator::new(6100, 5100..=5101).unwrap();
        let (ue1, ue2): (IpAddr, IpAddr) =
            ("10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap());
        let old = p.allocate_client(ue1).unwrap();
        let new = p.allocate_client(ue1).unwrap();
        assert_ne!(old, new);
        assert!(p.allocate_client(ue1).is_err());
        assert!(
            p.allocate_client(ue2).is_ok(),
            "another UE may reuse a port"
        );
        p.release_client(ue1, old);
        assert_eq!(p.allocate_client(ue1), Ok(old));
        assert_eq!(p.server_port(), 6100);
        assert!(PortAllocator::new(5100, 5100..=5101).is_err());
    }
}
