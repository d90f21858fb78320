//! Keyless (and key) verification of cosign signatures against declared signers (issue 18 item 3),
//! through the library with the harness's own test Sigstore (support/sigstore.rs): a good signature
//! verifies by its identity; each way a signature can be wrong is refused with what was expected and
//! why.

use bundle::signatures::{CosignSignature, Signers, TrustRoot, Verdict, judge};
use bundle::types::{Identity, SignedArtifacts, Signer, SigningPolicy};

use crate::support::sigstore::{IDENTITY, ISSUER, Keyless, Sigstore};

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const OTHER: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn policy(identity: Identity, issuer: &str) -> SigningPolicy {
    SigningPolicy {
        component: "app".to_string(),
        version: "1.0.0".to_string(),
        artifacts: SignedArtifacts::Images,
        signers: vec![Signer::Keyless {
            identity,
            issuer: issuer.to_string(),
        }],
        source: "https://example.invalid/signing".to_string(),
        repositories: vec![],
        signature_repository: None,
    }
}

fn layer(sigstore: &Sigstore, how: &Keyless) -> CosignSignature {
    let (payload, annotations) = sigstore.sign("registry.test/app", DIGEST, how);
    CosignSignature::from_annotations("sha256-1111.sig", Some(payload), |k| {
        annotations[k].as_str()
    })
}

fn check(sigstore: &Sigstore, how: &Keyless, policy: &SigningPolicy) -> Verdict {
    let trust = TrustRoot::parse(&sigstore.trusted_root()).expect("the test trust root reads");
    judge(
        DIGEST,
        &[layer(sigstore, how)],
        Signers {
            policies: std::slice::from_ref(policy),
            keys: &[],
            trust: Some(&trust),
        },
    )
}

fn failed(v: Verdict) -> (String, String) {
    match v {
        Verdict::Failed { expected, why } => (expected, why),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn a_keyless_signature_verifies_by_identity_exact_or_pattern_uri_or_email_old_or_new_issuer() {
    let s = Sigstore::new();
    let exact = policy(Identity::Exact(IDENTITY.to_string()), ISSUER);
    assert_eq!(
        check(&s, &Keyless::default(), &exact),
        Verdict::Verified(format!("keyless \"{IDENTITY}\" with issuer \"{ISSUER}\""))
    );
    let pattern = policy(
        Identity::Pattern(r"https://github\.com/example/app/\.github/workflows/.*".to_string()),
        ISSUER,
    );
    assert!(matches!(
        check(&s, &Keyless::default(), &pattern),
        Verdict::Verified(_)
    ));
    // A pattern matches the whole identity, not a part of it.
    let part = policy(Identity::Pattern("example/app".to_string()), ISSUER);
    let (expected, why) = failed(check(&s, &Keyless::default(), &part));
    assert!(expected.contains("matching /example/app/"), "{expected}");
    assert!(why.contains("not a declared signer"), "{why}");
    let email = Keyless {
        identity: "release@example.org".to_string(),
        issuer: "https://accounts.google.com".to_string(),
        issuer_v1: true,
        ..Keyless::default()
    };
    let by_email = policy(
        Identity::Exact("release@example.org".to_string()),
        "https://accounts.google.com",
    );
    assert!(matches!(check(&s, &email, &by_email), Verdict::Verified(_)));
}

#[test]
fn each_wrong_keyless_signature_is_refused_saying_why() {
    let s = Sigstore::new();
    let exact = policy(Identity::Exact(IDENTITY.to_string()), ISSUER);
    let cases: Vec<(&str, Keyless, &str)> = vec![
        (
            "wrong identity",
            Keyless {
                identity: "https://github.com/mallory/app/.github/workflows/x.yml@refs/heads/main"
                    .to_string(),
                ..Keyless::default()
            },
            "signed by identity \"https://github.com/mallory",
        ),
        (
            "wrong issuer",
            Keyless {
                issuer: "https://accounts.google.com".to_string(),
                ..Keyless::default()
            },
            "with issuer \"https://accounts.google.com\", not a declared signer",
        ),
        (
            "another CA",
            Keyless {
                other_ca: true,
                ..Keyless::default()
            },
            "does not chain to a certificate authority of the trust root",
        ),
        (
            "bad SET",
            Keyless {
                bad_set: true,
                ..Keyless::default()
            },
            "signed entry timestamp (SET) does not verify",
        ),
        (
            "not valid at the log time",
            Keyless {
                integrated_time: crate::support::sigstore::SIGNED_AT + 3600,
                ..Keyless::default()
            },
            "the certificate was not valid at the signing time 2026-11-27T11:00:00Z",
        ),
        (
            "tampered signature",
            Keyless {
                tampered: true,
                ..Keyless::default()
            },
            "the signature does not verify with the certificate's key",
        ),
        (
            "another digest",
            Keyless {
                names_digest: Some(OTHER.to_string()),
                ..Keyless::default()
            },
            "signs sha256:2222",
        ),
    ];
    for (what, how, says) in cases {
        let (expected, why) = failed(check(&s, &how, &exact));
        assert_eq!(
            expected,
            format!("keyless identity \"{IDENTITY}\" with issuer \"{ISSUER}\""),
            "{what}"
        );
        assert!(why.contains(says), "{what}: {why}");
        assert!(why.starts_with("sha256-1111.sig: "), "{what}: {why}");
    }
}

#[test]
fn a_signature_whose_log_entry_records_something_else_is_refused() {
    let s = Sigstore::new();
    let exact = policy(Identity::Exact(IDENTITY.to_string()), ISSUER);
    let trust = TrustRoot::parse(&s.trusted_root()).unwrap();
    let good = layer(&s, &Keyless::default());
    let other = layer(&s, &Keyless::default());
    // The signature and certificate of one signing with the log entry of another.
    let swapped = CosignSignature {
        bundle: other.bundle.clone(),
        ..good.clone()
    };
    let signers = Signers {
        policies: std::slice::from_ref(&exact),
        keys: &[],
        trust: Some(&trust),
    };
    let (_, why) = failed(judge(DIGEST, std::slice::from_ref(&swapped), signers));
    assert!(why.contains("the log entry records another"), "{why}");
    // Any one good signature among bad ones is enough.
    assert!(matches!(
        judge(DIGEST, &[swapped, good.clone()], signers),
        Verdict::Verified(_)
    ));
    // Without the certificate's log entry there is no signing time: refused.
    let no_bundle = CosignSignature {
        bundle: None,
        ..good.clone()
    };
    let (_, why) = failed(judge(DIGEST, &[no_bundle], signers));
    assert!(why.contains("without its transparency-log entry"), "{why}");
    // No trust root: refused with a hint.
    let (_, why) = failed(judge(
        DIGEST,
        std::slice::from_ref(&good),
        Signers {
            trust: None,
            ..signers
        },
    ));
    assert!(why.contains("--trust-root FILE"), "{why}");
    // Nothing declared: unsigned, whatever is carried; declared and nothing carried: failed.
    let none = Signers {
        policies: &[],
        ..signers
    };
    assert_eq!(judge(DIGEST, &[good], none), Verdict::Unsigned);
    let (_, why) = failed(judge(DIGEST, &[], signers));
    assert_eq!(why, "no signature is carried for it");
}

#[test]
fn a_trust_root_that_is_not_one_is_refused_by_what_is_wrong() {
    let e = TrustRoot::parse(b"{\"mediaType\":\"application/json\"}").unwrap_err();
    assert!(e.contains("mediaType is \"application/json\""), "{e}");
    let e = TrustRoot::parse(b"[]").unwrap_err();
    assert!(e.contains("not a Sigstore trusted root"), "{e}");
    let s = Sigstore::new();
    let t = TrustRoot::parse(&s.trusted_root()).unwrap();
    assert_eq!(
        t.describe(),
        "certificate authorities: https://fulcio.test.invalid; transparency logs: https://rekor.test.invalid"
    );
}
