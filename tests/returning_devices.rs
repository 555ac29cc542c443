//! Returning devices: a device's later logins reuse what its first computed (the derived
//! upstream key, the static-static DH results), and still log in, relay, and show the
//! server the same key. Over loopback with the reference server.
//!
//! One test per concern, run in sequence inside one test: the hit and miss counters are
//! process-wide.

mod support;

use interop_proxy::demo::Deployment;
use interop_proxy::noise::{Keypair, Pattern};
use interop_proxy::sim::SimClient;
use support::*;

fn counted(result: &str) -> u64 {
    metric_value(&format!(
        "interop_proxy_returning_devices_total{{result=\"{result}\"}}"
    ))
}

/// Logs `device` in as `account`, pinning the proxy's key when `pin`, and echoes once.
async fn login(d: &Deployment, account: u64, device: &Keypair, pin: bool) -> Pattern {
    let mut options = d.client(account);
    options.static_key = device.clone();
    if pin {
        options.server_key = Some(d.proxy_static);
    }
    let mut c = SimClient::login(d.proxy_addr, &options)
        .await
        .expect("the device logs in");
    echo(&mut c, account, "returning").await;
    let pattern = c.pattern;
    c.close().await;
    pattern
}

#[tokio::test]
async fn returning_devices_reuse_their_results_and_still_relay() {
    let d = Deployment::start(|_, _| {}).await.unwrap();
    let (hits, misses) = (counted("hit"), counted("miss"));

    // A device that pins the proxy's key (IK on the client leg): the first login
    // computes everything and learns the server's key (XX upstream); the second reuses
    // the derived key and the client leg's DH and computes the upstream one (IK); the
    // third reuses all three.
    let device = Keypair::generate();
    for _ in 0..3 {
        assert_eq!(login(&d, 7, &device, true).await, Pattern::Ik);
    }
    assert_eq!(counted("hit") - hits, 2);
    assert_eq!(counted("miss") - misses, 1);
    assert_eq!(d.server.patterns(), [Pattern::Xx, Pattern::Ik, Pattern::Ik]);
    let statics = d.server.client_statics();
    assert_eq!(statics.len(), 3);
    assert!(
        statics.iter().all(|k| *k == statics[0]),
        "one device, one upstream key, whether kept or derived"
    );

    // A device that does not pin (XX on the client leg) has no client-leg DH to keep;
    // its later login reuses the rest.
    let other = Keypair::generate();
    assert_eq!(login(&d, 8, &other, false).await, Pattern::Xx);
    assert_eq!(login(&d, 8, &other, false).await, Pattern::Xx);
    assert_eq!(counted("hit") - hits, 3);
    assert_eq!(counted("miss") - misses, 2);
    let statics = d.server.client_statics();
    assert_eq!(statics[3], statics[4]);
    assert_ne!(statics[3], statics[0], "two devices, two upstream keys");

    // With the cache switched off nothing is kept, nothing is counted, and logins work.
    let off = Deployment::start(|c, _| c.limits.returning_devices = Some(0))
        .await
        .unwrap();
    let (hits, misses) = (counted("hit"), counted("miss"));
    for _ in 0..2 {
        assert_eq!(login(&off, 9, &device, true).await, Pattern::Ik);
    }
    assert_eq!((counted("hit"), counted("miss")), (hits, misses));
}
