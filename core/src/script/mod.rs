//! The kamailio.cfg routing language.
pub mod ast;
pub mod diag;
pub mod lexer;
pub mod parser;
pub mod preproc;
