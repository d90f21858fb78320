//! Sigstore bundles (`application/vnd.dev.sigstore.bundle+json;version=0.1`/`0.2`,
//! `application/vnd.dev.sigstore.bundle.v0.3+json`): what `cosign sign` (v3) attaches to an image
//! as an OCI referrer, judged against the same declared signers as cosign's `.sig` layers.
//!
//! A bundle holds its verification material (a leaf `certificate`, an `x509CertificateChain` whose
//! first certificate is the leaf, or a `publicKey` hint for a key signer), its transparency-log
//! entries (see [`super::tlog`]), and its content: a `messageSignature` (the signature of the
//! artifact, by its SHA-256 digest: the image's manifest digest) or a `dsseEnvelope` (the signature
//! of DSSE's encoding of an in-toto statement naming the image digest, see [`super::dsse`]). A
//! keyless bundle holds when: the content names the image; the signature verifies with the leaf's
//! key; every log entry records this signature and certificate and is proven by a SET and/or an
//! inclusion proof with its checkpoint; a verified SET gives the signing time; and at that time the
//! leaf is valid and chains to a certificate authority of the trust root, allows code signing, and
//! names a declared identity and issuer. A key bundle holds when its signature verifies with a
//! declared or given key (and its log entries, when it has any and a trust root is given, hold).
//! RFC 3161 timestamps (`timestampVerificationData`, what Rekor v2 entries need for a signing time)
//! are not supported yet: such a bundle is refused saying so.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::rekor::Logged;
use super::tlog::{TlogEntry, check_entry};
use super::trust_root::TrustRoot;
use super::{Signer, Signers, dsse, keyless_context, keys, x509};
use crate::types::SignatureDigest;

/// The media types of Sigstore bundles (v0.1, v0.2, v0.3 and the v0.3 alias).
pub const BUNDLE_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
];

/// Whether `media_type` is a Sigstore bundle's.
pub fn is_bundle_media_type(media_type: &str) -> bool {
    BUNDLE_MEDIA_TYPES.contains(&media_type)
}

/// One Sigstore bundle carried for an image (a referrer's bundle layer).
#[derive(Debug, Clone, Default)]
pub struct BundleSignature {
    /// Where it was found (`bundle sha256:<12 hex>`: the referrer manifest), for messages.
    pub origin: String,
    /// The digest of the manifest it refers to: it must sign it, and the caller makes sure it is
    /// the image's (or one of its platform manifests').
    pub subject: String,
    /// The bundle's JSON (`None`: not carried).
    pub bytes: Option<Vec<u8>>,
}

impl BundleSignature {
    /// A bundle found as the referrer `referrer` (its manifest digest) of `subject`.
    pub fn new(referrer: &str, subject: &str, bytes: Option<Vec<u8>>) -> BundleSignature {
        let short = referrer.get(..19).unwrap_or(referrer);
        BundleSignature {
            origin: format!("bundle {short}"),
            subject: subject.to_string(),
            bytes,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    media_type: String,
    verification_material: Material,
    message_signature: Option<MessageSignature>,
    dsse_envelope: Option<Envelope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Material {
    certificate: Option<RawBytes>,
    x509_certificate_chain: Option<Chain>,
    public_key: Option<serde_json::Value>,
    #[serde(default)]
    tlog_entries: Vec<TlogEntry>,
    timestamp_verification_data: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct Chain {
    certificates: Vec<RawBytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageSignature {
    message_digest: Option<MessageDigest>,
    signature: String,
}

#[derive(Deserialize)]
struct MessageDigest {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload: String,
    payload_type: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    sig: String,
}

/// What a bundle signs, ready to check.
enum Content {
    /// The artifact's SHA-256 digest (raw), signed as a prehash.
    Message(Vec<u8>),
    /// A DSSE payload and its pre-authentication encoding (what is signed).
    Dsse { payload: Vec<u8>, pae: Vec<u8> },
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(s.trim())
        .map_err(|e| format!("{what} is not base64: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse(b: &BundleSignature) -> Result<Doc, String> {
    let bytes = b
        .bytes
        .as_deref()
        .ok_or("the bundle's JSON is not carried")?;
    let doc: Doc =
        serde_json::from_slice(bytes).map_err(|e| format!("not a Sigstore bundle: {e}"))?;
    if !is_bundle_media_type(&doc.media_type) {
        return Err(format!(
            "a bundle of media type \"{}\" (a Sigstore bundle v0.1 to v0.3 expected)",
            doc.media_type
        ));
    }
    Ok(doc)
}

/// Whether the bundle is keyless (carries a certificate); a bundle that cannot be read is not.
pub fn is_keyless(b: &BundleSignature) -> bool {
    parse(b).is_ok_and(|d| {
        d.verification_material.certificate.is_some()
            || d.verification_material.x509_certificate_chain.is_some()
    })
}

/// The content of `doc` and its signature, checked to name `subject`.
fn content(doc: &Doc, subject: &str) -> Result<(Content, Vec<u8>), String> {
    match (&doc.message_signature, &doc.dsse_envelope) {
        (Some(m), None) => {
            let md = m
                .message_digest
                .as_ref()
                .ok_or("a message signature without its message digest")?;
            if md.algorithm != "SHA2_256" {
                return Err(format!(
                    "a message digest of algorithm {} (SHA2_256 expected)",
                    md.algorithm
                ));
            }
            let digest = b64(&md.digest, "the message digest")?;
            let named = format!("sha256:{}", hex(&digest));
            if named != subject {
                return Err(format!("signs {named}, not this image's {subject}"));
            }
            Ok((
                Content::Message(digest),
                b64(&m.signature, "the signature")?,
            ))
        }
        (None, Some(env)) => {
            let payload = b64(&env.payload, "the DSSE payload")?;
            dsse::check_statement(&env.payload_type, &payload, subject)?;
            let [sig] = env.signatures.as_slice() else {
                return Err(format!(
                    "a DSSE envelope with {} signatures (one expected)",
                    env.signatures.len()
                ));
            };
            let pae = dsse::pae(&env.payload_type, &payload);
            let sig = b64(&sig.sig, "the DSSE signature")?;
            Ok((Content::Dsse { payload, pae }, sig))
        }
        (Some(_), Some(_)) => {
            Err("the bundle holds both a message signature and a DSSE envelope".to_string())
        }
        (None, None) => {
            Err("the bundle holds neither a message signature nor a DSSE envelope".to_string())
        }
    }
}

/// Whether `signature` (DER) verifies over `content` with the key whose PKIX DER is `spki`.
fn verifies(spki: &[u8], content: &Content, signature: &[u8]) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    use p256::pkcs8::DecodePublicKey as _;
    match content {
        Content::Dsse { pae, .. } => {
            x509::verify_ecdsa(spki, pae, signature, x509::hash_for_key(spki))
        }
        Content::Message(digest) => {
            if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(spki) {
                return p256::ecdsa::Signature::from_der(signature)
                    .is_ok_and(|s| key.verify_prehash(digest, &s).is_ok());
            }
            p384::ecdsa::VerifyingKey::from_public_key_der(spki).is_ok_and(|key| {
                p384::ecdsa::Signature::from_der(signature)
                    .is_ok_and(|s| key.verify_prehash(digest, &s).is_ok())
            })
        }
    }
}

/// Checks one bundle against every signer; `Ok`: by whom.
pub(super) fn check(
    b: &BundleSignature,
    declared: &[&Signer],
    signers: Signers<'_>,
) -> Result<String, String> {
    let doc = parse(b)?;
    let (content, signature) = content(&doc, &b.subject)?;
    let hashed;
    let logged = match &content {
        Content::Message(digest) => {
            hashed = hex(digest);
            Logged::Hashed(&hashed)
        }
        Content::Dsse { payload, .. } => Logged::Dsse(payload),
    };
    let m = &doc.verification_material;
    let leaf = match (&m.certificate, &m.x509_certificate_chain) {
        (Some(c), _) => Some(b64(&c.raw_bytes, "the certificate")?),
        (None, Some(chain)) => Some(b64(
            &chain
                .certificates
                .first()
                .ok_or("an empty certificate chain")?
                .raw_bytes,
            "the certificate",
        )?),
        (None, None) => None,
    };
    let Some(leaf) = leaf else {
        if m.public_key.is_none() {
            return Err("the bundle has no verification material".to_string());
        }
        let signed = match &content {
            Content::Dsse { pae, .. } => keys::Signed::Payload(pae),
            Content::Message(digest) => keys::Signed::Prehash(SignatureDigest::Sha256, digest),
        };
        let by = keys::check_raw(signed, &signature, declared, signers.keys)?;
        if let Some(trust) = signers.trust {
            for e in &m.tlog_entries {
                check_entry(e, trust, &logged, &signature, None)?;
            }
        }
        return Ok(by);
    };
    let (keyless, trust) = keyless_context(declared, signers)?;
    let leaf = x509::read_leaf(&leaf)?;
    if !verifies(&leaf.key, &content, &signature) {
        return Err("the signature does not verify with the certificate's key".to_string());
    }
    let at = signing_time(m, trust, &logged, &signature, &leaf.der)?;
    super::check_certificate(&leaf, at, trust, &keyless)
}

/// Checks every log entry of a keyless bundle; the signing time a verified SET vouches for.
fn signing_time(
    m: &Material,
    trust: &TrustRoot,
    logged: &Logged<'_>,
    signature: &[u8],
    certificate: &[u8],
) -> Result<i64, String> {
    if m.tlog_entries.is_empty() {
        return Err(match m.timestamp_verification_data.is_some() {
            true => "the bundle has no transparency-log entry, and needs an RFC 3161 timestamp, \
                     not supported yet"
                .to_string(),
            false => "the bundle has no transparency-log entry".to_string(),
        });
    }
    if m.tlog_entries.iter().all(|e| e.inclusion_promise.is_none()) {
        return Err(no_signed_time(m));
    }
    let mut at = None;
    for e in &m.tlog_entries {
        if let Some(t) = check_entry(e, trust, logged, signature, Some(certificate))? {
            at = at.or(Some(t));
        }
    }
    at.ok_or_else(|| no_signed_time(m))
}

/// Why a bundle whose log entries carry no SET has no trusted signing time.
fn no_signed_time(m: &Material) -> String {
    match m.timestamp_verification_data.is_some() {
        true => "its log entry has no inclusion promise (SET), so the signing time must come from \
                 its RFC 3161 timestamp: needs an RFC 3161 timestamp, not supported yet"
            .to_string(),
        false => "its log entry has no inclusion promise (SET) to vouch for the signing time, and \
                  no RFC 3161 timestamp (not supported yet)"
            .to_string(),
    }
}
