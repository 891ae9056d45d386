//! sipshard runtime.
