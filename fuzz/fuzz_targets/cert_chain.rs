//! Certificate chains from a hostile server, in both the current and the legacy format.
#![no_main]

use interop_proxy::noise::cert::{verify_chain, verify_legacy};
use libfuzzer_sys::fuzz_target;

/// An arbitrary but fixed root and peer key: random input will not forge signatures, but
/// every decode and check before the signatures is reached.
const ROOT: [u8; 32] = [
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
];
const PEER: [u8; 32] = [0x42; 32];

fuzz_target!(|data: &[u8]| {
    let now = 1_700_000_000;
    let _ = verify_chain(data, &ROOT, &PEER, now);
    let _ = verify_legacy(data, &ROOT, &PEER, now);
});
