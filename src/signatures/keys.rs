//! Public keys of key signers and the check of a cosign signature with one.
//!
//! [`PublicKey`] is the ECDSA P-256 key of `cosign generate-key-pair` (`cosign.pub`), which the
//! bundle's own signature and `--signature-key` use. [`SignerKey`] is any key upstream declares:
//! ECDSA P-256 or P-384, or RSA, verified the way cosign verifies a `--key` signature (sigstore's
//! `signature.LoadVerifier`: RSA keys with PKCS#1 v1.5 — cosign uses PSS only when asked, which
//! `cosign verify` never is — ECDSA with the ASN.1 DER signature), each over the digest the
//! declaration names (cosign's `--signature-digest-algorithm`, SHA-256 unless told). A key is
//! named by the SHA-256 of its PKIX DER form, never by its material.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};

use crate::types::{Digest, PublicKeySource, SignatureDigest, Signer};

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

/// A public key from its PEM text (`PUBLIC KEY`, PKIX, ECDSA P-256: `cosign generate-key-pair`'s
/// `cosign.pub`). Any other key is refused naming what it is (cosign also signs with ECDSA P-384
/// and P-521, RSA and Ed25519 keys, imported or in a KMS).
pub fn public_key_from_pem(pem: &str) -> Result<PublicKey, String> {
    VerifyingKey::from_public_key_pem(pem.trim())
        .map(PublicKey)
        .map_err(|_| {
            format!(
                "{}: only ECDSA P-256 public keys (PEM `PUBLIC KEY`, as `cosign generate-key-pair` \
                 writes cosign.pub) are supported here",
                what_key(pem)
            )
        })
}

/// What the PEM text `pem` holds, in words, for the error that refuses it: `an RSA 4096 public
/// key`, `an Ed25519 public key`, `a private key (PEM `…`)`, `not PEM`.
fn what_key(pem: &str) -> String {
    use p256::pkcs8::spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};
    let Ok((label, der)) = p256::pkcs8::der::pem::decode_vec(pem.trim().as_bytes()) else {
        return "not a PEM key".to_string();
    };
    if label.contains("PRIVATE KEY") {
        return format!("a private key (PEM `{label}`); give its public key");
    }
    if label != "PUBLIC KEY" {
        return format!("a PEM `{label}`, not a `PUBLIC KEY`");
    }
    if let Ok(k) = SignerKey::from_pem(pem, SignatureDigest::Sha256) {
        return format!("an {} public key", k.kind());
    }
    let Ok(info) = SubjectPublicKeyInfoRef::try_from(der.as_slice()) else {
        return "a `PUBLIC KEY` that is not a PKIX public key".to_string();
    };
    let named = |oid: ObjectIdentifier| -> Option<&'static str> {
        Some(match oid.to_string().as_str() {
            "1.3.101.112" => "Ed25519",
            "1.3.101.113" => "Ed448",
            "1.3.132.0.35" => "ECDSA P-521",
            "1.3.132.0.10" => "ECDSA secp256k1",
            "1.2.840.113549.1.1.1" => "RSA",
            _ => return None,
        })
    };
    let (algorithm, parameters) = info.algorithm.oids().unwrap_or((info.algorithm.oid, None));
    match parameters.and_then(named).or_else(|| named(algorithm)) {
        Some(kind) => format!("{} {kind} public key", article(kind)),
        None => format!("a public key of algorithm {algorithm}"),
    }
}

/// `a` or `an` before a key kind.
fn article(kind: &str) -> &'static str {
    match kind.as_bytes().first() {
        Some(b'E' | b'R') => "an",
        _ => "a",
    }
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

/// The kinds of key an upstream signer may declare.
#[derive(Debug, Clone)]
enum Material {
    P256(VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Rsa(rsa::PublicKey),
}

/// A key signer's public key with the digest its signatures are over.
#[derive(Debug, Clone)]
pub struct SignerKey {
    material: Material,
    der: Vec<u8>,
    /// The digest the signatures are computed over.
    pub digest: SignatureDigest,
}

impl SignerKey {
    /// A key from its PEM text (`PUBLIC KEY`, PKIX: ECDSA P-256, P-384, or RSA of 2048 to 8192
    /// bits) whose signatures are over `digest`.
    pub fn from_pem(pem: &str, digest: SignatureDigest) -> Result<SignerKey, String> {
        let (label, der) = p256::pkcs8::der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| format!("not a PEM public key: {e}"))?;
        if label != "PUBLIC KEY" {
            return Err(format!("a PEM `{label}`, not a `PUBLIC KEY` (PKIX)"));
        }
        let material = if let Ok(k) = VerifyingKey::from_public_key_der(&der) {
            Material::P256(k)
        } else if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_der(&der) {
            Material::P384(k)
        } else {
            use rsa::pkcs8::DecodePublicKey as _;
            match rsa::PublicKey::from_public_key_der(&der) {
                Ok(k) if rsa_bits(&k) >= 2048 => Material::Rsa(k),
                Ok(k) => {
                    return Err(format!(
                        "an RSA key of {} bits: at least 2048 are needed",
                        rsa_bits(&k)
                    ));
                }
                Err(_) => {
                    return Err(
                        "not an ECDSA P-256, ECDSA P-384 or RSA public key (PKIX `PUBLIC KEY`)"
                            .to_string(),
                    );
                }
            }
        };
        Ok(SignerKey {
            material,
            der,
            digest,
        })
    }

    /// The SHA-256 (hex) of the key's PKIX DER form.
    pub fn id(&self) -> String {
        Digest::sha256_of(&self.der).hex().to_string()
    }

    /// What kind of key it is, in words (`RSA 4096`, `ECDSA P-256`).
    pub fn kind(&self) -> String {
        match &self.material {
            Material::P256(_) => "ECDSA P-256".to_string(),
            Material::P384(_) => "ECDSA P-384".to_string(),
            Material::Rsa(k) => format!("RSA {}", rsa_bits(k)),
        }
    }

    /// The key in words: `key sha256 ID` (with its kind and digest unless P-256 over SHA-256,
    /// cosign's default key).
    pub fn describe(&self) -> String {
        match (&self.material, self.digest) {
            (Material::P256(_), SignatureDigest::Sha256) => format!("key sha256 {}", self.id()),
            _ => format!(
                "key sha256 {} ({}, {})",
                self.id(),
                self.kind(),
                self.digest.name().to_uppercase().replace("SHA", "SHA-")
            ),
        }
    }

    /// Whether `signature` (raw bytes) is this key's signature of `payload` over `digest`.
    fn verifies(&self, payload: &[u8], signature: &[u8], digest: SignatureDigest) -> bool {
        use sha2::Digest as _;
        let prehash = match digest {
            SignatureDigest::Sha256 => sha2::Sha256::digest(payload).to_vec(),
            SignatureDigest::Sha384 => sha2::Sha384::digest(payload).to_vec(),
            SignatureDigest::Sha512 => sha2::Sha512::digest(payload).to_vec(),
        };
        self.verifies_prehash(&prehash, signature, digest)
    }

    /// Whether `signature` (raw bytes) is this key's signature of the `digest` hash `prehash`.
    fn verifies_prehash(&self, prehash: &[u8], signature: &[u8], digest: SignatureDigest) -> bool {
        match &self.material {
            Material::P256(k) => {
                Signature::from_der(signature).is_ok_and(|s| k.verify_prehash(prehash, &s).is_ok())
            }
            Material::P384(k) => p384::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| k.verify_prehash(prehash, &s).is_ok()),
            Material::Rsa(k) => rsa_verifies(k, prehash, signature, digest),
        }
    }
}

impl From<&PublicKey> for SignerKey {
    fn from(k: &PublicKey) -> SignerKey {
        let der =
            k.0.to_public_key_der()
                .map(|d| d.as_bytes().to_vec())
                .unwrap_or_default();
        SignerKey {
            material: Material::P256(k.0),
            der,
            digest: SignatureDigest::Sha256,
        }
    }
}

fn rsa_bits(k: &rsa::PublicKey) -> usize {
    use rsa::traits::PublicKeyParts as _;
    k.size() * 8
}

/// RSA PKCS#1 v1.5 over an already computed digest of the named algorithm.
fn rsa_verifies(
    k: &rsa::PublicKey,
    prehash: &[u8],
    signature: &[u8],
    digest: SignatureDigest,
) -> bool {
    use rsa::pkcs1v15::{Signature as RsaSignature, VerifyingKey as RsaVerifying};
    use rsa::signature::hazmat::PrehashVerifier as _;
    let Ok(s) = RsaSignature::try_from(signature) else {
        return false;
    };
    match digest {
        SignatureDigest::Sha256 => {
            RsaVerifying::<sha2::Sha256>::new(k.clone()).verify_prehash(prehash, &s)
        }
        SignatureDigest::Sha384 => {
            RsaVerifying::<sha2::Sha384>::new(k.clone()).verify_prehash(prehash, &s)
        }
        SignatureDigest::Sha512 => {
            RsaVerifying::<sha2::Sha512>::new(k.clone()).verify_prehash(prehash, &s)
        }
    }
    .is_ok()
}

/// The key of a declared key signer, ready to check with: its PEM (given, or fetched from its URL
/// by `pin`/`export` and checked against its sha256). `Ok(None)`: not a key signer.
pub fn declared_key(signer: &Signer) -> Result<Option<SignerKey>, String> {
    let Signer::Key { key, digest } = signer else {
        return Ok(None);
    };
    let pem = match key {
        PublicKeySource::Pem(pem) => pem,
        PublicKeySource::Url { url, pem: None, .. } => {
            return Err(format!(
                "the key at {url} is not carried (the catalog names it by URL: `export \
                 --verify-signatures` fetches it into the bundle)"
            ));
        }
        PublicKeySource::Url {
            url,
            sha256,
            pem: Some(pem),
        } => {
            let got = Digest::sha256_of(pem.as_bytes());
            if got != *sha256 {
                return Err(format!(
                    "the key carried for {url} is not the declared one (sha256 {}, expected {})",
                    got.hex(),
                    sha256.hex()
                ));
            }
            pem
        }
    };
    SignerKey::from_pem(pem, *digest).map(Some)
}

/// What a key signature is over.
#[derive(Debug, Clone, Copy)]
pub enum Signed<'a> {
    /// A payload, hashed with each key's declared digest (cosign's `.sig` layers, DSSE's PAE).
    Payload(&'a [u8]),
    /// A hash the signer computed with the named digest (a Sigstore bundle's message signature).
    Prehash(SignatureDigest, &'a [u8]),
}

/// Checks a key signature (`signature` base64, as cosign stores it) of `payload` against the
/// declared key signers and the keys given; `Ok`: by which key. A signature that fails only
/// because it is over another digest than declared says so.
pub fn check_signature(
    payload: &[u8],
    signature: &str,
    declared: &[&Signer],
    given: &[PublicKey],
) -> Result<String, String> {
    let raw = STANDARD
        .decode(signature.trim())
        .map_err(|e| format!("the signature is not base64: {e}"))?;
    check_raw(Signed::Payload(payload), &raw, declared, given)
}

/// [`check_signature`] for a raw signature over what `signed` says: any declared key (ECDSA
/// P-256/P-384, RSA; PEM or carried from its URL, with its digest) or key given.
pub fn check_raw(
    signed: Signed<'_>,
    raw: &[u8],
    declared: &[&Signer],
    given: &[PublicKey],
) -> Result<String, String> {
    let mut keys: Vec<SignerKey> = given.iter().map(SignerKey::from).collect();
    let mut unusable = Vec::new();
    for s in declared {
        match declared_key(s) {
            Ok(Some(k)) => keys.push(k),
            Ok(None) => {}
            Err(e) => unusable.push(e),
        }
    }
    if keys.is_empty() {
        return Err(match unusable.is_empty() {
            true => "a key signature, and no key is declared or given".to_string(),
            false => unusable.join("; "),
        });
    }
    let verifies = |k: &SignerKey, d: SignatureDigest| match signed {
        Signed::Payload(payload) => k.verifies(payload, raw, d),
        Signed::Prehash(by, prehash) => by == d && k.verifies_prehash(prehash, raw, d),
    };
    if let Some(k) = keys.iter().find(|k| verifies(k, k.digest)) {
        return Ok(k.describe());
    }
    for k in &keys {
        let other = SignatureDigest::ALL
            .iter()
            .map(|(_, d)| *d)
            .find(|d| *d != k.digest && verifies(k, *d));
        if let Some(d) = other {
            return Err(format!(
                "key sha256 {} signed it over {}, and {} is declared (the signing entry's `digest:`)",
                k.id(),
                d.name(),
                k.digest.name()
            ));
        }
    }
    let mut why = format!(
        "the signature does not verify with the key(s) ({})",
        keys.iter()
            .map(|k| k.describe().trim_start_matches("key ").to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for e in unusable {
        why.push_str(&format!("; {e}"));
    }
    Err(why)
}
