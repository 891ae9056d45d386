//! Userspace ESP.
