//! Keys for the bundle's own signature (`export --sign-key`, `verify --key`, `mirror
//! --require-signature --key`), and how `verify` reports the signature. Key material is never
//! printed: a key is named by the SHA-256 of its public key.

use std::path::Path;

use super::Failure;
use crate::airgap::signers::Carried;
use crate::airgap::signing::{self, KeyError, PrivateKey, PublicKey};
use crate::airgap::verify::Report;
use crate::catalog::Catalog;
use crate::lock::Lock;
use crate::signatures::{TrustRoot, Verdict};
use crate::types::{Signer, SigningPolicy};

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

/// Reads a `--signature-key` (a key upstream signs images with).
pub(super) fn signature_key(path: &Path) -> Result<PublicKey, Failure> {
    signing::read_public_key(path).map_err(|e| {
        failure(e).hint(
            "an upstream key of another kind (ECDSA P-384, RSA; signing over SHA-256, SHA-384 or \
             SHA-512) is declared in the catalog instead: a key signer with its `digest:` \
             (catalog/FORMAT.md)",
        )
    })
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

/// Upstream's signatures per image as `verify --format json` reports them (`null`: not checked):
/// `outcome` (`verified`, `unsigned`, `failed`), `signer` (who signed, when verified), `scheme`
/// (how the valid signature was carried: `cosign-tag` or `sigstore-bundle`, when verified),
/// `expected` and `detail` (when failed).
pub(super) fn signatures_json(report: &Report) -> serde_json::Value {
    let Some(all) = &report.signatures else {
        return serde_json::Value::Null;
    };
    all.iter()
        .map(|s| outcome_json(&s.image, &s.outcome))
        .collect()
}

/// One image's outcome as JSON (shared by `verify` and `pin`).
pub(super) fn outcome_json(image: &str, outcome: &Verdict) -> serde_json::Value {
    let (name, signer, scheme, expected, detail) = match outcome {
        Verdict::Verified { signer, scheme } => (
            "verified",
            Some(signer.as_str()),
            Some(scheme.name()),
            None,
            None,
        ),
        Verdict::Unsigned => ("unsigned", None, None, None, None),
        Verdict::Failed { expected, why } => (
            "failed",
            None,
            None,
            Some(expected.as_str()),
            Some(why.as_str()),
        ),
    };
    serde_json::json!({"image": image, "outcome": name, "signer": signer, "scheme": scheme,
                       "expected": expected, "detail": detail})
}

/// Counts of outcomes in words: `N image(s) verified, N failed, N unsigned`.
pub(super) fn outcome_counts<'a>(outcomes: impl Iterator<Item = &'a Verdict> + Clone) -> String {
    let count = |f: fn(&Verdict) -> bool| outcomes.clone().filter(|o| f(o)).count();
    format!(
        "{} image(s) verified, {} failed, {} unsigned",
        count(|o| matches!(o, Verdict::Verified { .. })),
        count(|o| matches!(o, Verdict::Failed { .. })),
        count(|o| matches!(o, Verdict::Unsigned)),
    )
}

/// Upstream's signatures in `verify`'s summary line.
pub(super) fn signatures_text(report: &Report) -> String {
    let Some(all) = &report.signatures else {
        return String::new();
    };
    format!(
        "; upstream signatures: {}",
        outcome_counts(all.iter().map(|s| &s.outcome))
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

/// Reads `--trust-root` (Sigstore's `trusted_root.json`).
pub(super) fn trust_root(path: &Path) -> Result<TrustRoot, Failure> {
    let bytes = crate::input::read(path, crate::input::Kind::CaFile)
        .map_err(|e| Failure::usage(e.to_string()))?;
    TrustRoot::parse(&bytes)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())).hint(TRUST_ROOT_HINT))
}

const TRUST_ROOT_HINT: &str = "--trust-root takes Sigstore's trusted_root.json: `cosign trusted-root create` \
     writes one for a private Sigstore; the public-good one is sigstore/root-signing's \
     targets/trusted_root.json (what `cosign initialize` fetches into ~/.sigstore/root/)";

/// A key declared by URL that could not be fetched or is not the declared one.
pub(super) fn key_fetch_failure(e: crate::signatures::discover::KeyFetchError) -> Failure {
    Failure::failed(e.to_string()).hint(
        "the catalog declares this key by URL: pin and export fetch it, check its sha256 and carry \
         it in the bundle. Make the URL reachable (--ca-file for a private CA), or fetch it from a \
         copy with --url-mirror URL=MIRROR; a sha256 mismatch means the file is not the key the \
         catalog declares",
    )
}

/// Fills in the keys `policies` declare by URL (see [`crate::signatures::discover::fetch_keys`]):
/// with `fetch`, from the cache or the URL (`pin` and `export --verify-signatures` check with them,
/// and a failure stops the command); without, from the cache only (a key `pin --verify-signatures`
/// fetched before is carried; one never fetched stays out, and `verify --signatures` says so).
pub(super) fn fetch_keys(
    connected: &super::registry::Connected,
    cache: Option<&std::path::Path>,
    policies: &mut [SigningPolicy],
    fetch: bool,
) -> Result<(), Failure> {
    let cache = cache.and_then(|dir| crate::oci::Layout::create(dir).ok());
    let registries = fetch.then_some(connected.registries.as_ref());
    connected
        .runner
        .block_on(crate::signatures::discover::fetch_keys(
            registries,
            cache.as_ref(),
            policies,
        ))
        .map_err(key_fetch_failure)
}

/// The signing policies the catalog declares for the lock's components, as locked.
pub(super) fn policies(catalog: &Catalog, lock: &Lock) -> Vec<SigningPolicy> {
    lock.components
        .iter()
        .flat_map(|c| catalog.signing_policies(&c.name, &c.version))
        .collect()
}

/// Refuses to verify keyless declarations for images without a trust root, naming them.
pub(super) fn require_trust_root(
    policies: &[SigningPolicy],
    trust: Option<&TrustRoot>,
) -> Result<(), Failure> {
    if trust.is_some() {
        return Ok(());
    }
    let keyless: Vec<String> = policies
        .iter()
        .filter(|p| p.artifacts.images())
        .filter(|p| {
            p.signers
                .iter()
                .any(|s| matches!(s, Signer::Keyless { .. }))
        })
        .map(|p| format!("{} {}", p.component, p.version))
        .collect();
    if keyless.is_empty() {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "the catalog declares keyless (Sigstore) signers for the images of {}, and no trust root is given \
         to check them with",
        keyless.join(", ")
    ))
    .hint(TRUST_ROOT_HINT))
}

/// What a bundle carries for signature checks, as `inspect --format json` shows it: the trust
/// root (its authorities and logs), the policies, or why they cannot be read.
pub(super) fn carried_json(carried: &Result<Carried, String>) -> serde_json::Value {
    match carried {
        Err(e) => serde_json::json!({"error": e}),
        Ok(c) => serde_json::json!({
            "trustRoot": c.trust_root.as_ref().map(|t| serde_json::json!({
                "sha256": crate::types::Digest::sha256_of(&t.bytes).as_str(),
                "certificateAuthorities": t.authorities.iter().map(|a| &a.uri).collect::<Vec<_>>(),
                "transparencyLogs": t.logs.iter().map(|l| &l.base_url).collect::<Vec<_>>(),
            })),
            "policies": c.policies,
        }),
    }
}

/// The same as lines for `inspect`'s tables (empty: nothing carried).
pub(super) fn carried_text(carried: &Result<Carried, String>) -> String {
    let c = match carried {
        Err(e) => return format!("signature checks: unreadable: {e}\n"),
        Ok(c) if c.trust_root.is_none() && c.policies.is_empty() => return String::new(),
        Ok(c) => c,
    };
    let mut out = match &c.trust_root {
        Some(t) => format!(
            "trust root: sha256 {} ({})\n",
            crate::types::Digest::sha256_of(&t.bytes).hex(),
            t.describe()
        ),
        None => "trust root: none (keyless signatures cannot be checked)\n".to_string(),
    };
    out.push_str("signing policies:\n");
    for p in &c.policies {
        let artifacts = match (p.artifacts.images(), p.artifacts.charts()) {
            (true, true) => "images and charts",
            (true, false) => "images",
            _ => "charts",
        };
        let signers: Vec<String> = p.signers.iter().map(crate::signatures::describe).collect();
        let elsewhere = match &p.signature_repository {
            Some(r) => format!("; signatures in {r}"),
            None => String::new(),
        };
        out.push_str(&format!(
            "  {} {} ({artifacts}): {}{elsewhere}\n",
            p.component,
            p.version,
            signers.join(", or ")
        ));
    }
    if c.policies.is_empty() {
        out.push_str("  none (no component declares its signers)\n");
    }
    out
}
