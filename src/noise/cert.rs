//! Certificate chains that bind a Noise static key to a root key (SPEC §2.5).
//!
//! A `CertChain { leaf = 1, intermediate = 2 }` holds two `NoiseCertificate { details = 1,
//! signature = 2 }`. Each `details` is an encoded `Details { serial = 1, issuer_serial = 2,
//! key = 3, not_before = 4, not_after = 5 }` and each signature is an XEdDSA signature
//! ([`super::xeddsa`]) over exactly those bytes. The root key signs the intermediate, the
//! intermediate's key signs the leaf, and the leaf's key is the peer's Noise static key.
//!
//! [`verify_chain`] applies the seven checks of §2.5 in order and reports the first that fails
//! as its own [`CertError`] variant. Signatures are checked on the raw `details` bytes before
//! those bytes are parsed.
//!
//! Absent integer fields read as protobuf's default 0, the way generated `GetX()` accessors
//! read them (an intermediate's `issuer_serial = 0` in particular may well be left out on the
//! wire) — except `not_after`, which a certificate must carry: a missing expiry is
//! reported as [`CertError::MissingField`] rather than read as "expired in 1970" or "never".
//!
//! [`verify_legacy`] handles the single-certificate format that servers of protocol 2.1 send.

use prost::Message;

use super::keys::Keypair;
use super::xeddsa;
use crate::wa_proto::{CertChain, Details, LegacyDetails, NoiseCertificate};

/// WhatsApp's published root public key (Curve25519), the default trust anchor:
/// `142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b`.
pub const WHATSAPP_ROOT_KEY: [u8; 32] = [
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
];

/// The serial [`issue_chain`] gives the intermediate certificate.
pub const INTERMEDIATE_SERIAL: u32 = 1;
/// The serial [`issue_chain`] gives the leaf certificate.
pub const LEAF_SERIAL: u32 = 2;

/// Why a certificate chain (or legacy certificate) was rejected. One variant per check of
/// SPEC §2.5; the message names the check.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum CertError {
    /// The bytes are not the protobuf message they should be.
    #[error("certificate does not decode: {0}")]
    Decode(String),
    /// A required field is absent (named by its path, e.g. `leaf.details.key`).
    #[error("certificate field missing: {0}")]
    MissingField(&'static str),
    /// Check 1: a signature is not 64 bytes long.
    #[error("certificate signature is not 64 bytes (check 1)")]
    SignatureLength,
    /// Check 2: the intermediate is not signed by the root key.
    #[error("intermediate certificate is not signed by the root key (check 2)")]
    IntermediateSignature,
    /// Check 3: the intermediate's `issuer_serial` is not 0.
    #[error("intermediate certificate's issuer_serial is not 0 (check 3)")]
    IntermediateIssuer,
    /// Check 4: the leaf is not signed by the intermediate's key.
    #[error("leaf certificate is not signed by the intermediate's key (check 4)")]
    LeafSignature,
    /// Check 5: the leaf's `issuer_serial` is not the intermediate's `serial`.
    #[error("leaf certificate's issuer_serial is not the intermediate's serial (check 5)")]
    LeafIssuer,
    /// Check 6: the certified key is not the peer's Noise static key.
    #[error("certified key is not the peer's Noise static key (check 6)")]
    KeyMismatch,
    /// Check 7: now is before a certificate's `not_before`.
    #[error("certificate is not yet valid (check 7: now is before not_before)")]
    NotYetValid,
    /// Check 7: now is after a certificate's `not_after` (or a legacy certificate's `expires`).
    #[error("certificate has expired (check 7: now is after not_after)")]
    Expired,
    /// A certified key is not 32 bytes (named by its path).
    #[error("certified key {0} is not 32 bytes")]
    KeyLength(&'static str),
    /// A legacy certificate is not signed by the root key.
    #[error("legacy certificate is not signed by the root key")]
    LegacySignature,
}

/// Seconds since the Unix epoch: the clock certificate validity is checked against. A
/// clock before 1970 reads as 0, which no issued chain is valid at.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A validity window in Unix seconds, both ends inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// First valid second.
    pub not_before: u64,
    /// Last valid second.
    pub not_after: u64,
}

/// Signs an encoding of `details` with `signer`'s key.
pub fn sign_certificate(signer: &Keypair, details: &Details) -> NoiseCertificate {
    sign_bytes(signer, details.encode_to_vec())
}

fn sign_bytes(signer: &Keypair, details: Vec<u8>) -> NoiseCertificate {
    let signature = xeddsa::sign(&signer.secret, &details).to_vec();
    NoiseCertificate {
        details: Some(details),
        signature: Some(signature),
    }
}

/// Issues a chain for `leaf_key` (a Noise static public key): makes a fresh intermediate key
/// pair signed by `root`, intermediate serial [`INTERMEDIATE_SERIAL`], leaf serial
/// [`LEAF_SERIAL`], both certificates valid for `validity`. Returns the encoded `CertChain`.
pub fn issue_chain(root: &Keypair, leaf_key: &[u8; 32], validity: Validity) -> Vec<u8> {
    let intermediate = Keypair::generate();
    let intermediate_details = Details {
        serial: Some(INTERMEDIATE_SERIAL),
        issuer_serial: Some(0),
        key: Some(intermediate.public.to_vec()),
        not_before: Some(validity.not_before),
        not_after: Some(validity.not_after),
    };
    let leaf_details = Details {
        serial: Some(LEAF_SERIAL),
        issuer_serial: Some(INTERMEDIATE_SERIAL),
        key: Some(leaf_key.to_vec()),
        not_before: Some(validity.not_before),
        not_after: Some(validity.not_after),
    };
    issue_chain_with(root, &intermediate, intermediate_details, leaf_details)
}

/// Issues a chain from explicit parts: `intermediate_details` signed by `root`, `leaf_details`
/// signed by `intermediate`. The details are encoded as given (nothing is filled in), so tests
/// can break one check at a time.
pub fn issue_chain_with(
    root: &Keypair,
    intermediate: &Keypair,
    intermediate_details: Details,
    leaf_details: Details,
) -> Vec<u8> {
    CertChain {
        leaf: Some(sign_certificate(intermediate, &leaf_details)),
        intermediate: Some(sign_certificate(root, &intermediate_details)),
    }
    .encode_to_vec()
}

/// Issues a legacy single certificate (`NoiseCertificate` over `LegacyDetails`) signed by
/// `root`, as servers of protocol 2.1 send. Returns the encoded `NoiseCertificate`.
pub fn issue_legacy(root: &Keypair, details: &LegacyDetails) -> Vec<u8> {
    sign_bytes(root, details.encode_to_vec()).encode_to_vec()
}

/// A certificate's parts, present and of the right length (check 1).
fn parts<'a>(
    cert: Option<&'a NoiseCertificate>,
    name: &'static str,
    details_name: &'static str,
    signature_name: &'static str,
) -> Result<(&'a [u8], &'a [u8]), CertError> {
    let cert = cert.ok_or(CertError::MissingField(name))?;
    let details = cert
        .details
        .as_deref()
        .ok_or(CertError::MissingField(details_name))?;
    let signature = cert
        .signature
        .as_deref()
        .ok_or(CertError::MissingField(signature_name))?;
    if signature.len() != xeddsa::SIGNATURE_LENGTH {
        return Err(CertError::SignatureLength);
    }
    Ok((details, signature))
}

fn decode_details(bytes: &[u8], name: &str) -> Result<Details, CertError> {
    Details::decode(bytes).map_err(|e| CertError::Decode(format!("{name} details: {e}")))
}

fn key_of(key: Option<&[u8]>, name: &'static str) -> Result<[u8; 32], CertError> {
    key.ok_or(CertError::MissingField(name))?
        .try_into()
        .map_err(|_| CertError::KeyLength(name))
}

/// Check 7 for one certificate.
fn check_window(
    details: &Details,
    not_after_name: &'static str,
    now: u64,
) -> Result<(), CertError> {
    let not_after = details
        .not_after
        .ok_or(CertError::MissingField(not_after_name))?;
    if now < details.not_before.unwrap_or(0) {
        return Err(CertError::NotYetValid);
    }
    if now > not_after {
        return Err(CertError::Expired);
    }
    Ok(())
}

/// Verifies an encoded `CertChain` for the peer whose Noise static key is `peer_static`,
/// against `root_public`, at `now_unix` (SPEC §2.5). Returns the leaf's `Details`.
pub fn verify_chain(
    chain: &[u8],
    root_public: &[u8; 32],
    peer_static: &[u8; 32],
    now_unix: u64,
) -> Result<Details, CertError> {
    check_chain(chain, Some(root_public), peer_static, now_unix).map(|(leaf, _)| leaf)
}

/// The checks of SPEC §9 for the proxy's own chain, at start-up and on every reload:
/// all of §2.5 but the root's signature (the provider's root key stays offline, and the
/// proxy is not given it). Returns when the chain stops being valid: the earlier of the
/// two `not_after`s, for the expiry gauge and its alert.
pub fn verify_own_chain(
    chain: &[u8],
    static_public: &[u8; 32],
    now_unix: u64,
) -> Result<u64, CertError> {
    let (leaf, intermediate) = check_chain(chain, None, static_public, now_unix)?;
    // Both are present: check 7 needed them.
    Ok(leaf
        .not_after
        .unwrap_or(u64::MAX)
        .min(intermediate.not_after.unwrap_or(u64::MAX)))
}

/// The seven checks, the second only when the root is given. Returns the leaf's and the
/// intermediate's details.
fn check_chain(
    chain: &[u8],
    root_public: Option<&[u8; 32]>,
    peer_static: &[u8; 32],
    now_unix: u64,
) -> Result<(Details, Details), CertError> {
    let chain =
        CertChain::decode(chain).map_err(|e| CertError::Decode(format!("cert chain: {e}")))?;
    // 1. Both signatures are 64 bytes.
    let (int_bytes, int_sig) = parts(
        chain.intermediate.as_ref(),
        "intermediate",
        "intermediate.details",
        "intermediate.signature",
    )?;
    let (leaf_bytes, leaf_sig) = parts(
        chain.leaf.as_ref(),
        "leaf",
        "leaf.details",
        "leaf.signature",
    )?;

    // 2. The intermediate is signed by the root key.
    if let Some(root_public) = root_public {
        if !xeddsa::verify(root_public, int_bytes, int_sig) {
            return Err(CertError::IntermediateSignature);
        }
    }
    let intermediate = decode_details(int_bytes, "intermediate")?;
    // 3. The intermediate was issued by the root.
    if intermediate.issuer_serial.unwrap_or(0) != 0 {
        return Err(CertError::IntermediateIssuer);
    }
    // 4. The leaf is signed by the intermediate's key.
    let int_key = key_of(intermediate.key.as_deref(), "intermediate.details.key")?;
    if !xeddsa::verify(&int_key, leaf_bytes, leaf_sig) {
        return Err(CertError::LeafSignature);
    }
    let leaf = decode_details(leaf_bytes, "leaf")?;
    // 5. The leaf was issued by the intermediate.
    if leaf.issuer_serial.unwrap_or(0) != intermediate.serial.unwrap_or(0) {
        return Err(CertError::LeafIssuer);
    }
    // 6. The leaf certifies the peer's Noise static key.
    let leaf_key = key_of(leaf.key.as_deref(), "leaf.details.key")?;
    if &leaf_key != peer_static {
        return Err(CertError::KeyMismatch);
    }
    // 7. Now lies inside both validity windows.
    check_window(&intermediate, "intermediate.details.not_after", now_unix)?;
    check_window(&leaf, "leaf.details.not_after", now_unix)?;
    Ok((leaf, intermediate))
}

/// Verifies the older single-certificate format that real servers of protocol 2.1 send: a
/// `NoiseCertificate` whose details decode as [`LegacyDetails`]. Valid iff the signature is 64
/// bytes and verifies under `root_public`, the key is `peer_static`, and (if `expires` is set)
/// `now_unix <= expires`. Returns the details.
pub fn verify_legacy(
    cert: &[u8],
    root_public: &[u8; 32],
    peer_static: &[u8; 32],
    now_unix: u64,
) -> Result<LegacyDetails, CertError> {
    let cert = NoiseCertificate::decode(cert)
        .map_err(|e| CertError::Decode(format!("legacy certificate: {e}")))?;
    let (bytes, signature) = parts(Some(&cert), "certificate", "details", "signature")?;
    if !xeddsa::verify(root_public, bytes, signature) {
        return Err(CertError::LegacySignature);
    }
    let details = LegacyDetails::decode(bytes)
        .map_err(|e| CertError::Decode(format!("legacy details: {e}")))?;
    let key = key_of(details.key.as_deref(), "details.key")?;
    if &key != peer_static {
        return Err(CertError::KeyMismatch);
    }
    if details.expires.is_some_and(|expires| now_unix > expires) {
        return Err(CertError::Expired);
    }
    Ok(details)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_750_000_000;
    const WINDOW: Validity = Validity {
        not_before: NOW - 1000,
        not_after: NOW + 1000,
    };

    /// A root, an intermediate, a peer and the details of a valid chain between them.
    struct Setup {
        root: Keypair,
        intermediate: Keypair,
        peer: Keypair,
        int_details: Details,
        leaf_details: Details,
    }

    fn setup() -> Setup {
        let root = Keypair::generate();
        let intermediate = Keypair::generate();
        let peer = Keypair::generate();
        let int_details = Details {
            serial: Some(7),
            issuer_serial: Some(0),
            key: Some(intermediate.public.to_vec()),
            not_before: Some(WINDOW.not_before),
            not_after: Some(WINDOW.not_after),
        };
        let leaf_details = Details {
            serial: Some(8),
            issuer_serial: Some(7),
            key: Some(peer.public.to_vec()),
            not_before: Some(WINDOW.not_before),
            not_after: Some(WINDOW.not_after),
        };
        Setup {
            root,
            intermediate,
            peer,
            int_details,
            leaf_details,
        }
    }

    impl Setup {
        fn chain(&self) -> Vec<u8> {
            issue_chain_with(
                &self.root,
                &self.intermediate,
                self.int_details.clone(),
                self.leaf_details.clone(),
            )
        }

        fn verify(&self, chain: &[u8], now: u64) -> Result<Details, CertError> {
            verify_chain(chain, &self.root.public, &self.peer.public, now)
        }
    }

    fn edit(chain: &[u8], f: impl FnOnce(&mut CertChain)) -> Vec<u8> {
        let mut decoded = CertChain::decode(chain).unwrap();
        f(&mut decoded);
        decoded.encode_to_vec()
    }

    #[test]
    fn valid_chain_verifies() {
        let s = setup();
        let leaf = s.verify(&s.chain(), NOW).unwrap();
        assert_eq!(leaf, s.leaf_details);
        // The window is inclusive at both ends.
        s.verify(&s.chain(), WINDOW.not_before).unwrap();
        s.verify(&s.chain(), WINDOW.not_after).unwrap();
    }

    #[test]
    fn issue_chain_makes_a_valid_chain() {
        let root = Keypair::generate();
        let peer = Keypair::generate();
        let chain = issue_chain(&root, &peer.public, WINDOW);
        let leaf = verify_chain(&chain, &root.public, &peer.public, NOW).unwrap();
        assert_eq!(leaf.serial, Some(LEAF_SERIAL));
        assert_eq!(leaf.issuer_serial, Some(INTERMEDIATE_SERIAL));
        assert_eq!(leaf.key.as_deref(), Some(&peer.public[..]));
        assert_eq!(
            verify_chain(&chain, &root.public, &root.public, NOW),
            Err(CertError::KeyMismatch)
        );
    }

    #[test]
    fn check1_short_signature() {
        let s = setup();
        let chain = s.chain();
        let short_leaf = edit(&chain, |c| {
            c.leaf.as_mut().unwrap().signature.as_mut().unwrap().pop();
        });
        assert_eq!(s.verify(&short_leaf, NOW), Err(CertError::SignatureLength));
        let short_int = edit(&chain, |c| {
            c.intermediate
                .as_mut()
                .unwrap()
                .signature
                .as_mut()
                .unwrap()
                .pop();
        });
        assert_eq!(s.verify(&short_int, NOW), Err(CertError::SignatureLength));
        let long_leaf = edit(&chain, |c| {
            c.leaf.as_mut().unwrap().signature.as_mut().unwrap().push(0);
        });
        assert_eq!(s.verify(&long_leaf, NOW), Err(CertError::SignatureLength));
    }

    #[test]
    fn check2_intermediate_signed_by_another_root() {
        let s = setup();
        let other_root = Keypair::generate();
        let chain = issue_chain_with(
            &other_root,
            &s.intermediate,
            s.int_details.clone(),
            s.leaf_details.clone(),
        );
        assert_eq!(s.verify(&chain, NOW), Err(CertError::IntermediateSignature));
    }

    #[test]
    fn check3_intermediate_issuer_serial_not_zero() {
        let mut s = setup();
        s.int_details.issuer_serial = Some(5);
        assert_eq!(
            s.verify(&s.chain(), NOW),
            Err(CertError::IntermediateIssuer)
        );
    }

    #[test]
    fn check3_absent_issuer_serial_reads_as_zero() {
        let mut s = setup();
        s.int_details.issuer_serial = None;
        s.verify(&s.chain(), NOW).unwrap();
    }

    #[test]
    fn check4_leaf_signed_by_another_key() {
        let s = setup();
        let other = Keypair::generate();
        // The intermediate certifies `s.intermediate`'s key, but `other` signs the leaf.
        let chain = issue_chain_with(
            &s.root,
            &other,
            s.int_details.clone(),
            s.leaf_details.clone(),
        );
        assert_eq!(s.verify(&chain, NOW), Err(CertError::LeafSignature));
    }

    #[test]
    fn check5_leaf_issuer_serial_mismatch() {
        let mut s = setup();
        s.leaf_details.issuer_serial = Some(6);
        assert_eq!(s.verify(&s.chain(), NOW), Err(CertError::LeafIssuer));
    }

    #[test]
    fn check6_leaf_key_not_peer_static() {
        let s = setup();
        let other = Keypair::generate();
        assert_eq!(
            verify_chain(&s.chain(), &s.root.public, &other.public, NOW),
            Err(CertError::KeyMismatch)
        );
    }

    #[test]
    fn check7_outside_intermediate_window() {
        let mut s = setup();
        s.int_details.not_before = Some(NOW + 1);
        assert_eq!(s.verify(&s.chain(), NOW), Err(CertError::NotYetValid));
        let mut s = setup();
        s.int_details.not_after = Some(NOW - 1);
        assert_eq!(s.verify(&s.chain(), NOW), Err(CertError::Expired));
    }

    #[test]
    fn check7_outside_leaf_window() {
        let mut s = setup();
        s.leaf_details.not_before = Some(NOW + 1);
        assert_eq!(s.verify(&s.chain(), NOW), Err(CertError::NotYetValid));
        let mut s = setup();
        s.leaf_details.not_after = Some(NOW - 1);
        assert_eq!(s.verify(&s.chain(), NOW), Err(CertError::Expired));
    }

    #[test]
    fn check7_now_outside_shared_window() {
        let s = setup();
        let chain = s.chain();
        assert_eq!(
            s.verify(&chain, WINDOW.not_before - 1),
            Err(CertError::NotYetValid)
        );
        assert_eq!(
            s.verify(&chain, WINDOW.not_after + 1),
            Err(CertError::Expired)
        );
    }

    #[test]
    fn missing_not_after_is_a_missing_field() {
        let mut s = setup();
        s.leaf_details.not_after = None;
        assert_eq!(
            s.verify(&s.chain(), NOW),
            Err(CertError::MissingField("leaf.details.not_after"))
        );
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let s = setup();
        let err = s.verify(&[0xff, 0xff, 0xff, 0x01], NOW).unwrap_err();
        assert!(matches!(err, CertError::Decode(_)), "{err:?}");
        let err = verify_legacy(&[0xff; 5], &s.root.public, &s.peer.public, NOW).unwrap_err();
        assert!(matches!(err, CertError::Decode(_)), "{err:?}");
    }

    #[test]
    fn missing_parts_are_missing_fields() {
        let s = setup();
        let chain = s.chain();
        let no_leaf = edit(&chain, |c| c.leaf = None);
        assert_eq!(
            s.verify(&no_leaf, NOW),
            Err(CertError::MissingField("leaf"))
        );
        let no_int = edit(&chain, |c| c.intermediate = None);
        assert_eq!(
            s.verify(&no_int, NOW),
            Err(CertError::MissingField("intermediate"))
        );
        let no_sig = edit(&chain, |c| c.leaf.as_mut().unwrap().signature = None);
        assert_eq!(
            s.verify(&no_sig, NOW),
            Err(CertError::MissingField("leaf.signature"))
        );
        assert_eq!(
            s.verify(&[], NOW),
            Err(CertError::MissingField("intermediate"))
        );
    }

    #[test]
    fn error_messages_name_the_check() {
        assert!(CertError::IntermediateSignature
            .to_string()
            .contains("check 2"));
        assert!(CertError::KeyMismatch.to_string().contains("check 6"));
        assert!(CertError::Expired.to_string().contains("check 7"));
    }

    #[test]
    fn root_key_constant_matches_published_hex() {
        assert_eq!(
            hex::encode(WHATSAPP_ROOT_KEY),
            "142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b"
        );
    }

    fn known_answers() -> serde_json::Value {
        serde_json::from_str(include_str!("../../tests/data/wa-known-answers.json")).unwrap()
    }

    #[test]
    fn real_legacy_certificate_verifies() {
        let ka = known_answers();
        let hex_field = |v: &serde_json::Value| hex::decode(v.as_str().unwrap()).unwrap();
        let details = hex_field(&ka["expected_certificate"]["details_hex"]);
        let signature = hex_field(&ka["xeddsa"]["real"]["sig"]);
        let server_static: [u8; 32] = hex_field(&ka["expected_server_static_hex"])
            .try_into()
            .unwrap();
        assert_eq!(
            hex_field(&ka["whatsapp_root_public_hex"]),
            WHATSAPP_ROOT_KEY.to_vec()
        );
        let cert = NoiseCertificate {
            details: Some(details),
            signature: Some(signature),
        }
        .encode_to_vec();

        // The recorded certificate carries no `expires`, so no instant is after its expiry.
        let legacy = verify_legacy(&cert, &WHATSAPP_ROOT_KEY, &server_static, NOW).unwrap();
        assert_eq!(legacy.expires, None);
        assert_eq!(legacy.serial, Some(3));
        assert_eq!(legacy.issuer.as_deref(), Some("WhatsAppLongTerm1"));
        assert_eq!(legacy.subject.as_deref(), Some("Chat Static Public Key"));
        verify_legacy(&cert, &WHATSAPP_ROOT_KEY, &server_static, u64::MAX).unwrap();

        let mut other_peer = server_static;
        other_peer[0] ^= 1;
        assert_eq!(
            verify_legacy(&cert, &WHATSAPP_ROOT_KEY, &other_peer, NOW),
            Err(CertError::KeyMismatch)
        );
        let other_root = Keypair::generate();
        assert_eq!(
            verify_legacy(&cert, &other_root.public, &server_static, NOW),
            Err(CertError::LegacySignature)
        );
    }

    #[test]
    fn legacy_checks() {
        let root = Keypair::generate();
        let peer = Keypair::generate();
        let details = LegacyDetails {
            serial: Some(1),
            issuer: Some("test".into()),
            expires: Some(NOW),
            subject: Some("subject".into()),
            key: Some(peer.public.to_vec()),
        };
        let cert = issue_legacy(&root, &details);
        assert_eq!(
            verify_legacy(&cert, &root.public, &peer.public, NOW),
            Ok(details)
        );
        assert_eq!(
            verify_legacy(&cert, &root.public, &peer.public, NOW + 1),
            Err(CertError::Expired)
        );
        let mut short = NoiseCertificate::decode(&cert[..]).unwrap();
        short.signature.as_mut().unwrap().truncate(63);
        assert_eq!(
            verify_legacy(&short.encode_to_vec(), &root.public, &peer.public, NOW),
            Err(CertError::SignatureLength)
        );
        let mut unsigned = NoiseCertificate::decode(&cert[..]).unwrap();
        unsigned.signature = None;
        assert_eq!(
            verify_legacy(&unsigned.encode_to_vec(), &root.public, &peer.public, NOW),
            Err(CertError::MissingField("signature"))
        );
    }
}
