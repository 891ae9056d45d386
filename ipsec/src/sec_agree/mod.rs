//! The IMS security agreement (in progress).
pub mod keys;
pub use keys::{derive_esp_keys, EspKeys, ImsKeys};
