//! The transparency-log side of a keyless signature: cosign's `dev.sigstore.cosign/bundle`
//! annotation (the Rekor entry with its signed entry timestamp, SET), checked with a Rekor key of
//! the trust root. The SET is the log's ECDSA signature over the canonical JSON of `{body,
//! integratedTime, logID, logIndex}` (keys sorted, no spaces); the body is the `hashedrekord` entry,
//! which must record this signature, this certificate and the payload's SHA-256 — else a valid SET
//! of another entry could vouch for it. The entry's `integratedTime` is the signing time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::trust_root::TrustRoot;
use super::x509::{Hash, verify_ecdsa};

/// cosign's `dev.sigstore.cosign/bundle` annotation.
#[derive(Debug, Clone, Deserialize)]
pub struct RekorBundle {
    /// The SET, base64.
    #[serde(rename = "SignedEntryTimestamp")]
    pub signed_entry_timestamp: String,
    /// What it signs.
    #[serde(rename = "Payload")]
    pub payload: RekorPayload,
}

/// The entry a SET signs.
#[derive(Debug, Clone, Deserialize)]
pub struct RekorPayload {
    /// The entry's body, base64 of its JSON.
    pub body: String,
    /// When the log integrated it (Unix seconds).
    #[serde(rename = "integratedTime")]
    pub integrated_time: i64,
    /// Its index in the log.
    #[serde(rename = "logIndex")]
    pub log_index: i64,
    /// The log's id, hex.
    #[serde(rename = "logID")]
    pub log_id: String,
}

/// What a verified log entry vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The signing time (Unix seconds).
    pub integrated_time: i64,
    /// The log's URL, for messages.
    pub log: String,
}

/// Bytes of a hex string.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    s.len()
        .is_multiple_of(2)
        .then(|| {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten()
}

/// The canonical JSON a SET signs.
pub fn set_message(p: &RekorPayload) -> Vec<u8> {
    // serde_json's map is ordered by key: body, integratedTime, logID, logIndex.
    let v = serde_json::json!({
        "body": p.body,
        "integratedTime": p.integrated_time,
        "logID": p.log_id,
        "logIndex": p.log_index,
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Checks the SET of `bundle` with the trust root's log key and that its `hashedrekord` body records
/// `signature` (raw DER), `certificate` (the leaf's DER; `None` for a key signature: not compared)
/// and the SHA-256 of `payload`. The error says what does not hold.
pub fn check_set(
    bundle: &str,
    trust: &TrustRoot,
    payload: &[u8],
    signature: &[u8],
    certificate: Option<&[u8]>,
) -> Result<Entry, String> {
    let b: RekorBundle = serde_json::from_str(bundle)
        .map_err(|e| format!("the transparency-log bundle cannot be read: {e}"))?;
    let id = hex_decode(&b.payload.log_id).ok_or("the log id is not hex")?;
    let log = trust.log(&id).ok_or_else(|| {
        format!(
            "the log entry is from a transparency log the trust root does not list (log id {})",
            b.payload.log_id
        )
    })?;
    if !log.valid_for.contains(b.payload.integrated_time) {
        return Err("the log entry's time is outside the period its log key was valid".to_string());
    }
    let set = STANDARD
        .decode(b.signed_entry_timestamp.trim())
        .map_err(|e| format!("the signed entry timestamp is not base64: {e}"))?;
    if !verify_ecdsa(
        &log.public_key,
        &set_message(&b.payload),
        &set,
        Hash::Sha256,
    ) {
        return Err(format!(
            "the signed entry timestamp (SET) does not verify with the key of {}",
            log.base_url
        ));
    }
    check_body(&b.payload.body, payload, signature, certificate)?;
    Ok(Entry {
        integrated_time: b.payload.integrated_time,
        log: log.base_url.clone(),
    })
}

/// Checks that a `hashedrekord` entry body (base64 JSON) records this signature, certificate and
/// payload hash.
pub fn check_body(
    body: &str,
    payload: &[u8],
    signature: &[u8],
    certificate: Option<&[u8]>,
) -> Result<(), String> {
    let raw = STANDARD
        .decode(body)
        .map_err(|e| format!("the log entry's body is not base64: {e}"))?;
    let hash = crate::types::Digest::sha256_of(payload);
    check_logged(&raw, &Logged::Hashed(hash.hex()), signature, certificate)
}

/// What a log entry must record besides the signature and certificate.
#[derive(Debug, Clone, Copy)]
pub enum Logged<'a> {
    /// A `hashedrekord` of this SHA-256 (hex): of a payload, or the artifact digest itself.
    Hashed(&'a str),
    /// A `dsse` entry of this envelope payload.
    Dsse(&'a [u8]),
}

/// Checks that an entry body (its JSON bytes) is of the kind `what` needs and records `signature`
/// (raw DER) and `certificate` (the leaf's DER; `None` for a key signature: not compared).
pub fn check_logged(
    raw: &[u8],
    what: &Logged<'_>,
    signature: &[u8],
    certificate: Option<&[u8]>,
) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_slice(raw)
        .map_err(|e| format!("the log entry's body is not JSON: {e}"))?;
    let kind = match what {
        Logged::Hashed(_) => "hashedrekord",
        Logged::Dsse(_) => "dsse",
    };
    if v["kind"] != kind {
        return Err(format!(
            "the log entry is of kind {} ({kind} expected)",
            v["kind"]
        ));
    }
    let spec = &v["spec"];
    let (logged_signature, logged_key) = match what {
        Logged::Hashed(hex) => {
            let hash = spec["data"]["hash"]["value"].as_str().unwrap_or_default();
            if spec["data"]["hash"]["algorithm"] != "sha256" || hash != *hex {
                return Err("the log entry records another payload hash".to_string());
            }
            (
                &spec["signature"]["content"],
                &spec["signature"]["publicKey"]["content"],
            )
        }
        Logged::Dsse(payload) => {
            let expected = crate::types::Digest::sha256_of(payload);
            let hash = spec["payloadHash"]["value"].as_str().unwrap_or_default();
            if spec["payloadHash"]["algorithm"] != "sha256" || hash != expected.hex() {
                return Err("the log entry records another DSSE payload hash".to_string());
            }
            let first = &spec["signatures"][0];
            (&first["signature"], &first["verifier"])
        }
    };
    let logged = logged_signature
        .as_str()
        .and_then(|s| STANDARD.decode(s).ok());
    if logged.as_deref() != Some(signature) {
        return Err("the log entry records another signature".to_string());
    }
    if let Some(cert) = certificate {
        let logged = logged_key
            .as_str()
            .and_then(|s| STANDARD.decode(s).ok())
            .and_then(|pem| {
                x509_cert::der::pem::decode_vec(pem.trim_ascii())
                    .ok()
                    .map(|(_, der)| der)
            });
        if logged.as_deref() != Some(cert) {
            return Err("the log entry records another certificate".to_string());
        }
    }
    Ok(())
}
