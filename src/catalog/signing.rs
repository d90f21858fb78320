//! `signing:` in a component file (issue 18 item 3): how upstream signs the component's images
//! and charts, per version range, read strictly into [`SigningDeclaration`]s and resolved for one
//! version by [`Catalog::signing_policies`]. Problems that make a declaration unreadable (a range,
//! a regular expression that does not compile, a bad sha256, not exactly one signer form, two
//! declarations for the same artifacts and versions) are load errors with their place and a hint.

use super::diagnostics::Diagnostic;
use super::parse::FileCtx;
use super::wire::{self, SignedArtifactsWire, Spanned};
use super::{Catalog, Component};
use crate::types::{
    Digest, Identity, PublicKeySource, SignatureDigest, SignedArtifacts, Signer, SigningPolicy,
    Version, VersionReq,
};

/// One `signing:` entry of a component: for the versions in `versions`, upstream signs
/// `artifacts` with any one of `signers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningDeclaration {
    /// The component's versions it holds for.
    pub versions: VersionReq,
    /// Which artifacts are signed this way.
    pub artifacts: SignedArtifacts,
    /// Any one of these is enough (one, unless the entry says `anyOf`).
    pub signers: Vec<Signer>,
    /// The repositories covered (empty: all of the component's artifacts of those kinds); see
    /// [`SigningPolicy::repositories`].
    pub repositories: Vec<String>,
    /// Where upstream stores the signatures, when not next to the artifacts.
    pub signature_repository: Option<String>,
    /// Where upstream documents the signer and the version it holds from.
    pub source: String,
    /// A remark for people.
    pub note: Option<String>,
    /// Line of the entry (its `versions:`).
    pub line: u32,
}

impl SigningDeclaration {
    /// The policy this declaration gives version `version` of `component`.
    pub fn policy(&self, component: &str, version: &Version) -> SigningPolicy {
        SigningPolicy {
            component: component.to_string(),
            version: version.to_string(),
            artifacts: self.artifacts,
            signers: self.signers.clone(),
            source: self.source.clone(),
            repositories: self.repositories.clone(),
            signature_repository: self.signature_repository.clone(),
        }
    }
}

impl Component {
    /// The signing policies upstream declares for `version` (empty: upstream declares nothing).
    pub fn signing_policies(&self, version: &Version) -> Vec<SigningPolicy> {
        self.signing
            .iter()
            .filter(|d| d.versions.matches(version))
            .map(|d| d.policy(&self.name, version))
            .collect()
    }
}

impl Catalog {
    /// The signing policies upstream declares for `version` of `component`: at most one per kind
    /// of artifact. Empty when the component is unknown or upstream declares nothing for that
    /// version — such artifacts are reported as unsigned, never refused.
    pub fn signing_policies(&self, component: &str, version: &Version) -> Vec<SigningPolicy> {
        self.component(component)
            .map(|c| c.signing_policies(version))
            .unwrap_or_default()
    }
}

/// The catalog's `identityPattern` compiled: anchored at both ends, unlike cosign's
/// `--certificate-identity-regexp` (see [`Identity::pattern_regex`]).
pub fn identity_pattern(pattern: &str) -> Result<regex::Regex, regex::Error> {
    Identity::pattern_regex(pattern)
}

fn line<T>(s: &Spanned<T>) -> u32 {
    s.referenced.line() as u32
}

/// The declarations of one component file, or the problems that make them unreadable.
pub(super) fn declarations(
    ctx: &FileCtx<'_>,
    entries: Vec<wire::SigningWire>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<SigningDeclaration> {
    let mut out: Vec<(SigningDeclaration, Spanned<String>)> = Vec::new();
    for e in entries {
        let Some(d) = declaration(ctx, &e, diags) else {
            continue;
        };
        if let Some((first, _)) = out.iter().find(|(o, _)| clash(o, &d)) {
            diags.push(ctx.at(
                &e.versions,
                format!(
                    "`{}` overlaps `{}` (line {}) for the same {}: two declarations cannot hold for one version",
                    d.versions,
                    first.versions,
                    first.line,
                    shared_artifacts(first.artifacts, d.artifacts)
                ),
                Some(
                    "make the ranges disjoint (e.g. \"<1.5.0\" and \">=1.5.0\"); list several accepted signers of one range under `anyOf:`"
                        .to_string(),
                ),
            ));
            continue;
        }
        out.push((d, e.versions));
    }
    out.into_iter().map(|(d, _)| d).collect()
}

fn declaration(
    ctx: &FileCtx<'_>,
    e: &wire::SigningWire,
    diags: &mut Vec<Diagnostic>,
) -> Option<SigningDeclaration> {
    let before = diags.len();
    let versions = match VersionReq::parse_strict(&e.versions.value) {
        Ok(r) => Some(r),
        Err(err) => {
            diags.push(ctx.at(
                &e.versions,
                err.to_string(),
                Some(
                    "write the component's versions this holds for as a range, e.g. \">=1.26.0\""
                        .to_string(),
                ),
            ));
            None
        }
    };
    let artifacts = match e.artifacts.value {
        SignedArtifactsWire::Images => SignedArtifacts::Images,
        SignedArtifactsWire::Charts => SignedArtifacts::Charts,
        SignedArtifactsWire::ImagesAndCharts => SignedArtifacts::ImagesAndCharts,
    };
    let signers = match (&e.keyless, &e.key, &e.any_of) {
        (Some(k), None, None) => keyless(ctx, k, diags).into_iter().collect(),
        (None, Some(k), None) => key(ctx, k, diags).into_iter().collect(),
        (None, None, Some(list)) if !list.value.is_empty() => {
            let mut signers = Vec::new();
            for s in &list.value {
                if let Some(s) = any_of_item(ctx, list, s, diags) {
                    signers.push(s);
                }
            }
            signers
        }
        (None, None, Some(list)) => {
            diags.push(ctx.at(
                list,
                "`anyOf` is empty".to_string(),
                Some("list at least one `- keyless: {…}` or `- key: {…}`".to_string()),
            ));
            Vec::new()
        }
        _ => {
            let given: Vec<&str> = [
                e.keyless.as_ref().map(|_| "keyless"),
                e.key.as_ref().map(|_| "key"),
                e.any_of.as_ref().map(|_| "anyOf"),
            ]
            .into_iter()
            .flatten()
            .collect();
            diags.push(ctx.at(
                &e.versions,
                if given.is_empty() {
                    "the entry names no signer".to_string()
                } else {
                    format!("the entry names {}: state exactly one", given.join(" and "))
                },
                Some(
                    "write exactly one of `keyless: {identity, issuer}`, `key: {url, sha256}` (or `key: {pem}`) and `anyOf: [...]`"
                        .to_string(),
                ),
            ));
            Vec::new()
        }
    };
    let repositories: Vec<String> = e
        .repositories
        .iter()
        .filter_map(|r| repository(ctx, r, true, diags))
        .collect();
    let signature_repository = e
        .signature_repository
        .as_ref()
        .and_then(|r| repository(ctx, r, false, diags));
    if diags.len() > before {
        return None;
    }
    Some(SigningDeclaration {
        versions: versions?,
        artifacts,
        signers,
        repositories,
        signature_repository,
        source: e.source.clone(),
        note: e.note.clone(),
        line: line(&e.versions),
    })
}

fn any_of_item(
    ctx: &FileCtx<'_>,
    list: &Spanned<Vec<wire::SignerWire>>,
    s: &wire::SignerWire,
    diags: &mut Vec<Diagnostic>,
) -> Option<Signer> {
    match (&s.keyless, &s.key) {
        (Some(k), None) => keyless(ctx, k, diags),
        (None, Some(k)) => key(ctx, k, diags),
        (Some(k), Some(_)) => {
            diags.push(ctx.at(
                k,
                "an `anyOf` item names both `keyless` and `key`".to_string(),
                Some("write each accepted signer as its own `- keyless: {…}` or `- key: {…}` item".to_string()),
            ));
            None
        }
        (None, None) => {
            diags.push(
                ctx.at(
                    list,
                    "an `anyOf` item names no signer".to_string(),
                    Some(
                        "each item is `- keyless: {identity, issuer}` or `- key: {url, sha256}`"
                            .to_string(),
                    ),
                ),
            );
            None
        }
    }
}

fn keyless(
    ctx: &FileCtx<'_>,
    k: &Spanned<wire::KeylessWire>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Signer> {
    let w = &k.value;
    let identity = match (&w.identity, &w.identity_pattern) {
        (Some(id), None) if !id.value.trim().is_empty() => Some(Identity::Exact(id.value.clone())),
        (Some(id), None) => {
            diags.push(ctx.at(
                id,
                "the identity is empty".to_string(),
                Some("write the certificate identity upstream documents (`cosign --certificate-identity`)".to_string()),
            ));
            None
        }
        (None, Some(p)) => match identity_pattern(&p.value) {
            Ok(_) => Some(Identity::Pattern(p.value.clone())),
            Err(e) => {
                let why = e.to_string();
                let why = why.lines().last().unwrap_or("").trim().to_string();
                diags.push(ctx.at(
                    p,
                    format!("`{}` is not a regular expression: {why}", p.value),
                    Some(
                        "write a regular expression (Rust `regex` syntax) that the whole certificate identity must match; escape `.` as `\\\\.`"
                            .to_string(),
                    ),
                ));
                None
            }
        },
        (Some(_), Some(_)) | (None, None) => {
            diags.push(ctx.at(
                k,
                "`keyless` needs exactly one of `identity` and `identityPattern`".to_string(),
                Some(
                    "use `identity` for one exact certificate identity, `identityPattern` for a regular expression it must match as a whole"
                        .to_string(),
                ),
            ));
            None
        }
    };
    let issuer = &w.issuer;
    if !issuer.value.starts_with("https://") {
        diags.push(ctx.at(
            issuer,
            format!("`{}` is not an OIDC issuer URL", issuer.value),
            Some(
                "write the issuer as upstream documents it (`cosign --certificate-oidc-issuer`), e.g. https://token.actions.githubusercontent.com"
                    .to_string(),
            ),
        ));
        return None;
    }
    Some(Signer::Keyless {
        identity: identity?,
        issuer: issuer.value.clone(),
    })
}

fn key(
    ctx: &FileCtx<'_>,
    k: &Spanned<wire::KeyWire>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Signer> {
    let w = &k.value;
    let source = match (&w.pem, &w.url, &w.sha256) {
        (Some(pem), None, None) => {
            let text = pem.value.trim();
            if !(text.starts_with("-----BEGIN PUBLIC KEY-----")
                && text.ends_with("-----END PUBLIC KEY-----"))
            {
                diags.push(ctx.at(
                    pem,
                    "the key is not a PEM public key".to_string(),
                    Some(
                        "paste the whole key from `-----BEGIN PUBLIC KEY-----` to `-----END PUBLIC KEY-----` (a YAML block `|`)"
                            .to_string(),
                    ),
                ));
                return None;
            }
            PublicKeySource::Pem(format!("{text}\n"))
        }
        (None, Some(url), Some(sha)) => {
            if !url.value.starts_with("https://") {
                diags.push(ctx.at(
                    url,
                    format!("`{}` is not an https URL", url.value),
                    Some("give the https URL upstream publishes the key at".to_string()),
                ));
                return None;
            }
            let digest = match sha_hex(&sha.value).and_then(|h| Digest::from_sha256_hex(h).ok()) {
                Some(d) => d,
                None => {
                    diags.push(ctx.at(
                        sha,
                        format!("`{}` is not a sha256", sha.value),
                        Some(
                            "write the sha256 of the key file's bytes: 64 lower-case hex digits, without `sha256:`"
                                .to_string(),
                        ),
                    ));
                    return None;
                }
            };
            PublicKeySource::Url {
                url: url.value.clone(),
                sha256: digest,
                pem: None,
            }
        }
        _ => {
            diags.push(ctx.at(
                k,
                "`key` needs either `pem`, or `url` with `sha256`".to_string(),
                Some(
                    "write `key: {url: https://…/cosign.pub, sha256: <64 hex>}` or `key: {pem: |…}`"
                        .to_string(),
                ),
            ));
            return None;
        }
    };
    let digest = match &w.digest {
        None => SignatureDigest::default(),
        Some(d) => match SignatureDigest::parse(&d.value) {
            Some(d) => d,
            None => {
                diags.push(ctx.at(
                    d,
                    format!("`{}` is not a signature digest algorithm", d.value),
                    Some(
                        "write sha256, sha384 or sha512: what upstream passes to `cosign sign --signature-digest-algorithm` (sha256 when it passes nothing)"
                            .to_string(),
                    ),
                ));
                return None;
            }
        },
    };
    if let (PublicKeySource::Pem(text), Some(pem)) = (&source, &w.pem)
        && let Err(why) = crate::signatures::keys::SignerKey::from_pem(text, digest)
    {
        diags.push(ctx.at(
            pem,
            format!("the key cannot be used: {why}"),
            Some(
                "declare the PKIX public key upstream publishes (`cosign.pub`): ECDSA P-256 or P-384, or RSA of 2048 bits or more"
                    .to_string(),
            ),
        ));
        return None;
    }
    Some(Signer::Key {
        key: source,
        digest,
    })
}

/// A repository as the catalog names it: canonical (`HOST/PATH`, no tag or digest), or with
/// `prefix` a prefix ending in `*`.
fn repository(
    ctx: &FileCtx<'_>,
    r: &Spanned<String>,
    prefix: bool,
    diags: &mut Vec<Diagnostic>,
) -> Option<String> {
    let text = r.value.as_str();
    let (name, star) = match text.strip_suffix('*') {
        Some(p) if prefix => (p, true),
        _ => (text, false),
    };
    let problem = if name.contains('*') {
        Some("`*` may only end it".to_string())
    } else if star {
        // a prefix: a registry host, a `/`, and nothing a tag or digest would add
        match name.split_once('/') {
            Some((host, _)) if host.contains('.') || host.contains(':') || host == "localhost" => {
                (name.contains('@') || name[host.len()..].contains(':'))
                    .then(|| "a repository has no tag or digest".to_string())
            }
            _ => Some("it must start with the registry host, e.g. `ghcr.io/`".to_string()),
        }
    } else {
        match crate::types::ImageRef::parse(name) {
            Err(e) => Some(e.reason.to_string()),
            Ok(i) if i.tag().is_some() || i.digest().is_some() => {
                Some("a repository has no tag or digest".to_string())
            }
            Ok(i) if i.name() != name => Some(format!("write its canonical name `{}`", i.name())),
            Ok(_) => None,
        }
    };
    match problem {
        None => Some(text.to_string()),
        Some(why) => {
            diags.push(ctx.at(
                r,
                format!("`{text}` is not a repository: {why}"),
                Some(if prefix {
                    "write a repository as `HOST/PATH` (e.g. `ghcr.io/kyverno/kyverno`), or a prefix ending in `*` (e.g. `ghcr.io/kyverno/*`)".to_string()
                } else {
                    "write the repository the signatures are stored in as `HOST/PATH`, e.g. `ghcr.io/kyverno/signatures`".to_string()
                }),
            ));
            None
        }
    }
}

/// 64 lower-case hex digits, or `None`.
fn sha_hex(s: &str) -> Option<&str> {
    (s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(s)
}

/// Two declarations that would both hold for some version and artifact.
fn clash(a: &SigningDeclaration, b: &SigningDeclaration) -> bool {
    let share = (a.artifacts.images() && b.artifacts.images())
        || (a.artifacts.charts() && b.artifacts.charts());
    share && overlap(&a.versions, &b.versions)
}

fn shared_artifacts(a: SignedArtifacts, b: SignedArtifacts) -> &'static str {
    match (a.images() && b.images(), a.charts() && b.charts()) {
        (true, true) => "images and charts",
        (true, false) => "images",
        _ => "charts",
    }
}

/// Whether some release version lies in both ranges. A conjunction of comparators holds on an
/// interval of versions, so if two ranges share a version they share the smallest version of
/// their intersection, which is 0.0.0, a comparator's version or the release right after one
/// (next patch, minor or major): checking those candidates decides it exactly.
pub(super) fn overlap(a: &VersionReq, b: &VersionReq) -> bool {
    let mut candidates = vec![Version::new(0, 0, 0)];
    for r in [a, b] {
        let Ok(req) = semver::VersionReq::parse(r.as_str()) else {
            continue;
        };
        for c in req.comparators {
            let (x, y, z) = (c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0));
            candidates.extend([
                Version::new(x, y, z),
                Version::new(x, y, z + 1),
                Version::new(x, y + 1, 0),
                Version::new(x + 1, 0, 0),
            ]);
        }
    }
    candidates
        .into_iter()
        .any(|v| a.matches(&v) && b.matches(&v))
}

/// `catalog check`: a declaration that holds for none of the component's versions in the catalog
/// is dead (a wrong range, or a line the catalog no longer carries), and so is a `repositories`
/// entry that covers none of the artifacts of the versions it holds for.
pub(super) fn lint(comp: &Component) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let problem = |d: &SigningDeclaration, message: String| Diagnostic {
        file: comp.file.clone(),
        line: d.line,
        column: 0,
        field: None,
        message: format!("{} signing `{}`: {message}", comp.name, d.versions),
        hint: None,
    };
    for d in &comp.signing {
        let releases: Vec<_> = comp
            .versions
            .iter()
            .filter(|r| d.versions.matches(&r.version))
            .collect();
        if releases.is_empty() {
            out.push(problem(
                d,
                "holds for none of the component's versions in the catalog".to_string(),
            ));
            continue;
        }
        let artifacts = covered_repositories(d.artifacts, &releases);
        for r in &d.repositories {
            let one = SigningPolicy {
                repositories: vec![r.clone()],
                ..d.policy(&comp.name, &releases[0].version)
            };
            if !artifacts.iter().any(|a| one.covers(a)) {
                out.push(problem(
                    d,
                    format!(
                        "`{r}` covers none of the {} of the versions it holds for",
                        kinds(d.artifacts)
                    ),
                ));
            }
        }
    }
    out
}

fn kinds(a: SignedArtifacts) -> &'static str {
    match a {
        SignedArtifacts::Images => "images",
        SignedArtifacts::Charts => "OCI charts",
        SignedArtifacts::ImagesAndCharts => "images and OCI charts",
    }
}

/// The canonical repositories of the images and OCI charts (of the kinds in `artifacts`) of
/// `releases`.
fn covered_repositories(artifacts: SignedArtifacts, releases: &[&super::Release]) -> Vec<String> {
    let mut out = Vec::new();
    for r in releases {
        if artifacts.images() {
            out.extend(
                r.images
                    .iter()
                    .filter_map(|i| crate::types::ImageRef::parse(&i.reference).ok())
                    .map(|i| i.name()),
            );
        }
        if artifacts.charts() {
            out.extend(r.artifacts.charts.iter().filter_map(|c| {
                c.repository
                    .strip_prefix("oci://")
                    .map(|repo| format!("{}/{}", repo.trim_end_matches('/'), c.name))
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> VersionReq {
        VersionReq::parse_strict(s).unwrap()
    }

    #[test]
    fn ranges_overlap_exactly_when_they_share_a_version() {
        assert!(overlap(&req(">=1.26.0"), &req(">=1.30.0")));
        assert!(overlap(&req(">=1.26.0"), &req("<1.27.0")));
        assert!(overlap(&req("<1.5.0"), &req("<=1.0.0")));
        assert!(overlap(&req(">1.4.9"), &req("<1.5.1")));
        assert!(overlap(&req("~1.4.0"), &req("=1.4.7")));
        assert!(overlap(&req("^1.2.0"), &req(">=1.9.0, <2.1.0")));
        assert!(!overlap(&req("<1.5.0"), &req(">=1.5.0")));
        assert!(!overlap(&req(">1.4.9"), &req("<1.4.10")));
        assert!(
            overlap(&req(">1.4.9"), &req("<1.5.0")),
            "1.4.10 lies in both"
        );
        assert!(!overlap(&req("~1.4.0"), &req(">=1.5.0")));
        assert!(!overlap(&req("^1.2.0"), &req(">=2.0.0")));
        assert!(!overlap(&req("=1.4.7"), &req("=1.4.8")));
        assert!(!overlap(&req(">=1.0.0, <1.2.0"), &req(">=1.2.0, <1.3.0")));
    }

    #[test]
    fn identity_patterns_match_whole() {
        let p = identity_pattern(r"https://github\.com/cilium/cilium/.*").unwrap();
        assert!(
            p.is_match("https://github.com/cilium/cilium/.github/workflows/x.yaml@refs/tags/v1")
        );
        assert!(!p.is_match("evil https://github.com/cilium/cilium/x"));
        let p = identity_pattern("a|b").unwrap();
        assert!(p.is_match("a") && !p.is_match("ab"));
        assert!(identity_pattern("(unclosed").is_err());
    }
}
