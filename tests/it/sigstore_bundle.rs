//! Sigstore bundles (cosign v3's OCI referrers) verified against declared signers (issue 18, item
//! 3/4): through the library with the harness's own Sigstore (support/sigstore_bundle.rs) — every
//! content, material and log-entry form that must hold does, and each way a bundle can be wrong is
//! refused saying why (snapshotted) — and end to end against the real registry: found by `pin
//! --verify-signatures` and `export`, carried, and verified again offline from the bundle alone.

use bundle::signatures::{
    BundleSignature, Scheme, Signers, TrustRoot, Verdict, judge_all, keys::public_key_from_pem,
};
use bundle::types::{Identity, PublicKeySource, Signer, SigningPolicy};

use crate::support::sigstore::{
    IDENTITY, ISSUER, Keyless, SIGNED_AT, Sigstore, assert_needs_trust_root_and_declaration,
    image_policy as policy,
};
use crate::support::sigstore_bundle::{BundleHow, Content};

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const OTHER: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const REFERRER: &str = "sha256:abcdefabcdef0000000000000000000000000000000000000000000000000000";

fn keyless_policy() -> SigningPolicy {
    policy(Signer::Keyless {
        identity: Identity::Exact(IDENTITY.to_string()),
        issuer: ISSUER.to_string(),
    })
}

fn check(sigstore: &Sigstore, how: &BundleHow, policy: &SigningPolicy) -> Verdict {
    let trust = TrustRoot::parse(&sigstore.trusted_root()).expect("the test trust root reads");
    let b = BundleSignature::new(REFERRER, DIGEST, Some(sigstore.bundle(DIGEST, how)));
    judge_all(
        &[],
        &[b],
        Signers {
            policies: std::slice::from_ref(policy),
            keys: &[],
            trust: Some(&trust),
        },
    )
}

fn key_pair() -> (p256::ecdsa::SigningKey, String) {
    crate::support::referrers::signing_key(33)
}

#[test]
fn keyless_and_key_bundles_verify_with_a_message_signature_or_dsse_and_a_set_or_proof() {
    let s = Sigstore::new();
    let by_identity = format!("keyless \"{IDENTITY}\" with issuer \"{ISSUER}\"");
    for content in [Content::Dsse, Content::Message] {
        for (set, proof) in [(true, true), (true, false)] {
            let how = BundleHow {
                content,
                set,
                proof,
                ..BundleHow::default()
            };
            assert_eq!(
                check(&s, &how, &keyless_policy()),
                Verdict::Verified {
                    signer: by_identity.clone(),
                    scheme: Scheme::SigstoreBundle
                },
                "{content:?} set {set} proof {proof}"
            );
        }
    }
    // A v0.2 bundle with the leaf first in its x509CertificateChain.
    let v02 = BundleHow {
        v02_chain: true,
        ..BundleHow::default()
    };
    assert!(matches!(
        check(&s, &v02, &keyless_policy()),
        Verdict::Verified { .. }
    ));
    let (key, public) = key_pair();
    let by_key = policy(Signer::Key {
        key: PublicKeySource::Pem(public.clone()),
        digest: Default::default(),
    });
    let id = public_key_from_pem(&public).unwrap().id();
    for content in [Content::Dsse, Content::Message] {
        let how = BundleHow {
            content,
            key: Some(key.clone()),
            ..BundleHow::default()
        };
        assert_eq!(
            check(&s, &how, &by_key),
            Verdict::Verified {
                signer: format!("key sha256 {id}"),
                scheme: Scheme::SigstoreBundle
            },
            "{content:?}"
        );
    }
}

#[test]
fn each_wrong_bundle_is_refused_saying_why() {
    let s = Sigstore::new();
    let wrong = |keyless: Keyless| BundleHow {
        keyless,
        ..BundleHow::default()
    };
    let cases: Vec<(&str, BundleHow)> = vec![
        (
            "wrong identity",
            wrong(Keyless {
                identity: "https://github.com/mallory/app/.github/workflows/x.yml@refs/heads/main"
                    .to_string(),
                ..Keyless::default()
            }),
        ),
        (
            "wrong issuer",
            wrong(Keyless {
                issuer: "https://accounts.google.com".to_string(),
                ..Keyless::default()
            }),
        ),
        (
            "bad inclusion proof",
            BundleHow {
                flip_proof_hash: true,
                ..BundleHow::default()
            },
        ),
        (
            "checkpoint signed by another key",
            BundleHow {
                checkpoint_by_other_key: true,
                ..BundleHow::default()
            },
        ),
        (
            "checkpoint root is not the proof's",
            BundleHow {
                checkpoint_other_root: true,
                ..BundleHow::default()
            },
        ),
        (
            "statement names another digest",
            wrong(Keyless {
                names_digest: Some(OTHER.to_string()),
                ..Keyless::default()
            }),
        ),
        (
            "message signature of another digest",
            BundleHow {
                content: Content::Message,
                ..wrong(Keyless {
                    names_digest: Some(OTHER.to_string()),
                    ..Keyless::default()
                })
            },
        ),
        (
            "tampered signature",
            wrong(Keyless {
                tampered: true,
                ..Keyless::default()
            }),
        ),
        (
            "certificate not valid at the log time",
            wrong(Keyless {
                integrated_time: SIGNED_AT + 3600,
                ..Keyless::default()
            }),
        ),
        (
            "bad SET",
            wrong(Keyless {
                bad_set: true,
                ..Keyless::default()
            }),
        ),
        (
            "certificate from another CA",
            wrong(Keyless {
                other_ca: true,
                ..Keyless::default()
            }),
        ),
        (
            "inclusion proof only: no signed time",
            BundleHow {
                set: false,
                ..BundleHow::default()
            },
        ),
        (
            "Rekor v2 entry with an RFC 3161 timestamp",
            BundleHow {
                rekor_v2: true,
                ..BundleHow::default()
            },
        ),
    ];
    let mut transcript = String::new();
    for (what, how) in cases {
        match check(&s, &how, &keyless_policy()) {
            Verdict::Failed { expected, why } => {
                assert_eq!(
                    expected,
                    format!("keyless identity \"{IDENTITY}\" with issuer \"{ISSUER}\""),
                    "{what}"
                );
                assert!(
                    why.starts_with("bundle sha256:abcdefabcdef: "),
                    "{what}: {why}"
                );
                transcript.push_str(&format!("{what}:\n  {why}\n"));
            }
            other => panic!("{what}: expected a refusal, got {other:?}"),
        }
    }
    insta::assert_snapshot!("bundle_refusals", transcript);
}

#[test]
fn a_bundle_without_a_declared_signer_or_trust_root_or_content_is_refused_or_unsigned() {
    let s = Sigstore::new();
    let trust = TrustRoot::parse(&s.trusted_root()).unwrap();
    let good = BundleSignature::new(
        REFERRER,
        DIGEST,
        Some(s.bundle(DIGEST, &BundleHow::default())),
    );
    let declared = keyless_policy();
    let signers = Signers {
        policies: std::slice::from_ref(&declared),
        keys: &[],
        trust: Some(&trust),
    };
    let why = |v: Verdict| match v {
        Verdict::Failed { why, .. } => why,
        other => panic!("expected a refusal, got {other:?}"),
    };
    // No trust root: refused with the flag to give; nothing declared and no key given: a keyless
    // bundle leaves the image unsigned.
    assert_needs_trust_root_and_declaration(signers, |s| {
        judge_all(&[], std::slice::from_ref(&good), s)
    });
    // A key bundle with a Rekor v2 entry, checked against the trust root: refused by name.
    let (key, public) = key_pair();
    let by_key = policy(Signer::Key {
        key: PublicKeySource::Pem(public),
        digest: Default::default(),
    });
    let v2 = BundleHow {
        key: Some(key),
        rekor_v2: true,
        ..BundleHow::default()
    };
    let e = why(check(&s, &v2, &by_key));
    assert!(
        e.contains(
            "a Rekor v2 log entry (dsse 0.0.2): it needs an RFC 3161 timestamp, not supported yet"
        ),
        "{e}"
    );
    // A bundle of another subject, a bundle that is not JSON, one not carried.
    let other = BundleSignature::new(REFERRER, OTHER, good.bytes.clone());
    assert!(why(judge_all(&[], &[other], signers)).contains("not this image's sha256:2222"));
    let junk = BundleSignature::new(REFERRER, DIGEST, Some(b"{}".to_vec()));
    assert!(why(judge_all(&[], &[junk], signers)).contains("not a Sigstore bundle"));
    let missing = BundleSignature::new(REFERRER, DIGEST, None);
    assert!(why(judge_all(&[], &[missing], signers)).contains("not carried"));
    // One good bundle among bad ones is enough.
    let bad = BundleSignature::new(REFERRER, DIGEST, Some(b"{}".to_vec()));
    assert!(matches!(
        judge_all(&[], &[bad, good], signers),
        Verdict::Verified {
            scheme: Scheme::SigstoreBundle,
            ..
        }
    ));
}

/// Attaches `bundle` to `image` of `repository` as an OCI 1.1 referrer, listed by the referrers tag
/// schema's index (the test registry has no referrers API); a second call replaces the listing.
fn attach(
    reg: &crate::support::Registry,
    repository: &str,
    image: &crate::support::Image,
    bundle: &[u8],
) {
    use crate::support::referrers::{referrers_index, tag_of};
    use crate::support::sigstore_bundle::{BUNDLE_V03, bundle_referrer};
    let referrer = bundle_referrer(image, bundle);
    reg.push_untagged(repository, &referrer);
    let index = referrers_index(&[&referrer], &[BUNDLE_V03]);
    reg.push(
        &format!("{repository}:{}", tag_of(&image.digest, None)),
        &index,
    );
}

#[test]
fn bundles_found_as_referrers_verify_at_pin_and_export_and_offline_and_a_wrong_one_is_refused() {
    use crate::keyless::{declared_world, outcomes, run, verify_signatures};
    use crate::support::SOURCE;
    let Some((mut world, sigstore, key)) = declared_world("sigstore bundles") else {
        return;
    };
    let app = world.pushed["team/app:v1"].clone();
    let multi = world.pushed["team/multi:v2"].clone();
    let api = world.pushed["kube/apiserver:v1.30.0"].clone();
    // app: keyless DSSE (cosign v3's default); multi (an index): keyless message signature;
    // apiserver: DSSE by the declared key. No `.sig` tag anywhere.
    let reg = &world.registry;
    attach(
        reg,
        "team/app",
        &app,
        &sigstore.bundle(&app.digest, &BundleHow::default()),
    );
    let message = BundleHow {
        content: Content::Message,
        ..BundleHow::default()
    };
    attach(
        reg,
        "team/multi",
        &multi,
        &sigstore.bundle(&multi.digest, &message),
    );
    let by_key = BundleHow {
        key: Some(key),
        ..BundleHow::default()
    };
    attach(
        reg,
        "kube/apiserver",
        &api,
        &sigstore.bundle(&api.digest, &by_key),
    );

    let root = ["--trust-root", "trusted_root.json"];
    let pin = [&["--verify-signatures", "--format", "json"][..], &root].concat();
    let r = run(&world, "pin", &pin);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("upstream signatures: 3 image(s) verified, 0 failed, 2 unsigned"),
        "{}",
        r.stderr
    );
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect(&r.stdout);
    let pinned: Vec<(&str, &str)> = json["signatures"]
        .as_array()
        .expect("pin --format json lists the signature outcomes")
        .iter()
        .filter(|o| o["outcome"] == "verified")
        .map(|o| (o["image"].as_str().unwrap(), o["scheme"].as_str().unwrap()))
        .collect();
    assert_eq!(pinned.len(), 3, "{json}");
    assert!(
        pinned.iter().all(|(_, s)| *s == "sigstore-bundle"),
        "{json}"
    );
    let export = ["--airgap", "-q", "--trust-root", "trusted_root.json"];
    let r = run(
        &world,
        "export",
        &[&export[..], &["-o", "out", "--verify-signatures"]].concat(),
    );
    assert_eq!(r.code, 0, "export: {}", r.stderr);

    // multi signed by another identity: exported unchecked, refused on the far side.
    let wrong = BundleHow {
        keyless: Keyless {
            identity:
                "https://github.com/mallory/app/.github/workflows/release.yml@refs/heads/main"
                    .to_string(),
            ..Keyless::default()
        },
        ..message
    };
    attach(
        reg,
        "team/multi",
        &multi,
        &sigstore.bundle(&multi.digest, &wrong),
    );
    let r = run(&world, "export", &[&export[..], &["-o", "wrong"]].concat());
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    // A valid bundle of one of multi's platform manifests (a subject too) is enough.
    let platform = &multi.children[0];
    attach(
        reg,
        "team/multi",
        platform,
        &sigstore.bundle(&platform.digest, &BundleHow::default()),
    );
    let r = run(
        &world,
        "export",
        &[&export[..], &["-o", "platform"]].concat(),
    );
    assert_eq!(r.code, 0, "export: {}", r.stderr);

    // Far side: no registry, no catalog, no flags.
    world.registry.kill();
    std::fs::remove_dir_all(world.dir.join("catalog")).unwrap();
    let r = verify_signatures(&world, "out");
    crate::messages::snap("verify_sigstore_bundles_offline", &r);
    assert_eq!(r.code, 0, "{}", r.stderr);
    crate::keyless::assert_signed_world_verified(&outcomes(&world, "out"), Some("sigstore-bundle"));

    let r = verify_signatures(&world, "wrong");
    crate::messages::snap("verify_sigstore_bundle_wrong_identity", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = outcomes(&world, "wrong");
    let m = &v[&format!("{SOURCE}/team/multi:v2")];
    assert_eq!(m["outcome"], "failed", "{m}");
    let detail = m["detail"].as_str().unwrap();
    assert!(detail.starts_with("bundle sha256:"), "{detail}");
    assert!(
        detail.contains("signed by identity \"https://github.com/mallory"),
        "{detail}"
    );
    assert_eq!(v[&format!("{SOURCE}/team/app:v1")]["outcome"], "verified");
    let v = outcomes(&world, "platform");
    let m = &v[&format!("{SOURCE}/team/multi:v2")];
    assert_eq!(
        (&m["outcome"], &m["scheme"]),
        (&"verified".into(), &"sigstore-bundle".into()),
        "{m}"
    );
}
