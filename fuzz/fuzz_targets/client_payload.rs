//! The ClientPayload view: decoded from untrusted bytes that are then kept verbatim.
#![no_main]

use bytes::Bytes;
use interop_proxy::wa_proto::ClientPayloadView;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(view) = ClientPayloadView::parse(Bytes::copy_from_slice(data)) {
        assert_eq!(view.raw().as_ref(), data, "the payload is kept byte for byte");
        let _ = view.account_id();
        if let Some(version) = view
            .fields()
            .user_agent
            .as_ref()
            .and_then(|ua| ua.app_version.as_ref())
        {
            let _ = version.parts();
        }
        let _ = format!("{view:?}");
    }
});
