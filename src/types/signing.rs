//! How upstream signs a component's artifacts (issue 18 item 3): the declared signers that the catalog
//! carries per component and version range, resolved for one locked version. The catalog parses them
//! (`signing:` in a component file, catalog/FORMAT.md); `pin`/`export --verify-signatures` check the
//! carried signatures against them; the bundle stores them (with the trust root) so that
//! `verify --signatures` repeats the check offline.

use serde::{Deserialize, Serialize};

use super::Digest;

/// The signers upstream declares for one version of one component, with where that is documented.
/// A signature that verifies with ANY of `signers` satisfies the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningPolicy {
    /// The catalog component.
    pub component: String,
    /// The component's version this policy was resolved for.
    pub version: String,
    /// Which artifacts upstream signs this way.
    pub artifacts: SignedArtifacts,
    /// Any one of these is enough.
    pub signers: Vec<Signer>,
    /// Where upstream documents it (the catalog's machine-checkable source form).
    pub source: String,
    /// The image (and OCI chart) repositories the policy covers, as canonical names without tag
    /// (`ghcr.io/kyverno/kyverno`, `docker.io/library/traefik`; an OCI chart `oci://HOST/PATH` named
    /// NAME is `HOST/PATH/NAME`). An entry ending in `*` covers every repository that starts with
    /// what precedes the `*`. Empty: every artifact of the component of the kinds in `artifacts`.
    /// (Upstream components ship third-party images too, which their signer does not sign.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<String>,
    /// Where upstream stores the signatures when not next to the artifact (cosign's
    /// `COSIGN_REPOSITORY`, e.g. `ghcr.io/kyverno/signatures`): the `sha256-<hex>.sig` tags of the
    /// covered artifacts are found there. `None`: in the artifact's own repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_repository: Option<String>,
}

impl SigningPolicy {
    /// Whether the policy covers the artifact in `repository` (canonical, without tag: see
    /// [`SigningPolicy::repositories`]); the kind of artifact is [`SigningPolicy::artifacts`]'s.
    pub fn covers(&self, repository: &str) -> bool {
        self.repositories.is_empty()
            || self.repositories.iter().any(|r| match r.strip_suffix('*') {
                Some(prefix) => repository.starts_with(prefix),
                None => repository == r,
            })
    }
}

/// Which of a component's artifacts the policy covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SignedArtifacts {
    /// The container images only.
    Images,
    /// The OCI Helm charts only.
    Charts,
    /// Images and OCI charts.
    ImagesAndCharts,
}

impl SignedArtifacts {
    /// Whether images are covered.
    pub fn images(self) -> bool {
        matches!(
            self,
            SignedArtifacts::Images | SignedArtifacts::ImagesAndCharts
        )
    }

    /// Whether OCI charts are covered.
    pub fn charts(self) -> bool {
        matches!(
            self,
            SignedArtifacts::Charts | SignedArtifacts::ImagesAndCharts
        )
    }
}

/// One way upstream signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Signer {
    /// Sigstore keyless: a Fulcio certificate whose subject matches `identity`, issued for a token of
    /// `issuer`, with the signature's transparency-log entry.
    Keyless {
        /// The certificate identity (SAN), exactly or as a pattern.
        identity: Identity,
        /// The OIDC issuer (Fulcio's issuer extension), exactly.
        issuer: String,
    },
    /// A long-lived public key.
    Key {
        /// Where the key comes from.
        key: PublicKeySource,
        /// The digest the signature is computed over (cosign's `--signature-digest-algorithm`; a
        /// PKCS#1 v1.5 or ECDSA signature does not say which). SHA-256 unless declared.
        #[serde(default, skip_serializing_if = "SignatureDigest::is_sha256")]
        digest: SignatureDigest,
    },
}

/// The digest algorithm a key signature is computed over: cosign signs SHA-256 unless told
/// otherwise (`cosign sign --signature-digest-algorithm sha512`, as cert-manager does).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureDigest {
    /// SHA-256 (cosign's default).
    #[default]
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl SignatureDigest {
    /// Every algorithm, by its name as the catalog writes it.
    pub const ALL: [(&'static str, SignatureDigest); 3] = [
        ("sha256", SignatureDigest::Sha256),
        ("sha384", SignatureDigest::Sha384),
        ("sha512", SignatureDigest::Sha512),
    ];

    /// Whether it is the default (SHA-256).
    pub fn is_sha256(&self) -> bool {
        *self == SignatureDigest::Sha256
    }

    /// Its name as the catalog and cosign write it (`sha512`).
    pub fn name(self) -> &'static str {
        match self {
            SignatureDigest::Sha256 => "sha256",
            SignatureDigest::Sha384 => "sha384",
            SignatureDigest::Sha512 => "sha512",
        }
    }

    /// The algorithm named `name` (`sha256`, `sha384`, `sha512`).
    pub fn parse(name: &str) -> Option<SignatureDigest> {
        SignatureDigest::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| *d)
    }
}

/// A keyless certificate identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Identity {
    /// Must equal the certificate's identity (`cosign --certificate-identity`).
    Exact(String),
    /// A regular expression the whole identity must match (`cosign --certificate-identity-regexp`).
    Pattern(String),
}

impl Identity {
    /// The regular expression of an identity pattern, anchored at both ends: the whole certificate
    /// identity must match (unlike `cosign --certificate-identity-regexp`). The one place that
    /// anchoring is written: the catalog compiles patterns with it at load, the verifier matches with it.
    pub fn pattern_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
        regex::Regex::new(&format!("^(?:{pattern})$"))
    }

    /// Whether `san` (a certificate's identity) is this identity.
    pub fn matches(&self, san: &str) -> Result<bool, regex::Error> {
        match self {
            Identity::Exact(s) => Ok(s == san),
            Identity::Pattern(p) => Identity::pattern_regex(p).map(|r| r.is_match(san)),
        }
    }
}

/// A public key as the catalog declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PublicKeySource {
    /// The PEM text itself.
    Pem(String),
    /// A URL upstream publishes the PEM at, with the sha256 of its bytes (checked when fetched).
    Url {
        /// Where to fetch it.
        url: String,
        /// The sha256 of the PEM file's bytes.
        sha256: Digest,
        /// The PEM as fetched (its sha256 checked): filled by `pin`/`export` so that the policies a
        /// bundle carries verify offline. `None` in the catalog.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pem: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_match_exactly_or_as_a_whole() {
        let exact = Identity::Exact("krel-trust@k8s-releng-prod.iam.gserviceaccount.com".into());
        assert!(
            exact
                .matches("krel-trust@k8s-releng-prod.iam.gserviceaccount.com")
                .unwrap()
        );
        assert!(
            !exact
                .matches("x-krel-trust@k8s-releng-prod.iam.gserviceaccount.com")
                .unwrap()
        );
        let p = Identity::Pattern(r"https://github\.com/fluxcd/.*".into());
        assert!(p.matches("https://github.com/fluxcd/source-controller/.github/workflows/release.yml@refs/tags/v1.0.0").unwrap());
        assert!(
            !p.matches("https://evil.example/https://github.com/fluxcd/x")
                .unwrap()
        );
        assert!(!p.matches("https://githubXcom/fluxcd/x").unwrap());
        assert!(Identity::Pattern("(".into()).matches("x").is_err());
    }
}
