//! Configuration (SPEC §6): built-in defaults, overridden by a TOML file, overridden by
//! `INTEROP_PROXY_*` environment variables.
//!
//! Secrets are never configuration values: key material is read from files whose paths
//! are configured, so nothing sensitive appears in `kubectl describe pod` or in a process
//! listing. Public keys, which are safe to show, are base64 values.

mod errors;
mod explain;
mod keys;
mod layers;
mod load;
mod parse;
mod types;

pub use errors::ConfigErrors;
pub use explain::{Provenance, Source};
pub use layers::{CONFIG_FILE_ENV, ENV_PREFIX};
pub use load::Loaded;
pub use types::*;

#[cfg(test)]
mod tests;
