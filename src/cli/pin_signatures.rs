//! `bundle pin --verify-signatures`: before the lock is written, every image it pins is checked
//! against the signers the catalog declares for its component version (keyless with
//! `--trust-root`, or a key; `--signature-key` adds keys): the cosign signatures of its digest and
//! the Sigstore bundles among its referrers are read from its registry and judged as `verify
//! --signatures` judges a bundle's. An image of a
//! component that declares nothing is reported unsigned; one whose declared signer has no valid
//! signature fails the pin, naming it and what was expected, and the lock is left unchanged. Keys
//! the catalog declares by URL are fetched first (or taken from the cache, where a fetch stores
//! them) and checked against their sha256.

use std::path::PathBuf;

use clap::Args;

use super::Failure;
use super::registry::Connected;
use crate::catalog::Catalog;
use crate::lock::Lock;
use crate::signatures::keys::PublicKey;
use crate::signatures::{
    BundleSignature, CosignSignature, Signers, TrustRoot, Verdict, discover, judge_all, referrers,
};
use crate::types::{Digest, ImageRef, SigningPolicy};

/// The signature flags of `bundle pin`.
#[derive(Debug, Args)]
pub(crate) struct PinSignatureArgs {
    /// Check upstream's cosign signatures of every image pinned against the signers the catalog
    /// declares for its component version, before the lock is written: an image whose declared
    /// signer has no valid signature fails the pin, naming it and what was expected; images of
    /// components that declare nothing are reported unsigned.
    #[arg(long = "verify-signatures")]
    pub(crate) verify: bool,
    /// The Sigstore trust root for keyless signers (trusted_root.json); with --verify-signatures.
    #[arg(long = "trust-root", value_name = "FILE", requires = "verify")]
    trust_root: Option<PathBuf>,
    /// A public key upstream signs images with (PEM, cosign.pub); repeatable; with
    /// --verify-signatures.
    #[arg(long = "signature-key", value_name = "PUB", requires = "verify")]
    keys: Vec<PathBuf>,
}

/// What the checks need, read before anything is fetched.
pub(super) struct Prepared {
    trust_root: Option<TrustRoot>,
    keys: Vec<PublicKey>,
    policies: Vec<SigningPolicy>,
}

/// Reads the trust root and keys and resolves the catalog's policies for the lock; refuses keyless
/// declarations without a trust root.
pub(super) fn prepare(
    args: &PinSignatureArgs,
    lock: &Lock,
    catalog: Result<Catalog, Failure>,
) -> Result<Prepared, Failure> {
    let catalog = catalog.map_err(|f| {
        let message = format!(
            "--verify-signatures needs the catalog (its signing declarations): {}",
            f.message
        );
        Failure::usage(message)
    })?;
    let trust_root = args
        .trust_root
        .as_deref()
        .map(super::signing::trust_root)
        .transpose()?;
    let keys = args
        .keys
        .iter()
        .map(|p| super::signing::signature_key(p))
        .collect::<Result<Vec<_>, _>>()?;
    let policies = super::signing::policies(&catalog, lock);
    super::signing::require_trust_root(&policies, trust_root.as_ref())?;
    Ok(Prepared {
        trust_root,
        keys,
        policies,
    })
}

/// Checks every pinned image of `lock`; prints the outcome per image (failures) and a summary on
/// standard error. Returns the outcomes (for `--format json`; none when the signatures could not be
/// read) and a failure when an image fails or its signatures cannot be read.
pub(super) fn check(
    prepared: &Prepared,
    lock: &Lock,
    connected: &Connected,
    cache: Option<&std::path::Path>,
    quiet: bool,
) -> (Vec<(String, Verdict)>, Result<(), Failure>) {
    match judge_images(prepared, lock, connected, cache) {
        Ok(outcomes) => {
            let result = report(&outcomes, quiet);
            (outcomes, result)
        }
        Err(f) => (Vec::new(), Err(f)),
    }
}

/// The outcome of every pinned image of `lock`, its signatures read from its registry.
fn judge_images(
    prepared: &Prepared,
    lock: &Lock,
    connected: &Connected,
    cache: Option<&std::path::Path>,
) -> Result<Vec<(String, Verdict)>, Failure> {
    let mut declared = prepared.policies.clone();
    if let Err(f) = super::signing::fetch_keys(connected, cache, &mut declared, true) {
        eprintln!("error: {}", f.message);
        return Err(f);
    }
    let mut outcomes = Vec::new();
    for c in &lock.components {
        let policies: Vec<SigningPolicy> = declared
            .iter()
            .filter(|p| p.component == c.name && p.artifacts.images())
            .cloned()
            .collect();
        for image in &c.images {
            let Some(digest) = &image.digest else {
                continue;
            };
            let name = format!("{}@{digest}", image.reference);
            let repository = image.reference.name();
            let policies: Vec<SigningPolicy> = policies
                .iter()
                .filter(|p| p.covers(&repository))
                .cloned()
                .collect();
            let (carried, bundles) = match policies.is_empty() && prepared.keys.is_empty() {
                true => (Vec::new(), Vec::new()),
                false => signatures(connected, &image.reference, digest, &policies)
                    .map_err(|e| Failure::failed(format!("{name}: {e}")))?,
            };
            let signers = Signers {
                policies: &policies,
                keys: &prepared.keys,
                trust: prepared.trust_root.as_ref(),
            };
            outcomes.push((
                image.reference.to_string(),
                judge_all(&carried, &bundles, signers),
            ));
        }
    }
    Ok(outcomes)
}

/// Prints the failures and the summary; a failure when an image fails.
fn report(outcomes: &[(String, Verdict)], quiet: bool) -> Result<(), Failure> {
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|(image, v)| match v {
            Verdict::Failed { expected, why } => Some(format!(
                "{image}: no valid signature (expected {expected}): {why}"
            )),
            _ => None,
        })
        .collect();
    let counts = super::signing::outcome_counts(outcomes.iter().map(|(_, v)| v));
    if !failed.is_empty() {
        for line in &failed {
            eprintln!("error: {line}");
        }
        eprintln!("upstream signatures: {counts}");
        return Err(Failure::failed(format!(
            "{} image(s) without a valid signature by their declared signer",
            failed.len()
        ))
        .hint(
            "the image is not signed as its component declares: check the catalog's `signing:` \
             entry and where the image comes from (--registry-mirror)",
        ));
    }
    if !quiet {
        eprintln!("upstream signatures: {counts}");
    }
    Ok(())
}

/// The signatures of `reference` at `digest`: cosign's `.sig` next to it and in every signature
/// repository its `policies` declare (`signatureRepository`, cosign's `COSIGN_REPOSITORY`), and the
/// Sigstore bundles among its referrers in each of them.
fn signatures(
    connected: &Connected,
    reference: &ImageRef,
    digest: &Digest,
    policies: &[SigningPolicy],
) -> Result<(Vec<CosignSignature>, Vec<BundleSignature>), String> {
    let mut repositories: Vec<ImageRef> = vec![reference.clone()];
    for p in policies {
        if let Some(r) = &p.signature_repository {
            let r = ImageRef::parse(r).map_err(|e| format!("its signature repository {r}: {e}"))?;
            if !repositories.contains(&r) {
                repositories.push(r);
            }
        }
    }
    let (mut cosign, mut bundles) = (Vec::new(), Vec::new());
    for (i, repository) in repositories.iter().enumerate() {
        let source = connected
            .registries
            .source(repository)
            .map_err(|e| e.to_string())?;
        let elsewhere = |e: String| match i {
            0 => e,
            _ => format!("in its signature repository {}: {e}", repository.name()),
        };
        let found = connected
            .runner
            .block_on(discover::cosign_signatures(&source, digest))
            .map_err(elsewhere)?;
        cosign.extend(found);
        // cosign v3 with COSIGN_REPOSITORY puts its Sigstore bundles there too, as referrers of the
        // image's digest (kyverno from 1.16.4).
        let found = connected
            .runner
            .block_on(referrers::sigstore_bundles(&source, digest))
            .map_err(elsewhere)?;
        bundles.extend(found);
    }
    Ok((cosign, bundles))
}
