//! The transparency-log entries of a Sigstore bundle (`verificationMaterial.tlogEntries`): each must
//! come from a log of the trust root, record this signature (its `canonicalizedBody`, a
//! `hashedrekord` or `dsse` entry, see [`super::rekor::check_logged`]), and be proven in the log by
//! its inclusion promise (the SET over `{body, integratedTime, logID, logIndex}`, as in cosign's
//! annotation) and/or its inclusion proof (an RFC 6962 audit path from the body's leaf hash to
//! `rootHash` at `treeSize`, with a checkpoint signed by the log for that size and root). Only a
//! verified SET vouches for `integratedTime`, the signing time; an entry without one (Rekor v2,
//! `integratedTime` 0) needs an RFC 3161 timestamp, which is not supported yet: such an entry, or a
//! Rekor v2 body (`apiVersion` 0.0.2), is refused saying so.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::rekor::{Logged, RekorPayload, check_logged, set_message};
use super::trust_root::{TransparencyLog, TrustRoot};
use super::x509::{Hash, verify_ecdsa};
use super::{checkpoint, merkle};

/// One `tlogEntries[]` item (protobuf JSON: 64-bit integers may be strings).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlogEntry {
    /// The entry's index in the log.
    #[serde(default)]
    pub log_index: serde_json::Value,
    /// The log's id.
    pub log_id: LogId,
    /// When the log integrated it (Unix seconds; 0 or absent for Rekor v2).
    #[serde(default)]
    pub integrated_time: serde_json::Value,
    /// The SET.
    pub inclusion_promise: Option<Promise>,
    /// The inclusion proof.
    pub inclusion_proof: Option<Proof>,
    /// The entry's body, base64.
    #[serde(default)]
    pub canonicalized_body: String,
}

/// A log id (`keyId`: base64 of the SHA-256 of the log key's PKIX DER).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogId {
    /// base64.
    pub key_id: String,
}

/// An inclusion promise.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promise {
    /// The SET, base64.
    pub signed_entry_timestamp: String,
}

/// An inclusion proof with its checkpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Proof {
    /// The leaf's index in the tree.
    #[serde(default)]
    pub log_index: serde_json::Value,
    /// The root hash, base64.
    pub root_hash: String,
    /// The tree size.
    #[serde(default)]
    pub tree_size: serde_json::Value,
    /// The audit path, base64 hashes.
    #[serde(default)]
    pub hashes: Vec<String>,
    /// The checkpoint.
    pub checkpoint: Option<CheckpointDoc>,
}

/// A checkpoint as a bundle holds it.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckpointDoc {
    /// The signed note.
    pub envelope: String,
}

/// A protobuf JSON integer: a number or a decimal string.
fn int(v: &serde_json::Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn hash32(b64: &str, what: &str) -> Result<merkle::Hash, String> {
    STANDARD
        .decode(b64)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| format!("the inclusion proof's {what} is not a base64 SHA-256 hash"))
}

/// Checks `entry` (see the module's documentation) for a signature that must be logged as `what`;
/// `Ok`: the signing time it vouches for, when it has a verified SET.
pub fn check_entry(
    entry: &TlogEntry,
    trust: &TrustRoot,
    what: &Logged<'_>,
    signature: &[u8],
    certificate: Option<&[u8]>,
) -> Result<Option<i64>, String> {
    let id = STANDARD
        .decode(&entry.log_id.key_id)
        .map_err(|_| "the log entry's log id is not base64".to_string())?;
    let log = trust.log(&id).ok_or_else(|| {
        format!(
            "the log entry is from a transparency log the trust root does not list (log id {})",
            hex(&id)
        )
    })?;
    let body = STANDARD
        .decode(&entry.canonicalized_body)
        .map_err(|e| format!("the log entry's canonicalizedBody is not base64: {e}"))?;
    rekor_v1(&body)?;
    check_logged(&body, what, signature, certificate)?;
    if entry.inclusion_promise.is_none() && entry.inclusion_proof.is_none() {
        return Err(
            "the log entry has neither an inclusion promise (SET) nor an inclusion proof"
                .to_string(),
        );
    }
    if let Some(proof) = &entry.inclusion_proof {
        check_proof(proof, &body, log)?;
    }
    let Some(promise) = &entry.inclusion_promise else {
        return Ok(None);
    };
    let time = int(&entry.integrated_time).unwrap_or(0);
    let payload = RekorPayload {
        body: entry.canonicalized_body.clone(),
        integrated_time: time,
        log_index: int(&entry.log_index).ok_or("the log entry has no logIndex")?,
        log_id: hex(&id),
    };
    let set = STANDARD
        .decode(promise.signed_entry_timestamp.trim())
        .map_err(|e| format!("the signed entry timestamp is not base64: {e}"))?;
    if !verify_ecdsa(&log.public_key, &set_message(&payload), &set, Hash::Sha256) {
        return Err(format!(
            "the signed entry timestamp (SET) does not verify with the key of {}",
            log.base_url
        ));
    }
    if !log.valid_for.contains(time) {
        return Err("the log entry's time is outside the period its log key was valid".to_string());
    }
    Ok(Some(time))
}

/// Checks an inclusion proof of `body` and its checkpoint against `log`.
fn check_proof(proof: &Proof, body: &[u8], log: &TransparencyLog) -> Result<(), String> {
    let index = int(&proof.log_index)
        .and_then(|i| u64::try_from(i).ok())
        .ok_or("the inclusion proof has no logIndex")?;
    let size = int(&proof.tree_size)
        .and_then(|i| u64::try_from(i).ok())
        .ok_or("the inclusion proof has no treeSize")?;
    let root = hash32(&proof.root_hash, "rootHash")?;
    let path = proof
        .hashes
        .iter()
        .map(|h| hash32(h, "hashes"))
        .collect::<Result<Vec<_>, _>>()?;
    let computed = merkle::root_from_path(index, size, merkle::leaf_hash(body), &path)?;
    if computed != root {
        return Err(format!(
            "the inclusion proof does not lead to its root hash (entry {index} of a tree of {size})"
        ));
    }
    let note = proof
        .checkpoint
        .as_ref()
        .ok_or("the inclusion proof has no checkpoint")?;
    let c = checkpoint::verify(&note.envelope, log)?;
    if c.size != size {
        return Err(format!(
            "the checkpoint is for a tree of {} entries, the inclusion proof for {size}",
            c.size
        ));
    }
    if c.root != root {
        return Err("the checkpoint's root hash is not the inclusion proof's".to_string());
    }
    Ok(())
}

/// Refuses a Rekor v2 entry (`apiVersion` 0.0.2: `hashedRekordV002`, `dsseV002` bodies, Ed25519
/// checkpoints, no SET) by name: its signing time needs an RFC 3161 timestamp, not supported yet.
fn rekor_v1(body: &[u8]) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("the log entry's body is not JSON: {e}"))?;
    match v["apiVersion"].as_str() {
        Some("0.0.2") => Err(format!(
            "a Rekor v2 log entry ({} 0.0.2): it needs an RFC 3161 timestamp, not supported yet",
            v["kind"].as_str().unwrap_or("unknown kind")
        )),
        _ => Ok(()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
