//! Configuration (SPEC §6): built-in defaults, overridden by a TOML file, overridden by
//! `INTEROP_PROXY_*` environment variables.
//!
//! Secrets are never configuration values: key material is read from files whose paths
//! are configured, so nothing sensitive appears in `kubectl describe pod` or in a process
//! listing. Public keys, which are safe to show, are base64 values.

mod load;
mod show;
mod types;

pub use load::{CONFIG_FILE_ENV, ENV_PREFIX};
pub use show::{Provenance, Source};
pub use types::*;

#[cfg(test)]
mod tests;
