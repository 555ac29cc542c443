//! X25519 (RFC 7748) for the handshakes: key generation and DH with static keys.
//!
//! From AWS-LC, whose x86-64 code (s2n-bignum, with MULX/ADX) is much faster than
//! curve25519-dalek's portable ladder (the README's performance section has the
//! figures). ring has X25519 too, but only with ephemeral keys, and the proxy's static
//! keys take part in DH.
//!
//! The two C functions are called directly: aws-lc-rs's safe `agreement::PrivateKey`
//! imports a raw private key by computing its public key, a base-point multiplication
//! that costs a large share of each DH. This is the crate's only `unsafe` code; each
//! call passes fixed-size arrays the functions read or write exactly 32 bytes of.
//!
//! curve25519-dalek remains as [`dalek_dh`]: snow's own choice, behind `Backend::Snow`,
//! whose handshake tests cross-check this module's results.
#![allow(unsafe_code)]

#[cfg(any(test, feature = "bench"))]
use curve25519_dalek::MontgomeryPoint;
use zeroize::Zeroizing;

/// `X25519(secret, 9)`: the public key of `secret`.
pub fn public_key(secret: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // SAFETY: writes 32 bytes to `out` and reads 32 from `secret`, both 32-byte arrays.
    unsafe { aws_lc_sys::X25519_public_from_private(out.as_mut_ptr(), secret.as_ptr()) };
    out
}

/// `X25519(secret, remote)`, or `None` when the result is all zeros (a low-order
/// `remote`), which Noise permits refusing and the proxy refuses.
pub fn dh(secret: &[u8; 32], remote: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
    let mut out = Zeroizing::new([0u8; 32]);
    // SAFETY: writes 32 bytes to `out` and reads 32 from `secret` and from `remote`, all
    // 32-byte arrays. It returns 0 exactly when the shared value is all zeros.
    let ok = unsafe { aws_lc_sys::X25519(out.as_mut_ptr(), secret.as_ptr(), remote.as_ptr()) };
    (ok == 1).then_some(out)
}

/// The same function computed by curve25519-dalek.
#[cfg(any(test, feature = "bench"))]
pub fn dalek_dh(secret: &[u8; 32], remote: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
    let out = Zeroizing::new(MontgomeryPoint(*remote).mul_clamped(*secret).to_bytes());
    (!out.iter().all(|&b| b == 0)).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex32(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// RFC 7748 §6.1.
    #[test]
    fn rfc7748_diffie_hellman() {
        let alice = hex32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let alice_pub = hex32("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        let bob = hex32("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
        let bob_pub = hex32("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let shared = hex32("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        assert_eq!(public_key(&alice), alice_pub);
        assert_eq!(public_key(&bob), bob_pub);
        let ab = dh(&alice, &bob_pub).unwrap();
        let ba = dh(&bob, &alice_pub).unwrap();
        assert_eq!(*ab, shared);
        assert_eq!(*ba, shared);
        assert_eq!(*dalek_dh(&alice, &bob_pub).unwrap(), shared);
    }

    #[test]
    fn agrees_with_dalek_on_random_keys() {
        for i in 0..64u8 {
            let a = [i.wrapping_mul(37).wrapping_add(1); 32];
            let b = [i.wrapping_mul(11).wrapping_add(200); 32];
            let b_pub = public_key(&b);
            assert_eq!(b_pub, MontgomeryPoint::mul_base_clamped(b).to_bytes());
            assert_eq!(*dh(&a, &b_pub).unwrap(), *dalek_dh(&a, &b_pub).unwrap());
        }
    }

    #[test]
    fn low_order_points_are_refused() {
        // The identity and a point of order 8 (RFC 7748 §7 lists such inputs).
        let zero = [0u8; 32];
        let mut order8 = [0u8; 32];
        order8[0] = 1;
        let secret = [7u8; 32];
        assert!(dh(&secret, &zero).is_none());
        assert!(dh(&secret, &order8).is_none());
        assert!(dalek_dh(&secret, &zero).is_none());
    }
}
