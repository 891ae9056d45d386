//! Script functions, one file per Kamailio module (`core_fns` for the
//! core). Each file exports `FNS`, its rows of the function table; see
//! [`super::registry`].

pub mod auth;
pub mod auth_db;
pub mod core_fns;
pub mod corex;
pub mod kex;
pub mod maxfwd;
pub mod registrar;
pub mod rr;
pub mod rr_route;
pub mod sanity;
pub mod siputils;
pub mod sl;
pub mod textops;
pub mod textopsx;
pub mod tm;
pub mod uri_parts;
pub mod xhttp_prom;
pub mod xlog;

use super::registry::FnSpec;

/// Every module's table.
pub const TABLES: &[&[FnSpec]] = &[
    core_fns::FNS,
    sl::FNS,
    textops::FNS,
    textopsx::FNS,
    maxfwd::FNS,
    xlog::FNS,
    sanity::FNS,
    siputils::FNS,
    corex::FNS,
    kex::FNS,
    tm::FNS,
    rr::FNS,
    registrar::FNS,
    auth::FNS,
    auth_db::FNS,
    xhttp_prom::FNS,
];
