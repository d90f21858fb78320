//! The bundle's own signature (`airgap/FORMAT.md`, section 13): `bundle export --sign-key KEY` signs
//! the digest of the bundle's `index.json` the way `cosign sign --key` signs an image — ECDSA P-256
//! with SHA-256 over cosign's simple-signing payload, the ASN.1 DER signature in base64 — and stores
//! payload and signature in [`SIGNATURE_FILE`] next to `index.json`; `bundle verify --key PUB` and
//! `bundle mirror --require-signature --key PUB` check it.
//!
//! Keys are PEM: a private key as PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or cosign's
//! encrypted format (`ENCRYPTED SIGSTORE PRIVATE KEY`, older `ENCRYPTED COSIGN PRIVATE KEY`: JSON
//! holding scrypt parameters and salt, a nacl/secretbox nonce and the sealed PKCS#8 key, as
//! `cosign generate-key-pair` writes it; its password comes from `COSIGN_PASSWORD`, as for cosign);
//! a public key as PKIX (`PUBLIC KEY`), as `cosign generate-key-pair` writes `cosign.pub`. Key
//! material is never printed: a key is named by the SHA-256 of its public key's DER form.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey as _;

use crate::input::{self, Kind};
pub use crate::signatures::keys::{PublicKey, public_key_from_pem, verify_cosign};
use crate::types::Digest;

/// The file at the bundle's root that holds its signature (absent: the bundle is not signed).
pub const SIGNATURE_FILE: &str = "index.json.sig";
/// The `mediaType` of that file's JSON.
pub const SIGNATURE_MEDIA_TYPE: &str = "application/vnd.bundle.signature.v1+json";
/// The `docker-reference` of the payload: the bundle is not in a registry; this names what is signed.
pub const SIGNED_REFERENCE: &str = "bundle.dev/bundle";

/// A private key to sign with. Its `Debug` shows the public key's id only.
#[derive(Clone)]
pub struct PrivateKey(SigningKey);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey(public key sha256 {})", self.public().id())
    }
}

impl PrivateKey {
    /// Its public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(*self.0.verifying_key())
    }
}

/// A key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not readable.
    #[error(transparent)]
    Read(#[from] input::InputError),
    /// Not a key of a kind this build reads.
    #[error("{path}: {message}")]
    Bad {
        /// The file.
        path: String,
        /// What is wrong (never the key material).
        message: String,
    },
}

fn bad(path: &Path, message: impl Into<String>) -> KeyError {
    KeyError::Bad {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Reads a private key (PEM: PKCS#8, SEC1, or cosign's encrypted format with `password`).
pub fn read_private_key(path: &Path, password: Option<&str>) -> Result<PrivateKey, KeyError> {
    let text = input::read_text(path, Kind::Key)?;
    let (label, der) = p256::pkcs8::der::pem::decode_vec(text.trim().as_bytes())
        .map_err(|e| bad(path, format!("not a PEM key: {e}")))?;
    let key = match label {
        "PRIVATE KEY" => SigningKey::from_pkcs8_der(&der)
            .map_err(|e| bad(path, format!("not an ECDSA P-256 PKCS#8 key: {e}")))?,
        "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(&der)
            .map(SigningKey::from)
            .map_err(|e| bad(path, format!("not an ECDSA P-256 SEC1 key: {e}")))?,
        "ENCRYPTED SIGSTORE PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY" => {
            let Some(password) = password else {
                return Err(bad(
                    path,
                    "an encrypted cosign key: its password is read from COSIGN_PASSWORD, which is not set",
                ));
            };
            let pkcs8 = decrypt_cosign(&der, password).map_err(|m| bad(path, m))?;
            SigningKey::from_pkcs8_der(&pkcs8)
                .map_err(|e| bad(path, format!("the decrypted key is not ECDSA P-256: {e}")))?
        }
        other => {
            return Err(bad(
                path,
                format!(
                    "a PEM `{other}`, not a private key (PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED SIGSTORE PRIVATE KEY)"
                ),
            ));
        }
    };
    Ok(PrivateKey(key))
}

/// Reads a public key (PEM `PUBLIC KEY`, PKIX, ECDSA P-256); another kind of key is refused naming
/// what it is.
pub fn read_public_key(path: &Path) -> Result<PublicKey, KeyError> {
    let text = input::read_text(path, Kind::Key)?;
    public_key_from_pem(&text).map_err(|e| bad(path, e))
}

/// cosign's encrypted key: JSON `{kdf: {name: scrypt, params: {N, r, p}, salt}, cipher: {name:
/// nacl/secretbox, nonce}, ciphertext}` (byte strings in base64); the key is scrypt(password, salt)
/// of 32 bytes, the plaintext the PKCS#8 DER key.
fn decrypt_cosign(json: &[u8], password: &str) -> Result<Vec<u8>, String> {
    use crypto_secretbox::aead::{Aead as _, KeyInit as _};
    #[derive(serde::Deserialize)]
    struct Sealed {
        kdf: Kdf,
        cipher: Cipher,
        ciphertext: String,
    }
    #[derive(serde::Deserialize)]
    struct Kdf {
        name: String,
        params: KdfParams,
        salt: String,
    }
    #[derive(serde::Deserialize)]
    #[allow(non_snake_case)]
    struct KdfParams {
        N: u64,
        r: u32,
        p: u32,
    }
    #[derive(serde::Deserialize)]
    struct Cipher {
        name: String,
        nonce: String,
    }
    let sealed: Sealed = serde_json::from_slice(json)
        .map_err(|e| format!("an encrypted cosign key whose content cannot be read: {e}"))?;
    if sealed.kdf.name != "scrypt" || sealed.cipher.name != "nacl/secretbox" {
        return Err(format!(
            "an encrypted cosign key with kdf {:?} and cipher {:?} (this build reads scrypt and nacl/secretbox)",
            sealed.kdf.name, sealed.cipher.name
        ));
    }
    let b64 = |what: &str, s: &str| {
        STANDARD
            .decode(s)
            .map_err(|e| format!("an encrypted cosign key whose {what} is not base64: {e}"))
    };
    let (salt, nonce, ciphertext) = (
        b64("salt", &sealed.kdf.salt)?,
        b64("nonce", &sealed.cipher.nonce)?,
        b64("ciphertext", &sealed.ciphertext)?,
    );
    let n = sealed.kdf.params.N;
    if !n.is_power_of_two() || !(2..=1 << 20).contains(&n) {
        return Err(format!("scrypt N = {n} is not a power of two up to 2^20"));
    }
    let params = scrypt::Params::new(
        n.trailing_zeros() as u8,
        sealed.kdf.params.r,
        sealed.kdf.params.p,
        32,
    )
    .map_err(|e| format!("scrypt parameters: {e}"))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key)
        .map_err(|e| format!("scrypt: {e}"))?;
    if nonce.len() != 24 {
        return Err(format!(
            "a secretbox nonce of {} bytes (24 expected)",
            nonce.len()
        ));
    }
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(&key.into());
    cipher
        .decrypt(nonce.as_slice().into(), ciphertext.as_slice())
        .map_err(|_| "the password does not decrypt the key (COSIGN_PASSWORD)".to_string())
}

/// cosign's simple-signing payload for the bundle whose `index.json` has `digest`.
pub fn payload(digest: &Digest) -> Vec<u8> {
    let v = serde_json::json!({
        "critical": {
            "identity": {"docker-reference": SIGNED_REFERENCE},
            "image": {"docker-manifest-digest": digest.as_str()},
            "type": "cosign container image signature",
        },
        "optional": null,
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// The signature file's JSON.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignatureDocument {
    media_type: String,
    /// The simple-signing payload, base64.
    payload: String,
    /// The ECDSA signature (ASN.1 DER) over the payload, base64 — what cosign puts in
    /// `dev.cosignproject.cosign/signature`.
    signature: String,
    /// [`PublicKey::id`] of the key that signed.
    key_sha256: String,
}

/// The signature file for an `index.json` of these bytes.
pub fn sign(key: &PrivateKey, index: &[u8]) -> Vec<u8> {
    let payload = payload(&Digest::sha256_of(index));
    let signature: Signature = key.0.sign(&payload);
    let der: DerSignature = signature.to_der();
    let doc = SignatureDocument {
        media_type: SIGNATURE_MEDIA_TYPE.to_string(),
        payload: STANDARD.encode(&payload),
        signature: STANDARD.encode(der.as_bytes()),
        key_sha256: key.public().id(),
    };
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// What a signature file says, read without a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The id of the key it says signed it.
    pub key_sha256: String,
    /// The `index.json` digest in its payload.
    pub digest: String,
}

/// Reads a signature file (no key: what it claims).
pub fn read(file: &[u8]) -> Result<Signed, String> {
    let doc: SignatureDocument =
        serde_json::from_slice(file).map_err(|e| format!("not a signature document: {e}"))?;
    if doc.media_type != SIGNATURE_MEDIA_TYPE {
        return Err(format!(
            "mediaType is {:?} (expected {SIGNATURE_MEDIA_TYPE})",
            doc.media_type
        ));
    }
    let payload = STANDARD
        .decode(&doc.payload)
        .map_err(|e| format!("payload is not base64: {e}"))?;
    let v: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|e| format!("payload is not JSON: {e}"))?;
    let digest = v["critical"]["image"]["docker-manifest-digest"]
        .as_str()
        .ok_or("the payload names no docker-manifest-digest")?
        .to_string();
    Ok(Signed {
        key_sha256: doc.key_sha256,
        digest,
    })
}

/// Checks a signature file against the `index.json` bytes and `key`: the payload names the index's
/// digest and the signature over it verifies with the key. The error says what does not hold.
pub fn check(file: &[u8], index: &[u8], key: &PublicKey) -> Result<Signed, String> {
    let signed = read(file)?;
    let doc: SignatureDocument = serde_json::from_slice(file).map_err(|e| e.to_string())?;
    let actual = Digest::sha256_of(index);
    if signed.digest != actual.as_str() {
        return Err(format!(
            "the signature is for index {}, not this bundle's {actual}",
            signed.digest
        ));
    }
    let payload = STANDARD.decode(&doc.payload).map_err(|e| e.to_string())?;
    let raw = STANDARD
        .decode(&doc.signature)
        .map_err(|e| format!("signature is not base64: {e}"))?;
    let signature = Signature::from_der(&raw)
        .map_err(|e| format!("signature is not an ASN.1 DER ECDSA signature: {e}"))?;
    key.0.verify(&payload, &signature).map_err(|_| {
        format!(
            "the signature does not verify with the key given (sha256 {}; the bundle says it was signed by {})",
            key.id(),
            signed.key_sha256
        )
    })?;
    Ok(signed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> PrivateKey {
        let bytes = Digest::sha256_of(&[seed]);
        let mut secret = [0u8; 32];
        for (i, c) in bytes.hex().as_bytes().chunks(2).enumerate() {
            secret[i] = u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap();
        }
        PrivateKey(SigningKey::from_bytes(&secret.into()).unwrap())
    }

    #[test]
    fn a_signature_checks_with_its_key_only_and_for_its_index_only() {
        let (k, other) = (key(1), key(2));
        let index = br#"{"schemaVersion":2}"#;
        let file = sign(&k, index);
        assert_eq!(sign(&k, index), file, "deterministic (RFC 6979)");
        let signed = check(&file, index, &k.public()).unwrap();
        assert_eq!(signed.digest, Digest::sha256_of(index).as_str());
        assert_eq!(signed.key_sha256, k.public().id());
        let e = check(&file, index, &other.public()).unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
        let e = check(&file, b"{}", &k.public()).unwrap_err();
        assert!(e.contains("not this bundle's"), "{e}");
        assert!(!format!("{k:?}").contains(&format!("{:?}", k.0.to_bytes())));
    }
}
