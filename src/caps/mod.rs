//! Capability metadata (SPEC §3).
