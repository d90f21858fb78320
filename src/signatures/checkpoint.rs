//! A transparency log's checkpoint: a signed note (the format of Go's `golang.org/x/mod/sumdb/note`,
//! which Rekor uses) whose text is the log's origin line, the tree size and the base64 root hash
//! (then optional lines), a blank line, and signature lines `— NAME BASE64` where the base64 holds a
//! 4-byte key hint (the first bytes of the log id, SHA-256 of the key's PKIX DER) and the ECDSA
//! signature of the text (SHA-256). An inclusion proof holds only with a checkpoint signed by the
//! log's key of the trust root, from that log (its origin), for the proof's tree size and root.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::trust_root::TransparencyLog;
use super::x509::{Hash, verify_ecdsa};

/// A checkpoint's text, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The origin line (`rekor.sigstore.dev - 1193050959916656506`, `log2025-1.rekor.sigstore.dev`).
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The root hash.
    pub root: Vec<u8>,
}

/// The host of a log's base URL (`https://rekor.sigstore.dev` → `rekor.sigstore.dev`).
fn host(base_url: &str) -> &str {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    rest.split('/').next().unwrap_or_default()
}

/// Reads `envelope` and checks its signature with `log`'s key and that its origin is `log`'s (the
/// host of its base URL, alone or followed by ` - TREE-ID`). The error says what does not hold.
pub fn verify(envelope: &str, log: &TransparencyLog) -> Result<Checkpoint, String> {
    let (text, signatures) = envelope
        .split_once("\n\n")
        .ok_or("the checkpoint is not a signed note (no blank line before its signatures)")?;
    let mut lines = text.lines();
    let origin = lines.next().unwrap_or_default().to_string();
    let size = lines
        .next()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or("the checkpoint's second line is not a tree size")?;
    let root = lines
        .next()
        .and_then(|s| STANDARD.decode(s).ok())
        .ok_or("the checkpoint's third line is not a base64 root hash")?;
    let signed = format!("{text}\n");
    let hint = log.log_id.get(..4).unwrap_or_default();
    let verified = signatures
        .lines()
        .filter_map(|l| l.strip_prefix("\u{2014} "))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(_, b64)| STANDARD.decode(b64).ok())
        .filter(|raw| raw.len() > 4 && &raw[..4] == hint)
        .any(|raw| verify_ecdsa(&log.public_key, signed.as_bytes(), &raw[4..], Hash::Sha256));
    if !verified {
        return Err(format!(
            "the checkpoint is not signed by the key of {}",
            log.base_url
        ));
    }
    let want = host(&log.base_url);
    if !want.is_empty() && origin != want && !origin.starts_with(&format!("{want} - ")) {
        return Err(format!(
            "the checkpoint is from the log \"{origin}\", not {}",
            log.base_url
        ));
    }
    Ok(Checkpoint { origin, size, root })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signatures::trust_root::Period;

    fn note(key: &p256::ecdsa::SigningKey, text: &str, hint: &[u8]) -> String {
        use p256::ecdsa::signature::Signer as _;
        let sig: p256::ecdsa::DerSignature = key.sign(text.as_bytes());
        let raw = [hint, sig.as_bytes()].concat();
        format!(
            "{text}\n\u{2014} rekor.test.invalid {}\n",
            STANDARD.encode(raw)
        )
    }

    #[test]
    fn a_checkpoint_holds_with_its_logs_key_and_origin_only() {
        use p256::pkcs8::EncodePublicKey as _;
        let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let der = key.verifying_key().to_public_key_der().unwrap().to_vec();
        let log = TransparencyLog {
            base_url: "https://rekor.test.invalid".to_string(),
            log_id: {
                use sha2::Digest as _;
                sha2::Sha256::digest(&der).to_vec()
            },
            public_key: der,
            valid_for: Period {
                start: 0,
                end: None,
            },
        };
        let root = STANDARD.encode([3u8; 32]);
        let text = format!("rekor.test.invalid - 42\n5\n{root}\n");
        let c = verify(&note(&key, &text, &log.log_id[..4]), &log).unwrap();
        assert_eq!(
            (c.origin.as_str(), c.size, c.root),
            ("rekor.test.invalid - 42", 5, vec![3u8; 32])
        );
        let other = p256::ecdsa::SigningKey::from_slice(&[8u8; 32]).unwrap();
        let e = verify(&note(&other, &text, &log.log_id[..4]), &log).unwrap_err();
        assert!(
            e.contains("not signed by the key of https://rekor.test.invalid"),
            "{e}"
        );
        let elsewhere = format!("rekor.elsewhere.invalid\n5\n{root}\n");
        let e = verify(&note(&key, &elsewhere, &log.log_id[..4]), &log).unwrap_err();
        assert!(
            e.contains("from the log \"rekor.elsewhere.invalid\""),
            "{e}"
        );
    }
}
