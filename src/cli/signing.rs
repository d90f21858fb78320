//! Keys for the bundle's own signature (`export --sign-key`, `verify --key`, `mirror
//! --require-signature --key`), and how `verify` reports the signature. Key material is never
//! printed: a key is named by the SHA-256 of its public key.

use std::path::Path;

use super::Failure;
use crate::airgap::signing::{self, KeyError, PrivateKey, PublicKey};
use crate::airgap::verify::Report;

/// The environment variable an encrypted cosign key's password is read from (as cosign does).
const PASSWORD_ENV: &str = "COSIGN_PASSWORD";

fn failure(e: KeyError) -> Failure {
    Failure::usage(e.to_string()).hint(
        "keys are PEM, ECDSA P-256: `cosign generate-key-pair` writes cosign.key and cosign.pub",
    )
}

/// Reads `--sign-key`.
pub(super) fn private_key(path: &Path) -> Result<PrivateKey, Failure> {
    let password = std::env::var(PASSWORD_ENV).ok();
    signing::read_private_key(path, password.as_deref()).map_err(failure)
}

/// Reads `--key`.
pub(super) fn public_key(path: &Path) -> Result<PublicKey, Failure> {
    signing::read_public_key(path).map_err(failure)
}

/// The signature as `verify --format json` reports it (`null`: not signed).
pub(super) fn signature_json(report: &Report) -> serde_json::Value {
    match &report.signed {
        None => serde_json::Value::Null,
        Some(s) => serde_json::json!({
            "keySha256": s.key_sha256,
            "indexDigest": s.digest,
            "checked": report.signature_checked,
        }),
    }
}

/// Upstream's signatures per image as `verify --format json` reports them (`null`: not checked).
pub(super) fn signatures_json(report: &Report) -> serde_json::Value {
    use crate::airgap::verify::signatures::Outcome;
    let Some(all) = &report.signatures else {
        return serde_json::Value::Null;
    };
    all.iter()
        .map(|s| {
            let (outcome, detail) = match &s.outcome {
                Outcome::Verified(k) => ("verified", Some(format!("key sha256 {k}"))),
                Outcome::Unsigned => ("unsigned", None),
                Outcome::Keyless => ("keyless, not checked", None),
                Outcome::Failed(why) => ("failed", Some(why.clone())),
            };
            serde_json::json!({"image": s.image, "outcome": outcome, "detail": detail})
        })
        .collect()
}

/// Upstream's signatures in `verify`'s summary line: how many images verified, unsigned, keyless.
pub(super) fn signatures_text(report: &Report) -> String {
    use crate::airgap::verify::signatures::Outcome;
    let Some(all) = &report.signatures else {
        return String::new();
    };
    let count = |f: fn(&Outcome) -> bool| all.iter().filter(|s| f(&s.outcome)).count();
    format!(
        "; upstream signatures: {} image(s) verified, {} failed, {} unsigned, {} keyless (not checked)",
        count(|o| matches!(o, Outcome::Verified(_))),
        count(|o| matches!(o, Outcome::Failed(_))),
        count(|o| matches!(o, Outcome::Unsigned)),
        count(|o| matches!(o, Outcome::Keyless)),
    )
}

/// The signature in `verify`'s summary line.
pub(super) fn signature_text(report: &Report) -> String {
    match &report.signed {
        None => String::new(),
        Some(s) if report.signature_checked => {
            format!("; signed by key sha256 {}, checked", s.key_sha256)
        }
        Some(s) => format!(
            "; signed by key sha256 {}, not checked (--key PUB checks it)",
            s.key_sha256
        ),
    }
}
