//! (in progress)

/// Admin connections served at once; more are closed on accept.
pub const MAX_CONNECTIONS: usize = 64;
