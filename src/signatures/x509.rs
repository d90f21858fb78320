//! The X.509 side of a keyless signature: the Fulcio leaf certificate's identity (its subject
//! alternative name), its OIDC issuer (Fulcio's extension `1.3.6.1.4.1.57264.1.8`, or the
//! deprecated `.1.1`), its validity, its key, and its chain to a certificate authority of the trust
//! root. ECDSA over P-256 and P-384 with SHA-256/SHA-384 (what Fulcio and Rekor use); other
//! algorithms are refused by name.

use x509_cert::Certificate;
use x509_cert::der::asn1::Utf8StringRef;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};

use super::trust_root::CertificateAuthority;

/// Fulcio's OIDC issuer extension (a DER UTF8String).
pub const ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's deprecated OIDC issuer extension (the raw string).
pub const ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
const SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");

/// A hash for ECDSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

fn digest(hash: Hash, message: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    match hash {
        Hash::Sha256 => sha2::Sha256::digest(message).to_vec(),
        Hash::Sha384 => sha2::Sha384::digest(message).to_vec(),
    }
}

/// Whether `signature` (ASN.1 DER) is an ECDSA signature of `message` under `hash` by the key whose
/// PKIX DER is `spki` (P-256 or P-384).
pub fn verify_ecdsa(spki: &[u8], message: &[u8], signature: &[u8], hash: Hash) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    use p256::pkcs8::DecodePublicKey as _;
    let prehash = digest(hash, message);
    if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(spki) {
        return p256::ecdsa::Signature::from_der(signature)
            .is_ok_and(|s| key.verify_prehash(&prehash, &s).is_ok());
    }
    if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_der(spki) {
        return p384::ecdsa::Signature::from_der(signature)
            .is_ok_and(|s| key.verify_prehash(&prehash, &s).is_ok());
    }
    false
}

/// The hash a key of this PKIX DER signs with (P-384: SHA-384, else SHA-256), as cosign does.
pub fn hash_for_key(spki: &[u8]) -> Hash {
    use p256::pkcs8::DecodePublicKey as _;
    match p384::ecdsa::VerifyingKey::from_public_key_der(spki) {
        Ok(_) => Hash::Sha384,
        Err(_) => Hash::Sha256,
    }
}

/// A leaf certificate, read.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// The certificate.
    pub cert: Certificate,
    /// Its DER.
    pub der: Vec<u8>,
    /// Its identities: URI and email subject alternative names.
    pub identities: Vec<String>,
    /// Its OIDC issuer, when it carries the extension.
    pub issuer: Option<String>,
    /// Its key, PKIX DER.
    pub key: Vec<u8>,
    /// Valid from (Unix seconds).
    pub not_before: i64,
    /// Valid until (Unix seconds).
    pub not_after: i64,
    /// Whether its extended key usage allows code signing.
    pub code_signing: bool,
}

fn unix(t: &x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// Reads a leaf certificate from PEM (as cosign's certificate annotation holds it) or DER.
pub fn read_leaf(bytes: &[u8]) -> Result<Leaf, String> {
    let der = match bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        true => {
            let (label, der) = x509_cert::der::pem::decode_vec(bytes.trim_ascii())
                .map_err(|e| format!("the certificate is not PEM: {e}"))?;
            if label != "CERTIFICATE" {
                return Err(format!("a PEM `{label}`, not a CERTIFICATE"));
            }
            der
        }
        false => bytes.to_vec(),
    };
    let cert = Certificate::from_der(&der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let tbs = &cert.tbs_certificate;
    let mut leaf = Leaf {
        identities: Vec::new(),
        issuer: None,
        key: tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| format!("the certificate's key: {e}"))?,
        not_before: unix(&tbs.validity.not_before),
        not_after: unix(&tbs.validity.not_after),
        code_signing: false,
        der,
        cert: cert.clone(),
    };
    for ext in tbs.extensions.iter().flatten() {
        let value = ext.extn_value.as_bytes();
        if ext.extn_id == SAN {
            let san = SubjectAltName::from_der(value)
                .map_err(|e| format!("the subject alternative name cannot be read: {e}"))?;
            for name in san.0 {
                match name {
                    GeneralName::UniformResourceIdentifier(s) => {
                        leaf.identities.push(s.to_string())
                    }
                    GeneralName::Rfc822Name(s) => leaf.identities.push(s.to_string()),
                    _ => {}
                }
            }
        } else if ext.extn_id == ISSUER_V2 {
            let s = Utf8StringRef::from_der(value)
                .map_err(|e| format!("the OIDC issuer extension is not a UTF8String: {e}"))?;
            leaf.issuer = Some(s.as_str().to_string());
        } else if ext.extn_id == ISSUER_V1 && leaf.issuer.is_none() {
            leaf.issuer = std::str::from_utf8(value).ok().map(str::to_string);
        } else if ext.extn_id == EKU {
            leaf.code_signing =
                ExtendedKeyUsage::from_der(value).is_ok_and(|eku| eku.0.contains(&CODE_SIGNING));
        }
    }
    Ok(leaf)
}

/// Whether `issuer` signed `cert` (names match and the signature verifies with its key).
fn issued_by(cert: &Certificate, issuer: &Certificate) -> Result<(), String> {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return Err(format!(
            "issued by \"{}\", not by \"{}\"",
            cert.tbs_certificate.issuer, issuer.tbs_certificate.subject
        ));
    }
    let hash = match cert.signature_algorithm.oid {
        ECDSA_SHA256 => Hash::Sha256,
        ECDSA_SHA384 => Hash::Sha384,
        other => {
            return Err(format!(
                "signed with algorithm {other} (ECDSA with SHA-256/384 expected)"
            ));
        }
    };
    let tbs = cert.tbs_certificate.to_der().map_err(|e| e.to_string())?;
    let key = issuer
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    let signature = cert.signature.raw_bytes();
    match verify_ecdsa(&key, &tbs, signature, hash) {
        true => Ok(()),
        false => Err(format!(
            "its signature does not verify with the key of \"{}\"",
            issuer.tbs_certificate.subject
        )),
    }
}

/// Checks that `leaf` chains to `ca` (its chain, leaf-most first, the root last) and that every
/// certificate of the chain was valid at `time`.
pub fn chains_to(leaf: &Leaf, ca: &CertificateAuthority, time: i64) -> Result<(), String> {
    let mut child = &leaf.cert;
    for issuer in &ca.chain {
        issued_by(child, issuer)?;
        let v = &issuer.tbs_certificate.validity;
        if time < unix(&v.not_before) || time > unix(&v.not_after) {
            return Err(format!(
                "the CA certificate \"{}\" was not valid at the signing time",
                issuer.tbs_certificate.subject
            ));
        }
        child = issuer;
    }
    Ok(())
}
