//! `signing:` in the catalog (issue 18 item 3): the format's load errors, lint, `catalog show`, and
//! `Catalog::signing_policies` on a synthetic catalog (`tests/fixtures/catalogs/signing/declared`
//! laid over `good/`) and on the real one.

use bundle::catalog::Catalog;
use bundle::types::{Identity, PublicKeySource, SignatureDigest, SignedArtifacts, Signer, Version};

use crate::catalog::{Place, json, lint_case, malformed, overlaid, with_catalog};
use crate::support::root;

fn v(s: &str) -> Version {
    s.parse().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Declarations that cannot be read: load errors with file, line, field and a hint.

fn malformed_snapshot(case: &str, line: u32, column: u32, field: &'static str) {
    let err = malformed(
        case,
        Place {
            file: "components/beta.yaml",
            line,
            column,
            field: Some(field),
        },
    );
    insta::assert_snapshot!(format!("malformed_{}", case.replace('-', "_")), err);
}

#[test]
fn malformed_identity_pattern_that_does_not_compile() {
    malformed_snapshot(
        "signing-bad-pattern",
        11,
        24,
        "signing[0].keyless.identityPattern",
    );
}

#[test]
fn malformed_key_sha256() {
    malformed_snapshot("signing-bad-sha256", 12, 15, "signing[0].key.sha256");
}

#[test]
fn malformed_key_digest_algorithm() {
    malformed_snapshot("signing-bad-digest", 13, 15, "signing[0].key.digest");
}

#[test]
fn malformed_overlapping_ranges_for_the_same_artifacts() {
    malformed_snapshot("signing-overlap", 14, 15, "signing[1].versions");
}

#[test]
fn malformed_keyless_and_key_in_one_entry() {
    malformed_snapshot("signing-two-signers", 8, 15, "signing[0].versions");
}

#[test]
fn malformed_unknown_field_in_keyless() {
    malformed_snapshot(
        "signing-cosign-flag-name",
        11,
        7,
        "signing[0].keyless.certificateIdentityRegexp",
    );
}

#[test]
fn malformed_artifacts_kind() {
    malformed_snapshot("signing-bad-artifacts", 9, 16, "signing[0].artifacts");
}

#[test]
fn malformed_repository_with_a_tag() {
    malformed_snapshot(
        "signing-repository-with-tag",
        11,
        9,
        "signing[0].repositories[0]",
    );
}

#[test]
fn lint_repositories_that_cover_no_artifact() {
    lint_case(
        "signing-repository-covers-nothing",
        &[
            "[CATALOG]/components/beta.yaml:8: beta signing `>=2.0.0`: `registry.example.com/beta/webhook` covers none of the images of the versions it holds for",
            "[CATALOG]/components/beta.yaml:8: beta signing `>=2.0.0`: `registry.example.com/gamma/*` covers none of the images of the versions it holds for",
        ],
    );
}

#[test]
fn lint_declaration_for_no_version_in_the_catalog() {
    lint_case(
        "signing-dead",
        &[
            "[CATALOG]/components/beta.yaml:8: beta signing `>=3.0.0`: holds for none of the component's versions in the catalog",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Resolving declarations per version.

#[test]
fn signing_policies_by_range_artifacts_and_signers() {
    let dir = overlaid("signing", "declared");
    let cat = Catalog::from_dir(&dir).unwrap();

    // 0.1.0: two entries hold (images by a key at a URL, charts by a PEM key).
    let p = cat.signing_policies("alpha", &v("0.1.0"));
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(
        p.iter()
            .all(|x| x.component == "alpha" && x.version == "0.1.0")
    );
    assert_eq!(p[0].artifacts, SignedArtifacts::Images);
    assert!(p[0].repositories.is_empty() && p[0].covers("docker.io/library/anything"));
    assert_eq!(p[0].signature_repository, None);
    match &p[0].signers[..] {
        [
            Signer::Key {
                key: PublicKeySource::Url { url, sha256, pem },
                digest,
            },
        ] => {
            assert_eq!(*digest, SignatureDigest::Sha512);
            assert_eq!(
                *pem, None,
                "the catalog names the key; pin and export fetch it"
            );
            assert_eq!(url, "https://example.com/alpha/cosign.pub");
            assert_eq!(sha256.to_string(), format!("sha256:{}", "3".repeat(64)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p[1].artifacts, SignedArtifacts::Charts);
    match &p[1].signers[..] {
        [
            Signer::Key {
                key: PublicKeySource::Pem(pem),
                digest: SignatureDigest::Sha256,
            },
        ] => {
            assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\nMFkw"), "{pem}");
            assert!(pem.ends_with("-----END PUBLIC KEY-----\n"), "{pem}");
        }
        other => panic!("{other:?}"),
    }

    // 0.2.3 (and any later version): one entry, any of two keyless signers, images and charts.
    for version in ["0.2.3", "0.9.0"] {
        let p = cat.signing_policies("alpha", &v(version));
        assert_eq!(p.len(), 1, "{version}: {p:#?}");
        assert_eq!(p[0].artifacts, SignedArtifacts::ImagesAndCharts);
        assert!(p[0].artifacts.images() && p[0].artifacts.charts());
        assert_eq!(p[0].version, version);
        assert_eq!(p[0].repositories, ["registry.example.com/alpha/*"]);
        assert!(p[0].covers("registry.example.com/alpha/agent"));
        assert!(!p[0].covers("docker.io/library/memcached"));
        assert_eq!(
            p[0].signature_repository.as_deref(),
            Some("registry.example.com/alpha/signatures")
        );
        assert_eq!(
            p[0].source,
            "https://example.com/alpha/signing ; example/alpha:.github/workflows/release.yaml@0a1b2c3d"
        );
        let issuers: Vec<&str> = p[0]
            .signers
            .iter()
            .map(|s| match s {
                Signer::Keyless { issuer, .. } => issuer.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(issuers, ["https://token.actions.githubusercontent.com"; 2]);
        let Signer::Keyless {
            identity: Identity::Pattern(pattern),
            ..
        } = &p[0].signers[1]
        else {
            panic!("{:?}", p[0].signers[1]);
        };
        let re = bundle::catalog::identity_pattern(pattern).unwrap();
        let tag =
            "https://github.com/example/alpha/.github/workflows/release.yaml@refs/tags/v0.2.3";
        assert!(re.is_match(tag));
        assert!(!re.is_match(&format!("https://evil.example/?{tag}")));
        assert!(!re.is_match(
            "https://github.com/example/alpha/.github/workflows/other.yaml@refs/tags/v0.2.3"
        ));
    }

    // Nothing declared: empty (reported as unsigned by the verifier, never refused).
    assert!(cat.signing_policies("beta", &v("2.0.1")).is_empty());
    assert!(
        cat.signing_policies("no-such-component", &v("1.0.0"))
            .is_empty()
    );

    // The fixture is clean for `catalog check` and every source is machine-checkable.
    let r = with_catalog(&dir, &["catalog", "check"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = with_catalog(&dir, &["catalog", "check", "--sources"]);
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn show_json_lists_the_declarations() {
    let dir = overlaid("signing", "declared");
    let r = with_catalog(&dir, &["catalog", "show", "alpha", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let s = &json(&r.stdout)["signing"];
    let entries = s.as_array().unwrap();
    assert_eq!(entries.len(), 3, "{s:#}");
    assert_eq!(entries[0]["versions"], "<0.2.0");
    assert_eq!(entries[0]["artifacts"], "images");
    assert_eq!(entries[0]["appliesTo"], serde_json::json!(["0.1.0"]));
    assert_eq!(entries[0]["signers"][0]["kind"], "key");
    assert_eq!(
        entries[0]["signers"][0]["key"]["url"]["sha256"],
        format!("sha256:{}", "3".repeat(64))
    );
    assert_eq!(entries[2]["artifacts"], "imagesAndCharts");
    assert_eq!(entries[2]["appliesTo"], serde_json::json!(["0.2.3"]));
    assert_eq!(
        entries[2]["note"],
        "signed in the release workflow from 0.2.0 on"
    );
    assert_eq!(entries[2]["signers"].as_array().unwrap().len(), 2);
    assert_eq!(
        entries[2]["repositories"],
        serde_json::json!(["registry.example.com/alpha/*"])
    );
    assert_eq!(
        entries[2]["signatureRepository"],
        "registry.example.com/alpha/signatures"
    );
    assert_eq!(entries[0]["signatureRepository"], serde_json::Value::Null);
    assert_eq!(
        entries[2]["signers"][1]["identity"]["pattern"],
        "https://github\\.com/example/alpha/\\.github/workflows/release\\.yaml@refs/tags/v0\\..*"
    );
    // A component without declarations shows an empty list.
    let r = with_catalog(&dir, &["catalog", "show", "beta", "--format", "json"]);
    assert_eq!(json(&r.stdout)["signing"], serde_json::json!([]));
    // The YAML view is the file itself, declarations included.
    let r = with_catalog(&dir, &["catalog", "show", "alpha"]);
    assert!(r.stdout.contains("identityPattern:"), "{}", r.stdout);
}

// ---------------------------------------------------------------------------------------------
// The real catalog.

#[test]
fn real_catalog_declarations_load_lint_and_show() {
    let dir = root().join("catalog");
    let cat = Catalog::from_dir(&dir).unwrap();
    let declared: Vec<&str> = cat
        .components
        .iter()
        .filter(|c| !c.signing.is_empty())
        .map(|c| c.name.as_str())
        .collect();
    assert!(declared.contains(&"kubernetes"), "{declared:?}");
    for c in cat.components.iter().filter(|c| !c.signing.is_empty()) {
        // every declaration holds for some version in the catalog and resolves for it
        for d in &c.signing {
            let r = c
                .versions
                .iter()
                .find(|r| d.versions.matches(&r.version))
                .unwrap_or_else(|| panic!("{} {}: no version", c.name, d.versions));
            let p = cat.signing_policies(&c.name, &r.version);
            assert!(
                p.iter()
                    .any(|p| p.artifacts == d.artifacts && p.signers == d.signers),
                "{} {}: {p:?}",
                c.name,
                r.version
            );
        }
        let r = with_catalog(&dir, &["catalog", "show", &c.name, "--format", "json"]);
        assert_eq!(r.code, 0, "{r:?}");
        let shown = json(&r.stdout)["signing"].as_array().unwrap().len();
        assert_eq!(shown, c.signing.len(), "{}", c.name);
    }
    // Kubernetes' control-plane images: keyless, krel-trust, Google's issuer.
    let k = cat.signing_policies(
        "kubernetes",
        &cat.component("kubernetes")
            .unwrap()
            .newest()
            .unwrap()
            .version,
    );
    assert!(k.iter().any(|p| p.artifacts.images()
        && p.signers.contains(&Signer::Keyless {
            identity: Identity::Exact("krel-trust@k8s-releng-prod.iam.gserviceaccount.com".into()),
            issuer: "https://accounts.google.com".into(),
        })));
    let r = with_catalog(&dir, &["catalog", "check"]);
    assert_eq!(r.code, 0, "{r:?}");
}

/// The components whose images the Kubernetes image promoter signs on registry.k8s.io: every
/// version in the catalog resolves the promoter's signer, limited to registry.k8s.io, and every
/// image the version lists is covered by it (a repository left out would be reported unsigned).
#[test]
fn real_catalog_registry_k8s_io_images_are_declared_signed_by_the_promoter() {
    let cat = Catalog::from_dir(&root().join("catalog")).unwrap();
    let promoter = Signer::Keyless {
        identity: Identity::Exact("krel-trust@k8s-releng-prod.iam.gserviceaccount.com".into()),
        issuer: "https://accounts.google.com".into(),
    };
    for name in [
        "etcd",
        "coredns",
        "pause",
        "ingress-nginx",
        "kube-state-metrics",
    ] {
        let c = cat.component(name).unwrap();
        for r in &c.versions {
            let policies = cat.signing_policies(name, &r.version);
            let p = policies
                .iter()
                .find(|p| p.artifacts.images() && p.signers.contains(&promoter))
                .unwrap_or_else(|| panic!("{name} {}: {policies:?}", r.version));
            assert!(!p.repositories.is_empty(), "{name}: {p:?}");
            assert!(
                p.repositories
                    .iter()
                    .all(|repo| repo.starts_with("registry.k8s.io/")),
                "{name}: {p:?}"
            );
            assert!(!r.images.is_empty(), "{name} {}", r.version);
            for image in &r.images {
                let repository = bundle::types::ImageRef::parse(&image.reference)
                    .unwrap()
                    .name();
                assert!(p.covers(&repository), "{name} {}: {repository}", r.version);
            }
        }
    }
}
