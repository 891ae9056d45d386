//! The SIP bits the harness needs, all allocation-free: a field scanner,
//! a buffer writer, response building for the stateless UAS, the client
//! side of Digest authentication, the generator's Call-ID format and a UAC
//! dialog's route set.

pub mod callid;
pub mod dialog;
pub mod digest;
pub mod exercise;
pub mod respond;
pub mod scan;
pub mod small;
pub mod write;

/// The SDP body carried by INVITE and its 200 (the size of sipp's default
/// uac/uas scenario bodies, so message sizes line up with sipp runs).
pub const SDP: &[u8] = b"v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";
