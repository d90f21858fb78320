//! Public keys of key signers (cosign's `cosign.pub`: PEM `PUBLIC KEY`, PKIX, ECDSA P-256) and the
//! check of a cosign signature with one. A key is named by the SHA-256 of its PKIX DER form, never
//! by its material.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};

use crate::types::Digest;

/// A public key to check with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(pub(crate) VerifyingKey);

impl PublicKey {
    /// The SHA-256 (hex) of the key's PKIX DER form: how a key is named in messages and in the
    /// signature file.
    pub fn id(&self) -> String {
        let der = self
            .0
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        Digest::sha256_of(&der).hex().to_string()
    }
}

/// A public key from its PEM text (`PUBLIC KEY`, PKIX, ECDSA P-256), as a catalog declares it.
pub fn public_key_from_pem(pem: &str) -> Result<PublicKey, String> {
    VerifyingKey::from_public_key_pem(pem.trim())
        .map(PublicKey)
        .map_err(|e| format!("not an ECDSA P-256 public key in PEM (`PUBLIC KEY`): {e}"))
}

/// Whether `signature` (base64 ASN.1 DER, as in cosign's `dev.cosignproject.cosign/signature`)
/// is `key`'s ECDSA P-256/SHA-256 signature of `payload`.
pub fn verify_cosign(key: &PublicKey, payload: &[u8], signature: &str) -> bool {
    STANDARD
        .decode(signature.trim())
        .ok()
        .and_then(|raw| Signature::from_der(&raw).ok())
        .is_some_and(|s| key.0.verify(payload, &s).is_ok())
}
