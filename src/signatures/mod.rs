//! Checking upstream's signatures of an image against the signers its component declares (issue 18
//! items 3 and 4): cosign's tag scheme (`sha256-<hex>.sig`: simple-signing layers with the signature,
//! and for keyless signing the Fulcio certificate and the Rekor entry in annotations), signed with a
//! key or keylessly.
//!
//! A keyless signature holds when: the payload names the image's digest; the transparency-log entry's
//! signed entry timestamp verifies with a Rekor key of the trust root and the entry records this
//! signature, certificate and payload; its time (the signing time) lies in the leaf certificate's
//! validity, and the leaf chains to a Fulcio CA of the trust root valid then; the leaf allows code
//! signing; the signature verifies over the payload with the leaf's key; and the leaf's identity
//! (SAN) and OIDC issuer match a declared keyless signer. A key signature holds when the payload
//! names the digest and the signature verifies with a declared (or given) key.
//!
//! Sigstore bundles (`application/vnd.dev.sigstore.bundle…+json`, carried as OCI referrers: cosign
//! v3's default) are judged against the same signers: see [`bundle`]. An image is verified by any
//! one valid signature of either scheme, and the verdict names which.
//!
//! Written with x509-cert, p256 and p384 rather than the `sigstore` crate: that crate's cosign API
//! cannot take a signature layer from bundle bytes (`SignatureLayer::new` is crate-private), and
//! these checks need only certificate parsing and ECDSA, which the crates here already give.

pub mod bundle;
pub mod checkpoint;
pub mod discover;
pub mod dsse;
pub mod keys;
pub mod merkle;
pub mod referrers;
pub mod rekor;
pub mod time;
pub mod tlog;
pub mod trust_root;
pub mod x509;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub use bundle::BundleSignature;
pub use trust_root::TrustRoot;

use crate::types::{Identity, PublicKeySource, Signer, SigningPolicy};
use keys::PublicKey;

/// The media type of cosign's simple-signing payload layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding a cosign signature (base64).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The layer annotation holding a keyless signature's certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The layer annotation holding the certificate's chain (PEM; informative: the trust root decides).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The layer annotation holding the Rekor entry with its signed entry timestamp (JSON).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// One cosign simple-signing layer (a `.sig` tag's layer), read from its annotations.
#[derive(Debug, Clone, Default)]
pub struct CosignSignature {
    /// Where it was found (the `.sig` tag), for messages.
    pub tag: String,
    /// The digest of the manifest it was found for (its `.sig` tag's subject): the payload must
    /// name it, and the caller makes sure it is the image's (or one of its platform manifests').
    pub subject: String,
    /// The simple-signing payload (`None`: not carried).
    pub payload: Option<Vec<u8>>,
    /// [`SIGNATURE_ANNOTATION`].
    pub signature: Option<String>,
    /// [`CERTIFICATE_ANNOTATION`].
    pub certificate: Option<String>,
    /// [`BUNDLE_ANNOTATION`].
    pub bundle: Option<String>,
}

impl CosignSignature {
    /// A layer's fields from its annotations (`get` reads one).
    pub fn from_annotations<'a>(
        tag: &str,
        subject: &str,
        payload: Option<Vec<u8>>,
        get: impl Fn(&str) -> Option<&'a str>,
    ) -> CosignSignature {
        CosignSignature {
            tag: tag.to_string(),
            subject: subject.to_string(),
            payload,
            signature: get(SIGNATURE_ANNOTATION).map(str::to_string),
            certificate: get(CERTIFICATE_ANNOTATION).map(str::to_string),
            bundle: get(BUNDLE_ANNOTATION).map(str::to_string),
        }
    }
}

/// Who may sign an image: the declared policies of its component(s), keys given on the command
/// line, and the trust root for keyless signers.
#[derive(Debug, Clone, Copy)]
pub struct Signers<'a> {
    /// The policies covering the image (already resolved for its component versions).
    pub policies: &'a [SigningPolicy],
    /// Keys given with `--signature-key` (any of them is enough too).
    pub keys: &'a [PublicKey],
    /// The trust root for keyless signers.
    pub trust: Option<&'a TrustRoot>,
}

/// How a signature that holds was carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// cosign's tag scheme: a simple-signing layer under `sha256-<hex>.sig`.
    CosignTag,
    /// A Sigstore bundle carried as an OCI referrer.
    SigstoreBundle,
}

impl Scheme {
    /// Its name in JSON and messages: `cosign-tag`, `sigstore-bundle`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::CosignTag => "cosign-tag",
            Scheme::SigstoreBundle => "sigstore-bundle",
        }
    }
}

/// How an image's signatures checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A signature holds.
    Verified {
        /// By whom, in words.
        signer: String,
        /// How it was carried.
        scheme: Scheme,
    },
    /// Nothing is declared for it (and no key given, or no signature carried for a given key).
    Unsigned,
    /// A signer is declared and no signature holds.
    Failed {
        /// What was expected, in words (identity and issuer, or key).
        expected: String,
        /// Why each carried signature does not hold (or that none is carried).
        why: String,
    },
}

/// A signer in words: `keyless "IDENTITY" from ISSUER`, `key sha256 …`.
pub fn describe(signer: &Signer) -> String {
    match signer {
        Signer::Keyless { identity, issuer } => match identity {
            Identity::Exact(s) => format!("keyless identity \"{s}\" with issuer \"{issuer}\""),
            Identity::Pattern(p) => {
                format!("keyless identity matching /{p}/ with issuer \"{issuer}\"")
            }
        },
        Signer::Key { key, digest } => match (key, keys::declared_key(signer)) {
            (_, Ok(Some(k))) => k.describe(),
            (PublicKeySource::Url { url, .. }, _) => match digest.is_sha256() {
                true => format!("the key at {url}"),
                false => format!("the key at {url} ({})", digest.name()),
            },
            _ => "a key that cannot be read".to_string(),
        },
    }
}

/// Whether `identity` is the certificate identity `san`.
fn identity_matches(identity: &Identity, san: &str) -> Result<bool, String> {
    identity.matches(san).map_err(|e| match identity {
        Identity::Pattern(p) => {
            format!("the identity pattern /{p}/ is not a regular expression: {e}")
        }
        Identity::Exact(_) => e.to_string(),
    })
}

/// The digest a simple-signing payload names.
fn named_digest(payload: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    v["critical"]["image"]["docker-manifest-digest"]
        .as_str()
        .map(str::to_string)
}

/// Judges the cosign signatures carried for an image (see [`judge_all`]).
pub fn judge(carried: &[CosignSignature], signers: Signers<'_>) -> Verdict {
    judge_all(carried, &[], signers)
}

/// Judges the signatures carried for an image: cosign `.sig` layers and Sigstore bundles. With
/// nothing declared, only key signatures are checked against the keys given (keyless ones have no
/// identity to match).
pub fn judge_all(
    carried: &[CosignSignature],
    bundles: &[BundleSignature],
    signers: Signers<'_>,
) -> Verdict {
    let declared: Vec<&Signer> = signers.policies.iter().flat_map(|p| &p.signers).collect();
    let (keyed, keyed_bundles): (Vec<CosignSignature>, Vec<BundleSignature>);
    let (carried, bundles) = match declared.is_empty() {
        true => {
            keyed = carried
                .iter()
                .filter(|s| s.certificate.is_none())
                .cloned()
                .collect();
            keyed_bundles = bundles
                .iter()
                .filter(|b| !bundle::is_keyless(b))
                .cloned()
                .collect();
            (keyed.as_slice(), keyed_bundles.as_slice())
        }
        false => (carried, bundles),
    };
    let nothing = carried.is_empty() && bundles.is_empty();
    if declared.is_empty() && (signers.keys.is_empty() || nothing) {
        return Verdict::Unsigned;
    }
    let mut expected: Vec<String> = declared.iter().map(|s| describe(s)).collect();
    expected.extend(
        signers
            .keys
            .iter()
            .map(|k| format!("key sha256 {}", k.id())),
    );
    let expected = expected.join(", or ");
    if nothing {
        return Verdict::Failed {
            expected,
            why: "no signature is carried for it".to_string(),
        };
    }
    let mut why = Vec::new();
    for sig in carried {
        match check_one(sig, &declared, signers) {
            Ok(signer) => {
                return Verdict::Verified {
                    signer,
                    scheme: Scheme::CosignTag,
                };
            }
            Err(e) => why.push(format!("{}: {e}", sig.tag)),
        }
    }
    for b in bundles {
        match bundle::check(b, &declared, signers) {
            Ok(signer) => {
                return Verdict::Verified {
                    signer,
                    scheme: Scheme::SigstoreBundle,
                };
            }
            Err(e) => why.push(format!("{}: {e}", b.origin)),
        }
    }
    Verdict::Failed {
        expected,
        why: why.join("; "),
    }
}

/// A declared keyless signer: identity and issuer.
type KeylessSigner<'a> = (&'a Identity, &'a str);

/// The keyless signers among `declared`.
fn keyless_signers<'a>(declared: &[&'a Signer]) -> Vec<KeylessSigner<'a>> {
    declared
        .iter()
        .filter_map(|s| match s {
            Signer::Keyless { identity, issuer } => Some((identity, issuer.as_str())),
            Signer::Key { .. } => None,
        })
        .collect()
}

/// What a keyless signature is checked with: the declared keyless signers (there must be one) and
/// the trust root (it must be given).
fn keyless_context<'a>(
    declared: &[&'a Signer],
    signers: Signers<'a>,
) -> Result<(Vec<KeylessSigner<'a>>, &'a TrustRoot), String> {
    let keyless = keyless_signers(declared);
    if keyless.is_empty() {
        return Err("a keyless signature, and no keyless signer is declared".to_string());
    }
    let trust = signers
        .trust
        .ok_or("a keyless signature, and no trust root to check it with (--trust-root FILE)")?;
    Ok((keyless, trust))
}

/// Checks one signature layer against every signer; `Ok`: by whom.
fn check_one(
    sig: &CosignSignature,
    declared: &[&Signer],
    signers: Signers<'_>,
) -> Result<String, String> {
    let (Some(payload), Some(signature)) = (&sig.payload, &sig.signature) else {
        return Err("a signature layer without its payload or signature".to_string());
    };
    let named = named_digest(payload);
    let digest = &sig.subject;
    if named.as_deref() != Some(digest.as_str()) {
        return Err(format!(
            "signs {}, not this image's {digest}",
            named.as_deref().unwrap_or("nothing")
        ));
    }
    let raw = STANDARD
        .decode(signature.trim())
        .map_err(|e| format!("the signature is not base64: {e}"))?;
    if let Some(cert) = &sig.certificate {
        let (keyless, trust) = keyless_context(declared, signers)?;
        return check_keyless(payload, &raw, cert, sig.bundle.as_deref(), trust, &keyless);
    }
    keys::check_signature(payload, signature, declared, signers.keys)
}

/// The keyless checks of one signature (see the module's documentation); `Ok`: by whom.
fn check_keyless(
    payload: &[u8],
    signature: &[u8],
    certificate: &str,
    bundle: Option<&str>,
    trust: &TrustRoot,
    keyless: &[(&Identity, &str)],
) -> Result<String, String> {
    let leaf = x509::read_leaf(certificate.as_bytes())?;
    let bundle = bundle.ok_or(
        "a keyless signature without its transparency-log entry (dev.sigstore.cosign/bundle)",
    )?;
    let entry = rekor::check_set(bundle, trust, payload, signature, Some(&leaf.der))?;
    if !x509::verify_ecdsa(&leaf.key, payload, signature, x509::hash_for_key(&leaf.key)) {
        return Err("the signature does not verify with the certificate's key".to_string());
    }
    check_certificate(&leaf, entry.integrated_time, trust, keyless)
}

/// The checks of a keyless signature's certificate at the signing time `at` (already proven by the
/// log): valid then, chained to a certificate authority of the trust root valid then, allowed to
/// sign code, and its identity and issuer a declared signer's; `Ok`: by whom.
fn check_certificate(
    leaf: &x509::Leaf,
    at: i64,
    trust: &TrustRoot,
    keyless: &[(&Identity, &str)],
) -> Result<String, String> {
    if at < leaf.not_before || at > leaf.not_after {
        return Err(format!(
            "the certificate was not valid at the signing time {} (valid {} to {})",
            time::format_rfc3339(at),
            time::format_rfc3339(leaf.not_before),
            time::format_rfc3339(leaf.not_after)
        ));
    }
    let mut chain_errors = Vec::new();
    let ca = trust.authorities.iter().find(|ca| {
        ca.valid_for.contains(at)
            && x509::chains_to(leaf, ca, at)
                .map_err(|e| chain_errors.push(e))
                .is_ok()
    });
    if ca.is_none() {
        return Err(format!(
            "the certificate does not chain to a certificate authority of the trust root valid at {}{}",
            time::format_rfc3339(at),
            match chain_errors.is_empty() {
                true => String::new(),
                false => format!(" ({})", chain_errors.join("; ")),
            }
        ));
    }
    if !leaf.code_signing {
        return Err("the certificate does not allow code signing".to_string());
    }
    let issuer = leaf.issuer.as_deref().unwrap_or_default();
    let mut errors = Vec::new();
    for (identity, want_issuer) in keyless {
        for san in &leaf.identities {
            match identity_matches(identity, san) {
                Ok(true) if issuer == *want_issuer => {
                    return Ok(format!("keyless \"{san}\" with issuer \"{issuer}\""));
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Err(format!(
        "signed by identity {} with issuer \"{}\", not a declared signer",
        match leaf.identities.as_slice() {
            [] => "(none)".to_string(),
            ids => ids
                .iter()
                .map(|i| format!("\"{i}\""))
                .collect::<Vec<_>>()
                .join(", "),
        },
        leaf.issuer.as_deref().unwrap_or("(none)")
    ))
}
