//! Choosing one `ipsec-3gpp` offer from the UE's Security-Client by the
//! P-CSCF's preference (RFC 3329 §2.3.1: the server picks; TS 33.203 §7.1),
//! and the Security-Server header that announces the choice.
//!
//! The policy ranks encryption first, then integrity. `null` encryption is
//! never chosen unless the policy lists it (Kamailio's default can end up
//! with `null`; this one cannot).

use std::fmt;

use super::header::{Ipsec3gppOffer, SecHeaderError, SecMechanism};
use crate::algorithm::{EncryptionAlgorithm, IntegrityAlgorithm};

/// The algorithms the P-CSCF accepts, best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgorithmPolicy {
    /// Integrity algorithms, best first.
    pub integrity: Vec<IntegrityAlgorithm>,
    /// Encryption algorithms, best first. `Null` only if configured.
    pub encryption: Vec<EncryptionAlgorithm>,
}

impl Default for AlgorithmPolicy {
    /// hmac-sha-1-96 > hmac-md5-96; aes-cbc > des-ede3-cbc; never null.
    fn default() -> Self {
        Self {
            integrity: vec![
                IntegrityAlgorithm::HmacSha196,
                IntegrityAlgorithm::HmacMd596,
            ],
            encryption: vec![EncryptionAlgorithm::AesCbc, EncryptionAlgorithm::DesEde3Cbc],
        }
    }
}

/// The outcome of the negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    /// Chosen integrity algorithm.
    pub integrity: IntegrityAlgorithm,
    /// Chosen encryption algorithm.
    pub encryption: EncryptionAlgorithm,
    /// The UE's offer that was chosen (its SPIs and ports).
    pub ue: Ipsec3gppOffer,
}

/// The P-CSCF's own side of the agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSecurity {
    /// `spi_pc`: inbound SPI for the P-CSCF's protected client port.
    pub spi_c: u32,
    /// `spi_ps`: inbound SPI for the P-CSCF's protected server port.
    pub spi_s: u32,
    /// `port_pc`.
    pub port_c: u16,
    /// `port_ps`.
    pub port_s: u16,
}

impl Agreement {
    /// The Security-Server value announcing exactly the chosen mechanism,
    /// in the shape Kamailio sends: `ipsec-3gpp;q=0.1;prot=esp;mod=trans;
    /// spi-c=…;spi-s=…;port-c=…;port-s=…;alg=…;ealg=…`.
    pub fn security_server(&self, local: &LocalSecurity) -> String {
        format!(
            "ipsec-3gpp;q=0.1;prot=esp;mod=trans;spi-c={};spi-s={};port-c={};port-s={};alg={};ealg={}",
            local.spi_c, local.spi_s, local.port_c, local.port_s, self.integrity, self.encryption
        )
    }
}

/// No offer fits the policy (the P-CSCF answers 494, RFC 3329 §2.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoAcceptableOffer {
    /// An `ipsec-3gpp` offer is malformed.
    Malformed(SecHeaderError),
    /// No `ipsec-3gpp` offer at all.
    NoIpsec3gpp,
    /// Offers exist but none has an accepted algorithm pair, `prot=esp` and
    /// `mod=trans`. Lists what was offered, for the log.
    NoCommonAlgorithms { offered: Vec<(String, String)> },
}

impl fmt::Display for NoAcceptableOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed Security-Client: {e}"),
            Self::NoIpsec3gpp => f.write_str("Security-Client offers no ipsec-3gpp mechanism"),
            Self::NoCommonAlgorithms { offered } => {
                f.write_str("no offered algorithm pair is acceptable; offered:")?;
                for (a, e) in offered {
                    write!(f, " {a}/{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for NoAcceptableOffer {}

/// Picks the best acceptable offer.
pub fn choose(
    offers: &[SecMechanism],
    policy: &AlgorithmPolicy,
) -> Result<Agreement, NoAcceptableOffer> {
    let mut best: Option<((usize, usize), Agreement)> = None;
    let mut offered = Vec::new();
    for m in offers {
        let Some(offer) =
            Ipsec3gppOffer::from_mechanism(m).map_err(NoAcceptableOffer::Malformed)?
        else {
            continue;
        };
        offered.push((offer.alg.clone(), offer.ealg.clone()));
        if !offer.prot.eq_ignore_ascii_case("esp") || !offer.mode.eq_ignore_ascii_case("trans") {
            continue;
        }
        let (Ok(i), Ok(e)) = (
            offer.alg.parse::<IntegrityAlgorithm>(),
            offer.ealg.parse::<EncryptionAlgorithm>(),
        ) else {
            continue;
        };
        let (Some(ri), Some(re)) = (
            policy.integrity.iter().position(|&x| x == i),
            policy.encryption.iter().position(|&x| x == e),
        ) else {
            continue;
        };
        let rank = (re, ri);
        if best.as_ref().is_none_or(|(r, _)| rank < *r) {
            best = Some((
                rank,
                Agreement {
                    integrity: i,
                    encryption: e,
                    ue: offer,
                },
            ));
        }
    }
    match best {
        Some((_, a)) => Ok(a),
        None if offered.is_empty() => Err(NoAcceptableOffer::NoIpsec3gpp),
        None => Err(NoAcceptableOffer::NoCommonAlgorithms { offered }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sec_agree::header::{parse_sec_header, verify_matches};

    fn offers(pairs: &[(&str, Option<&str>)]) -> Vec<SecMechanism> {
        let text: Vec<String> = pairs
            .iter()
            .map(|(a, e)| {
                let ealg = e.map(|e| format!(";ealg={e}")).unwrap_or_default();
                format!("ipsec-3gpp;prot=esp;mod=trans;spi-c=54900;spi-s=54901;port-c=6902;port-s=6900;alg={a}{ealg}")
            })
            .collect();
        parse_sec_header(&text.join(", ")).unwrap()
    }

    #[test]
    fn prefers_aes_then_sha1_wherever_they_sit_in_the_list() {
        let o = offers(&[
            ("hmac-md5-96", Some("des-ede3-cbc")),
            ("hmac-md5-96", Some("aes-cbc")),
            ("hmac-sha-1-96", Some("aes-cbc")),
            ("hmac-sha-1-96", Some("null")),
        ]);
        let a = choose(&o, &AlgorithmPolicy::default()).unwrap();
        assert_eq!(
            (a.integrity, a.encryption),
            (IntegrityAlgorithm::HmacSha196, EncryptionAlgorithm::AesCbc)
        );
        assert_eq!(a.ue.spi_c, 54900);
    }

    #[test]
    fn null_only_when_configured() {
        let o = offers(&[("hmac-sha-1-96", Some("null")), ("hmac-md5-96", None)]);
        assert_eq!(
            choose(&o, &AlgorithmPolicy::default()),
            Err(NoAcceptableOffer::NoCommonAlgorithms {
                offered: vec![
                    ("hmac-sha-1-96".into(), "null".into()),
                    ("hmac-md5-96".into(), "null".into())
                ]
            })
        );
        let mut policy = AlgorithmPolicy::default();
        policy.encryption.push(EncryptionAlgorithm::Null);
        let a = choose(&o, &policy).unwrap();
        assert_eq!(
            (a.integrity, a.encryption),
            (IntegrityAlgorithm::HmacSha196, EncryptionAlgorithm::Null)
        );
    }

    #[test]
    fn skips_unknown_algorithms_tunnel_mode_and_other_mechanisms() {
        let mut o = parse_sec_header(
            "digest;d-alg=md5, ipsec-3gpp;alg=aes-gmac;ealg=aes-gcm;spi-c=1;spi-s=2;port-c=3;port-s=4, \
             ipsec-3gpp;mod=UDP-enc-tun;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=1;spi-s=2;port-c=3;port-s=4",
        )
        .unwrap();
        assert!(matches!(
            choose(&o, &AlgorithmPolicy::default()),
            Err(NoAcceptableOffer::NoCommonAlgorithms { .. })
        ));
        o.truncate(1);
        assert_eq!(
            choose(&o, &AlgorithmPolicy::default()),
            Err(NoAcceptableOffer::NoIpsec3gpp)
        );
    }

    #[test]
    fn security_server_names_one_mechanism_and_round_trips_through_verify() {
        let o = offers(&[("hmac-sha-1-96", Some("aes-cbc"))]);
        let a = choose(&o, &AlgorithmPolicy::default()).unwrap();
        let local = LocalSecurity {
            spi_c: 4096,
            spi_s: 4097,
            port_c: 5100,
            port_s: 6100,
        };
        let server = a.security_server(&local);
        assert_eq!(
            server,
            "ipsec-3gpp;q=0.1;prot=esp;mod=trans;spi-c=4096;spi-s=4097;port-c=5100;port-s=6100;alg=hmac-sha-1-96;ealg=aes-cbc"
        );
        let parsed = parse_sec_header(&server).unwrap();
        assert!(verify_matches(&parsed, &parsed));
    }
}
