//! PROXY protocol v2 headers from a load balancer (or whoever reaches the listener).
#![no_main]

use interop_proxy::transport::proxy_protocol::{encode_header, parse_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(source)) = parse_header(data) {
        // What we read, we can write again.
        let again = encode_header(source, source);
        assert_eq!(parse_header(&again).unwrap(), Some(source));
    }
});
