//! Keyless (and key) verification of cosign signatures against declared signers (issue 18 item 3),
//! through the library with the harness's own test Sigstore (support/sigstore.rs): a good signature
//! verifies by its identity; each way a signature can be wrong is refused with what was expected and
//! why.

use bundle::signatures::{CosignSignature, Scheme, Signers, TrustRoot, Verdict, judge};
use bundle::types::{Identity, Signer, SigningPolicy};

use crate::support::sigstore::{
    IDENTITY, ISSUER, Keyless, Sigstore, assert_needs_trust_root_and_declaration, image_policy,
};

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const OTHER: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn policy(identity: Identity, issuer: &str) -> SigningPolicy {
    image_policy(Signer::Keyless {
        identity,
        issuer: issuer.to_string(),
    })
}

fn layer(sigstore: &Sigstore, how: &Keyless) -> CosignSignature {
    let (payload, annotations) = sigstore.sign("registry.test/app", DIGEST, how);
    CosignSignature::from_annotations("sha256-1111.sig", DIGEST, Some(payload), |k| {
        annotations[k].as_str()
    })
}

fn check(sigstore: &Sigstore, how: &Keyless, policy: &SigningPolicy) -> Verdict {
    let trust = TrustRoot::parse(&sigstore.trusted_root()).expect("the test trust root reads");
    judge(
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
        Verdict::Verified {
            signer: format!("keyless \"{IDENTITY}\" with issuer \"{ISSUER}\""),
            scheme: Scheme::CosignTag,
        }
    );
    let pattern = policy(
        Identity::Pattern(r"https://github\.com/example/app/\.github/workflows/.*".to_string()),
        ISSUER,
    );
    assert!(matches!(
        check(&s, &Keyless::default(), &pattern),
        Verdict::Verified { .. }
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
    assert!(matches!(
        check(&s, &email, &by_email),
        Verdict::Verified { .. }
    ));
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
    let (_, why) = failed(judge(std::slice::from_ref(&swapped), signers));
    assert!(why.contains("the log entry records another"), "{why}");
    // Any one good signature among bad ones is enough.
    assert!(matches!(
        judge(&[swapped, good.clone()], signers),
        Verdict::Verified { .. }
    ));
    // Without the certificate's log entry there is no signing time: refused.
    let no_bundle = CosignSignature {
        bundle: None,
        ..good.clone()
    };
    let (_, why) = failed(judge(&[no_bundle], signers));
    assert!(why.contains("without its transparency-log entry"), "{why}");
    // No trust root: refused with a hint; nothing declared: unsigned, whatever is carried.
    assert_needs_trust_root_and_declaration(signers, |s| judge(std::slice::from_ref(&good), s));
    // Declared and nothing carried: failed.
    let (_, why) = failed(judge(&[], signers));
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

/// The world's images signed as a catalog declares: `app` keyless (team/app:v1 and team/multi:v2,
/// by [`IDENTITY`] from [`ISSUER`]), `kubernetes` with a key (kube/apiserver), `legacy` nothing.
/// The catalog (a copy of the fixture with `signing:` added) is `catalog/`, the lock solved from it,
/// the trust root `trusted_root.json`.
fn signed_world(test: &str) -> Option<(crate::support::World, Sigstore)> {
    use crate::support::SOURCE;
    use crate::support::referrers::{cosign_manifest, cosign_signature, tag_of};
    let (world, sigstore, key) = declared_world(test)?;
    let reg = &world.registry;
    for repo in ["team/app:v1", "team/multi:v2"] {
        let image = &world.pushed[repo];
        let name = repo.split(':').next().unwrap();
        let (payload, annotations) = sigstore.sign(
            &format!("{SOURCE}/{name}"),
            &image.digest,
            &Keyless::default(),
        );
        let sig = cosign_manifest(&[(bundle::signatures::SIMPLE_SIGNING, payload, annotations)]);
        reg.push(
            &format!("{name}:{}", tag_of(&image.digest, Some("sig"))),
            &sig,
        );
    }
    let api = &world.pushed["kube/apiserver:v1.30.0"];
    let sig = cosign_signature(
        &key,
        &format!("{SOURCE}/kube/apiserver"),
        &api.digest,
        false,
    );
    reg.push(
        &format!("kube/apiserver:{}", tag_of(&api.digest, Some("sig"))),
        &sig,
    );
    Some((world, sigstore))
}

/// The world and catalog of [`signed_world`] with nothing signed yet: the catalog's declarations,
/// the solved lock, the trust root, and the key `kubernetes` declares.
pub(crate) fn declared_world(
    test: &str,
) -> Option<(crate::support::World, Sigstore, p256::ecdsa::SigningKey)> {
    use crate::support::referrers::signing_key;
    use crate::support::{Variant, World, bundle_env, copy_dir, fixture};
    let world = World::new(Variant::Plain, test, "", &[])?;
    let sigstore = Sigstore::new();
    let catalog = world.dir.join("catalog");
    copy_dir(&fixture("registry-catalog"), &catalog);
    let (key, public) = signing_key(21);
    let append = |file: &str, text: String| {
        let path = catalog.join("components").join(file);
        let mut yaml = std::fs::read_to_string(&path).unwrap();
        yaml.push_str(&text);
        std::fs::write(path, yaml).unwrap();
    };
    append(
        "app.yaml",
        format!(
            "signing:\n  - versions: \">=1.0.0\"\n    artifacts: images\n    keyless:\n      \
             identity: {IDENTITY}\n      issuer: {ISSUER}\n    source: https://example.test/app/signing\n"
        ),
    );
    let pem: String = public.lines().map(|l| format!("        {l}\n")).collect();
    append(
        "kubernetes.yaml",
        format!(
            "signing:\n  - versions: \">=1.0.0\"\n    artifacts: images\n    key:\n      pem: |\n{pem}    \
             source: https://example.test/kubernetes/signing\n"
        ),
    );
    std::fs::write(world.dir.join("trusted_root.json"), sigstore.trusted_root()).unwrap();
    let r = bundle_env(&world.dir, &["--catalog", "catalog", "solve"], None, &[]);
    assert_eq!(r.code, 0, "solve: {}", r.stderr);
    Some((world, sigstore, key))
}

/// `bundle --catalog catalog COMMAND` against the world's registry.
pub(crate) fn run(
    world: &crate::support::World,
    command: &str,
    extra: &[&str],
) -> crate::support::Run {
    let mirror = world.mirror();
    let mut args = vec![
        "--catalog",
        "catalog",
        command,
        "--registry-mirror",
        &mirror,
    ];
    args.extend(["--insecure-registry", &world.registry.host]);
    args.extend_from_slice(extra);
    crate::support::bundle_env(&world.dir, &args, None, &[])
}

/// `bundle verify BUNDLE --signatures`: nothing else.
pub(crate) fn verify_signatures(
    world: &crate::support::World,
    bundle: &str,
) -> crate::support::Run {
    let args = ["verify", bundle, "--signatures", "-q"];
    crate::support::bundle_env(&world.dir, &args, None, &[])
}

pub(crate) fn outcomes(world: &crate::support::World, bundle: &str) -> serde_json::Value {
    let args = ["verify", bundle, "--signatures", "--format", "json", "-q"];
    let r = crate::support::bundle_env(&world.dir, &args, None, &[]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect(&r.stderr);
    v["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let image = s["image"].as_str().unwrap().to_string();
            (image, s.clone())
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[test]
fn keyless_and_key_signatures_verify_at_export_and_again_offline_from_the_bundle_alone() {
    let Some((mut world, _sigstore)) = signed_world("keyless export") else {
        return;
    };
    // Keyless signers declared and no trust root: refused before anything is fetched, with a hint.
    let export = ["--airgap", "-o", "out", "-q", "--verify-signatures"];
    let r = run(&world, "export", &export);
    crate::messages::snap("export_keyless_needs_a_trust_root", &r);
    assert!(!world.dir.join("out").exists());

    let mut with_root = export.to_vec();
    with_root.extend(["--trust-root", "trusted_root.json"]);
    let r = run(&world, "export", &with_root);
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    let r = crate::support::bundle_env(&world.dir, &["inspect", "out"], None, &[]);
    assert!(r.stdout.contains("trust root: sha256 "), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!(
            "app 1.0.0 (images): keyless identity \"{IDENTITY}\" with issuer \"{ISSUER}\""
        )),
        "{}",
        r.stdout
    );

    // Far side: no registry, no catalog, no flags.
    world.registry.kill();
    std::fs::remove_dir_all(world.dir.join("catalog")).unwrap();
    let r = verify_signatures(&world, "out");
    crate::messages::snap("verify_keyless_signatures_offline", &r);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_signed_world_verified(&outcomes(&world, "out"), None);
}

/// The signed world's verdicts, as `verify --signatures` gives them offline: both team images
/// verified by the keyless identity, the apiserver by its key, the legacy tool unsigned; every
/// verified one by `scheme` when given.
pub(crate) fn assert_signed_world_verified(v: &serde_json::Value, scheme: Option<&str>) {
    use crate::support::SOURCE;
    let keyless = format!("keyless \"{IDENTITY}\" with issuer \"{ISSUER}\"");
    for (image, signer) in [
        ("team/app:v1", Some(keyless.as_str())),
        ("team/multi:v2", Some(keyless.as_str())),
        ("kube/apiserver:v1.30.0", None),
    ] {
        let o = &v[&format!("{SOURCE}/{image}")];
        assert_eq!(o["outcome"], "verified", "{image}: {o}");
        match signer {
            Some(s) => assert_eq!(o["signer"], s, "{image}: {o}"),
            None => assert!(
                o["signer"].as_str().unwrap().starts_with("key sha256 "),
                "{image}: {o}"
            ),
        }
        if let Some(scheme) = scheme {
            assert_eq!(o["scheme"], scheme, "{image}: {o}");
        }
    }
    assert_eq!(
        v[&format!("{SOURCE}/legacy/tool:1.0")]["outcome"],
        "unsigned"
    );
}

#[test]
fn a_declared_image_without_a_valid_signature_is_refused_naming_it_and_the_expected_signer() {
    use crate::support::SOURCE;
    use crate::support::referrers::{cosign_manifest, tag_of};
    let Some((world, sigstore)) = signed_world("keyless refusals") else {
        return;
    };
    // team/multi:v2 signed by another identity.
    let multi = &world.pushed["team/multi:v2"];
    let wrong = Keyless {
        identity: "https://github.com/mallory/app/.github/workflows/release.yml@refs/heads/main"
            .to_string(),
        ..Keyless::default()
    };
    let (payload, annotations) =
        sigstore.sign(&format!("{SOURCE}/team/multi"), &multi.digest, &wrong);
    let sig = cosign_manifest(&[(bundle::signatures::SIMPLE_SIGNING, payload, annotations)]);
    world.registry.push(
        &format!("team/multi:{}", tag_of(&multi.digest, Some("sig"))),
        &sig,
    );
    let base = ["--airgap", "-q", "--trust-root", "trusted_root.json"];
    let mut checked = base.to_vec();
    checked.extend(["-o", "checked", "--verify-signatures"]);
    let r = run(&world, "export", &checked);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("{SOURCE}/team/multi:v2: no valid signature (expected keyless identity \"{IDENTITY}\" with issuer \"{ISSUER}\")")),
        "{}",
        r.stderr
    );
    // Carried unchecked, then refused by verify on the far side.
    let mut plain = base.to_vec();
    plain.extend(["-o", "plain"]);
    let r = run(&world, "export", &plain);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = verify_signatures(&world, "plain");
    crate::messages::snap("verify_keyless_wrong_identity", &r);
    assert_eq!(r.code, 1);
    let v = outcomes(&world, "plain");
    let m = &v[&format!("{SOURCE}/team/multi:v2")];
    assert_eq!(m["outcome"], "failed");
    assert_eq!(
        m["expected"],
        format!("keyless identity \"{IDENTITY}\" with issuer \"{ISSUER}\"")
    );
    assert!(m["detail"].as_str().unwrap().contains("mallory"), "{m}");
    assert_eq!(v[&format!("{SOURCE}/team/app:v1")]["outcome"], "verified");
}

#[test]
fn pin_verify_signatures_checks_what_it_pins_before_writing_the_lock() {
    use crate::support::SOURCE;
    use crate::support::referrers::{cosign_manifest, tag_of};
    let Some((world, sigstore)) = signed_world("keyless pin") else {
        return;
    };
    let solved = std::fs::read_to_string(world.dir.join("bundle.lock")).unwrap();
    let r = run(&world, "pin", &["-q", "--verify-signatures"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no trust root is given"), "{}", r.stderr);
    let pin = ["--verify-signatures", "--trust-root", "trusted_root.json"];
    let r = run(&world, "pin", &pin);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("upstream signatures: 3 image(s) verified, 0 failed, 2 unsigned"),
        "{}",
        r.stderr
    );
    let app = &world.pushed["team/app:v1"];
    assert!(world.lock_text().contains(&app.digest));

    // A signature whose log entry's SET does not verify: the pin fails naming the image, and the
    // lock is left as it was.
    std::fs::write(world.dir.join("bundle.lock"), &solved).unwrap();
    let bad = Keyless {
        bad_set: true,
        ..Keyless::default()
    };
    let (payload, annotations) = sigstore.sign(&format!("{SOURCE}/team/app"), &app.digest, &bad);
    let sig = cosign_manifest(&[(bundle::signatures::SIMPLE_SIGNING, payload, annotations)]);
    world.registry.push(
        &format!("team/app:{}", tag_of(&app.digest, Some("sig"))),
        &sig,
    );
    let mut quiet = pin.to_vec();
    quiet.push("-q");
    let r = run(&world, "pin", &quiet);
    crate::messages::snap("pin_keyless_bad_set", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(world.lock_text(), solved);
}
