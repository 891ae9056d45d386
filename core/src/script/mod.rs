//! The kamailio.cfg routing language.
