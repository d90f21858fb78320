//! Key signers (issue 18 item 3): RSA keys signing over SHA-512 (cert-manager's way: `cosign sign
//! --signature-digest-algorithm sha512`) and SHA-256, checked by `pin` and `export
//! --verify-signatures` against the real registry and again by `verify --signatures` from the bundle
//! alone; a wrong key or digest algorithm is refused saying why. The RSA keys are synthetic
//! fixtures (`tests/fixtures/keys`).

use base64::Engine as _;
use bundle::signatures::{CosignSignature, Signers, Verdict, judge};
use bundle::types::{PublicKeySource, SignatureDigest, SignedArtifacts, Signer, SigningPolicy};
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use serde_json::Value;

use crate::support::referrers::{
    SIMPLE_SIGNING, cosign_attestation, cosign_manifest, mirror_to_site, simple_signing_payload,
    tag_of,
};
use crate::support::{Image, Run, SOURCE, Variant, World, bundle_env, copy_dir, fixture};

/// `tests/fixtures/keys/NAME.key`, the private half.
fn private(name: &str) -> rsa::PrivateKey {
    let pem = std::fs::read_to_string(fixture("keys").join(format!("{name}.key"))).unwrap();
    rsa::PrivateKey::from_pkcs8_pem(&pem).unwrap()
}

/// `tests/fixtures/keys/NAME.pub`, the PEM public key.
fn public(name: &str) -> String {
    std::fs::read_to_string(fixture("keys").join(format!("{name}.pub"))).unwrap()
}

/// The SHA-256 of a PEM public key's DER form: how `bundle` names a key.
fn key_id(pem: &str) -> String {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(&der);
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// `payload` signed with RSA PKCS#1 v1.5 over `digest` (base64), as cosign signs with an RSA key.
fn rsa_sign(key: &rsa::PrivateKey, payload: &[u8], digest: SignatureDigest) -> String {
    use rsa::pkcs1v15::SigningKey;
    let raw = match digest {
        SignatureDigest::Sha256 => SigningKey::<sha2::Sha256>::new(key.clone())
            .sign(payload)
            .to_vec(),
        SignatureDigest::Sha384 => SigningKey::<sha2::Sha384>::new(key.clone())
            .sign(payload)
            .to_vec(),
        SignatureDigest::Sha512 => SigningKey::<sha2::Sha512>::new(key.clone())
            .sign(payload)
            .to_vec(),
    };
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// The `.sig` manifest of `reference` at `digest`, signed with `key` over `algorithm`.
fn rsa_signature(
    key: &rsa::PrivateKey,
    reference: &str,
    digest: &str,
    algorithm: SignatureDigest,
) -> Image {
    let payload = simple_signing_payload(reference, digest);
    let signature = rsa_sign(key, &payload, algorithm);
    cosign_manifest(&[(
        SIMPLE_SIGNING,
        payload,
        serde_json::json!({ bundle::signatures::SIGNATURE_ANNOTATION: signature }),
    )])
}

/// The `signing:` entry of a key signer (`key` is the YAML of the `key:` mapping's fields).
fn key_entry(key: &str, source: &str) -> String {
    format!(
        "signing:\n  - versions: \">=1.0.0\"\n    artifacts: images\n    key:\n{key}    source: {source}\n"
    )
}

/// The `key:` fields of a PEM key with `digest`.
fn pem_fields(pem: &str, digest: &str) -> String {
    let pem: String = pem.lines().map(|l| format!("        {l}\n")).collect();
    format!("      pem: |\n{pem}      digest: {digest}\n")
}

/// A world whose catalog (`catalog/`, a copy of the fixture) gives `kubernetes` and `app` the
/// `signing:` entries `kubernetes` and `app`; the lock is solved from it.
fn keyed_world(test: &str, kubernetes: &str, app: &str) -> Option<World> {
    let world = World::new(Variant::Plain, test, "", &[])?;
    let catalog = world.dir.join("catalog");
    copy_dir(&fixture("registry-catalog"), &catalog);
    for (file, text) in [("kubernetes.yaml", kubernetes), ("app.yaml", app)] {
        let path = catalog.join("components").join(file);
        let yaml = std::fs::read_to_string(&path).unwrap();
        let at = yaml.find("versions:\n").unwrap();
        std::fs::write(&path, format!("{}{text}{}", &yaml[..at], &yaml[at..])).unwrap();
    }
    let r = bundle_env(&world.dir, &["--catalog", "catalog", "solve"], None, &[]);
    assert_eq!(r.code, 0, "solve: {}", r.stderr);
    Some(world)
}

/// Signs `repository:tag` of the world's registry with `key` over `algorithm` (its `.sig` tag).
fn sign(world: &World, image: &str, key: &rsa::PrivateKey, algorithm: SignatureDigest) {
    let pushed = &world.pushed[image];
    let name = image.split(':').next().unwrap();
    let sig = rsa_signature(key, &format!("{SOURCE}/{name}"), &pushed.digest, algorithm);
    world.registry.push(
        &format!("{name}:{}", tag_of(&pushed.digest, Some("sig"))),
        &sig,
    );
}

/// `bundle --catalog catalog COMMAND` against the world's registry.
fn run(world: &World, command: &str, extra: &[&str]) -> Run {
    let mirror = world.mirror();
    let mut args = vec!["--catalog", "catalog", command];
    args.extend(["--registry-mirror", &mirror]);
    args.extend(["--insecure-registry", &world.registry.host]);
    args.extend_from_slice(extra);
    bundle_env(&world.dir, &args, None, &[])
}

/// `verify BUNDLE --signatures --format json`'s outcomes by image.
fn outcomes(world: &World, bundle: &str) -> serde_json::Map<String, Value> {
    let args = ["verify", bundle, "--signatures", "--format", "json", "-q"];
    let r = bundle_env(&world.dir, &args, None, &[]);
    let v: Value = serde_json::from_str(&r.stdout).expect(&r.stderr);
    v["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["image"].as_str().unwrap().to_string(), s.clone()))
        .collect()
}

#[test]
fn rsa_signatures_over_sha512_and_sha256_verify_at_pin_export_and_offline() {
    let rsa = public("rsa-4096");
    let Some(mut world) = keyed_world(
        "rsa keys",
        &key_entry(
            &pem_fields(&rsa, "sha512"),
            "https://example.test/k/signing",
        ),
        &key_entry(
            &pem_fields(&rsa, "sha256"),
            "https://example.test/a/signing",
        ),
    ) else {
        return;
    };
    let key = private("rsa-4096");
    sign(
        &world,
        "kube/apiserver:v1.30.0",
        &key,
        SignatureDigest::Sha512,
    );
    sign(&world, "team/app:v1", &key, SignatureDigest::Sha256);
    sign(&world, "team/multi:v2", &key, SignatureDigest::Sha256);

    let r = run(&world, "pin", &["--verify-signatures"]);
    assert_eq!(r.code, 0, "pin: {}", r.stderr);
    assert!(
        r.stderr
            .contains("upstream signatures: 3 image(s) verified, 0 failed, 2 unsigned"),
        "{}",
        r.stderr
    );
    let export = ["--airgap", "-o", "out", "-q", "--verify-signatures"];
    let r = run(&world, "export", &export);
    assert_eq!(r.code, 0, "export: {}", r.stderr);

    // The far side: no registry, no catalog.
    world.registry.kill();
    std::fs::remove_dir_all(world.dir.join("catalog")).unwrap();
    let r = bundle_env(&world.dir, &["verify", "out", "--signatures"], None, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = outcomes(&world, "out");
    let id = key_id(&rsa);
    let api = &v[&format!("{SOURCE}/kube/apiserver:v1.30.0")];
    assert_eq!(api["outcome"], "verified", "{api}");
    assert_eq!(
        api["signer"],
        format!("key sha256 {id} (RSA 4096, SHA-512)")
    );
    let app = &v[&format!("{SOURCE}/team/app:v1")];
    assert_eq!(
        app["signer"],
        format!("key sha256 {id} (RSA 4096, SHA-256)")
    );
    assert_eq!(v[&format!("{SOURCE}/team/multi:v2")]["outcome"], "verified");
    assert_eq!(
        v[&format!("{SOURCE}/legacy/tool:1.0")]["outcome"],
        "unsigned"
    );
}

#[test]
fn a_signature_over_another_digest_than_declared_is_refused_saying_so() {
    let rsa = public("rsa-4096");
    let Some(world) = keyed_world(
        "rsa wrong digest",
        &key_entry(
            &pem_fields(&rsa, "sha512"),
            "https://example.test/k/signing",
        ),
        "",
    ) else {
        return;
    };
    // Signed over SHA-256; the catalog says SHA-512.
    let key = private("rsa-4096");
    sign(
        &world,
        "kube/apiserver:v1.30.0",
        &key,
        SignatureDigest::Sha256,
    );
    let solved = world.lock_text();
    let r = run(&world, "pin", &["--verify-signatures", "-q"]);
    crate::messages::snap("pin_rsa_signature_over_another_digest", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(world.lock_text(), solved, "the lock is left unchanged");
    // Carried anyway, then refused by verify on the far side for the same reason.
    let r = run(&world, "export", &["--airgap", "-o", "out", "-q"]);
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    let v = outcomes(&world, "out");
    let api = &v[&format!("{SOURCE}/kube/apiserver:v1.30.0")];
    assert_eq!(api["outcome"], "failed", "{api}");
    assert!(
        api["detail"]
            .as_str()
            .unwrap()
            .contains("signed it over sha256, and sha512 is declared"),
        "{api}"
    );
}

/// A key signer's policy for the library-level checks.
fn policy(pem: &str, digest: SignatureDigest) -> SigningPolicy {
    SigningPolicy {
        component: "app".to_string(),
        version: "1.0.0".to_string(),
        artifacts: SignedArtifacts::Images,
        signers: vec![Signer::Key {
            key: PublicKeySource::Pem(pem.to_string()),
            digest,
        }],
        source: "https://example.invalid/signing".to_string(),
        repositories: vec![],
        signature_repository: None,
    }
}

#[test]
fn rsa_key_signatures_are_judged_by_key_and_digest() {
    const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let payload = simple_signing_payload("registry.test/app", DIGEST);
    let key = private("rsa-2048");
    let layer = |digest: SignatureDigest| CosignSignature {
        tag: "sha256-1111.sig".to_string(),
        subject: DIGEST.to_string(),
        payload: Some(payload.clone()),
        signature: Some(rsa_sign(&key, &payload, digest)),
        ..CosignSignature::default()
    };
    let check = |sig: CosignSignature, policy: &SigningPolicy| {
        judge(
            &[sig],
            Signers {
                policies: std::slice::from_ref(policy),
                keys: &[],
                trust: None,
            },
        )
    };
    let right = public("rsa-2048");
    for digest in [
        SignatureDigest::Sha256,
        SignatureDigest::Sha384,
        SignatureDigest::Sha512,
    ] {
        let v = check(layer(digest), &policy(&right, digest));
        assert!(matches!(v, Verdict::Verified { .. }), "{digest:?}: {v:?}");
    }
    // Another key: refused, naming the key expected.
    let other = public("rsa-4096");
    let v = check(
        layer(SignatureDigest::Sha512),
        &policy(&other, SignatureDigest::Sha512),
    );
    let Verdict::Failed { expected, why } = v else {
        panic!("{v:?}")
    };
    let id = key_id(&other);
    assert_eq!(expected, format!("key sha256 {id} (RSA 4096, SHA-512)"));
    assert_eq!(
        why,
        format!(
            "sha256-1111.sig: the signature does not verify with the key(s) (sha256 {id} (RSA 4096, SHA-512))"
        )
    );
    // The right key over another digest: refused, saying which digest it is over.
    let v = check(
        layer(SignatureDigest::Sha384),
        &policy(&right, SignatureDigest::Sha512),
    );
    let Verdict::Failed { why, .. } = v else {
        panic!("{v:?}")
    };
    assert!(
        why.ends_with(&format!(
            "key sha256 {} signed it over sha384, and sha512 is declared (the signing entry's `digest:`)",
            key_id(&right)
        )),
        "{why}"
    );
    // A tampered payload: refused.
    let mut tampered = layer(SignatureDigest::Sha512);
    tampered.payload = Some(simple_signing_payload("registry.test/other", DIGEST));
    tampered.payload.as_mut().unwrap().extend(b" ");
    let v = check(tampered, &policy(&right, SignatureDigest::Sha512));
    assert!(matches!(v, Verdict::Failed { .. }), "{v:?}");
}

/// Where the catalog says the key is (the test serves it through `--url-mirror`).
const KEY_URL: &str = "https://keys.example.test/signing/release.pem";

/// The `key:` fields of a key at [`KEY_URL`] with `sha256` and `digest`.
fn url_fields(sha256: &str, digest: &str) -> String {
    format!("      url: {KEY_URL}\n      sha256: {sha256}\n      digest: {digest}\n")
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `bundle --catalog catalog COMMAND` with the key site at `http` (one attempt per request).
fn run_with_keys(world: &World, http: &str, command: &str, extra: &[&str]) -> Run {
    let url_mirror = format!("https://keys.example.test={http}");
    let mut args = vec!["--url-mirror", &url_mirror, "--retries", "1"];
    args.extend_from_slice(extra);
    run(world, command, &args)
}

#[test]
fn a_key_declared_by_url_is_fetched_checked_carried_and_verifies_offline() {
    use crate::support::http::HttpServer;
    let rsa = public("rsa-4096");
    let Some(mut world) = keyed_world(
        "key by url",
        &key_entry(
            &url_fields(&sha256_hex(rsa.as_bytes()), "sha512"),
            "https://example.test/k/signing",
        ),
        "",
    ) else {
        return;
    };
    sign(
        &world,
        "kube/apiserver:v1.30.0",
        &private("rsa-4096"),
        SignatureDigest::Sha512,
    );
    let http = HttpServer::start();
    let path = "/signing/release.pem";

    // Another file at the URL: refused, naming the URL, what was declared and what was served.
    http.put(path, public("rsa-2048"));
    let solved = world.lock_text();
    let r = run_with_keys(&world, &http.url(), "pin", &["--verify-signatures", "-q"]);
    crate::messages::snap("pin_key_url_sha256_mismatch", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(world.lock_text(), solved);

    // The declared key: fetched once, verified at pin and export, carried.
    http.put(path, rsa.clone());
    http.clear();
    let r = run_with_keys(&world, &http.url(), "pin", &["--verify-signatures"]);
    assert_eq!(r.code, 0, "pin: {}", r.stderr);
    assert!(
        r.stderr
            .contains("upstream signatures: 1 image(s) verified, 0 failed, 4 unsigned"),
        "{}",
        r.stderr
    );
    assert_eq!(http.served(path), 1, "{:?}", http.requests());
    // export takes it from the cache the pin stored it in, and carries it.
    let export = ["--airgap", "-o", "out", "-q", "--verify-signatures"];
    let r = run_with_keys(&world, &http.url(), "export", &export);
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    assert_eq!(http.served(path), 1, "{:?}", http.requests());
    let carried_pem = |bundle: &str| {
        let r = bundle_env(
            &world.dir,
            &["inspect", bundle, "--format", "json"],
            None,
            &[],
        );
        let v: Value = serde_json::from_str(&r.stdout).expect(&r.stderr);
        v["signing"]["policies"][0]["signers"][0]["key"]["url"]["pem"].clone()
    };
    assert_eq!(carried_pem("out"), Value::String(rsa.clone()));

    // The key site down and the key not in the cache: refused with a hint, before anything is
    // exported.
    let down = http.url();
    drop(http);
    let again = [
        "--airgap",
        "-o",
        "again",
        "-q",
        "--verify-signatures",
        "--cache-dir",
        "empty-cache",
    ];
    let r = run_with_keys(&world, &down, "export", &again);
    crate::messages::snap("export_key_url_down", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!world.dir.join("again").exists());
    // Without --verify-signatures nothing is fetched: the key comes from the cache, or stays out.
    let r = run_with_keys(&world, &down, "export", &["--airgap", "-o", "plain", "-q"]);
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    assert_eq!(carried_pem("plain"), Value::String(rsa.clone()));
    let plain = ["--airgap", "-o", "bare", "-q", "--cache-dir", "empty-cache"];
    let r = run_with_keys(&world, &down, "export", &plain);
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    assert_eq!(carried_pem("bare"), Value::Null);

    // The far side: no registry, no key site, no catalog.
    world.registry.kill();
    std::fs::remove_dir_all(world.dir.join("catalog")).unwrap();
    for bundle in ["out", "plain"] {
        let v = outcomes(&world, bundle);
        let api = &v[&format!("{SOURCE}/kube/apiserver:v1.30.0")];
        assert_eq!(api["outcome"], "verified", "{bundle}: {api}");
        assert_eq!(
            api["signer"],
            format!("key sha256 {} (RSA 4096, SHA-512)", key_id(&rsa))
        );
    }
    let v = outcomes(&world, "bare");
    let api = &v[&format!("{SOURCE}/kube/apiserver:v1.30.0")];
    assert_eq!(api["outcome"], "failed", "{api}");
    assert!(
        api["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("the key at {KEY_URL} is not carried")),
        "{api}"
    );
}

/// The signature repository of the signature-repository tests.
fn signatures_repository() -> String {
    format!("{SOURCE}/team/signatures")
}

/// A world whose app component declares an RSA key over SHA-512 and its signatures in
/// [`signatures_repository`] (cosign's `COSIGN_REPOSITORY`).
fn signature_repository_world(test: &str) -> Option<World> {
    let app = key_entry(
        &pem_fields(&public("rsa-4096"), "sha512"),
        "https://example.test/a/signing",
    )
    .replacen(
        "    source:",
        &format!(
            "    signatureRepository: {}\n    source:",
            signatures_repository()
        ),
        1,
    );
    keyed_world(test, "", &app)
}

/// `pin --verify-signatures` verifies both app images: against the world's registry, or (`at`)
/// with these registry arguments instead.
fn pin_verifies_both(world: &World, at: Option<&[&str]>) {
    let r = match at {
        None => run(world, "pin", &["--verify-signatures"]),
        Some(registry) => {
            let mut args = vec!["--catalog", "catalog", "pin", "--verify-signatures"];
            args.extend_from_slice(registry);
            bundle_env(&world.dir, &args, None, &[])
        }
    };
    assert_eq!(r.code, 0, "pin {at:?}: {}", r.stderr);
    assert!(
        r.stderr
            .contains("upstream signatures: 2 image(s) verified, 0 failed, 3 unsigned"),
        "{}",
        r.stderr
    );
}

/// `export --verify-signatures` to `out`, and the entry of `out/index.json` named
/// `SIGNATURES:TAG` for each tag of `tags` (each must be there).
fn export_carries(world: &World, tags: &[&str]) -> Vec<Value> {
    let r = run(
        world,
        "export",
        &["--airgap", "-o", "out", "-q", "--verify-signatures"],
    );
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    let index: Value =
        serde_json::from_slice(&std::fs::read(world.dir.join("out/index.json")).unwrap()).unwrap();
    tags.iter()
        .map(|tag| {
            let name = format!("{}:{tag}", signatures_repository());
            index["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["annotations"]["dev.bundle.ref.name"] == name.as_str())
                .unwrap_or_else(|| panic!("{name} is not in the bundle: {index}"))
                .clone()
        })
        .collect()
}

/// `pin --verify-signatures` against the mirror at `target` (as cosign with `COSIGN_REPOSITORY`
/// set to the mapped signature repository) verifies both app images there.
fn pin_at_target_verifies_both(world: &World, target: &crate::support::Registry) {
    let at_target = format!("{SOURCE}={}/site/{SOURCE}", target.host);
    let args = [
        "--registry-mirror",
        &at_target,
        "--insecure-registry",
        &target.host,
    ];
    pin_verifies_both(world, Some(&args));
}

#[test]
fn signatures_in_a_signature_repository_are_found_carried_verified_and_mirrored_there() {
    let signatures = signatures_repository();
    let Some(mut world) = signature_repository_world("signature repository") else {
        return;
    };
    // Both images' signatures, and an attestation of the app, only in team/signatures (cosign with
    // COSIGN_REPOSITORY).
    let key = private("rsa-4096");
    let mut stored = Vec::new();
    for image in ["team/app:v1", "team/multi:v2"] {
        let pushed = &world.pushed[image];
        let name = image.split(':').next().unwrap();
        let sig = rsa_signature(
            &key,
            &format!("{SOURCE}/{name}"),
            &pushed.digest,
            SignatureDigest::Sha512,
        );
        let tag = tag_of(&pushed.digest, Some("sig"));
        world.registry.push(&format!("team/signatures:{tag}"), &sig);
        stored.push((tag, sig.digest.clone()));
    }
    let app_digest = world.pushed["team/app:v1"].digest.clone();
    let attestation = cosign_attestation();
    let att_tag = tag_of(&app_digest, Some("att"));
    world
        .registry
        .push(&format!("team/signatures:{att_tag}"), &attestation);
    stored.push((att_tag, attestation.digest.clone()));

    // pin finds them there; export carries them under the signature repository's name, linked to
    // their subjects.
    pin_verifies_both(&world, None);
    let tags: Vec<&str> = stored.iter().map(|(t, _)| t.as_str()).collect();
    for ((tag, digest), entry) in stored.iter().zip(export_carries(&world, &tags)) {
        assert_eq!(entry["digest"], digest.as_str());
        let subject = tag
            .trim_end_matches(".sig")
            .trim_end_matches(".att")
            .replacen('-', ":", 1);
        assert_eq!(entry["annotations"]["dev.bundle.referrer.subject"], subject);
        assert!(
            entry["annotations"]["dev.bundle.referrer.of"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{SOURCE}/team/")),
            "{entry}"
        );
    }

    let r = bundle_env(&world.dir, &["inspect", "out"], None, &[]);
    assert!(
        r.stdout
            .contains(&format!("; signatures in {signatures}\n")),
        "{}",
        r.stdout
    );

    // Mirrored to the signature repository's mapped target, where our own discovery (as cosign
    // with COSIGN_REPOSITORY set to it) finds and verifies them.
    let Some((target, _)) = mirror_to_site(&world, "signature repository target") else {
        return;
    };
    for (tag, digest) in &stored {
        let at = format!("site/{signatures}:{tag}");
        if let Some(d) = target.skopeo_digest(&at) {
            assert_eq!(&d, digest, "{at}");
        }
    }
    world.registry.kill();
    let r = bundle_env(&world.dir, &["verify", "out", "--signatures"], None, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = outcomes(&world, "out");
    for image in ["team/app:v1", "team/multi:v2"] {
        assert_eq!(
            v[&format!("{SOURCE}/{image}")]["outcome"],
            "verified",
            "{image}"
        );
    }
    pin_at_target_verifies_both(&world, &target);
}

/// A Sigstore v0.3 bundle signed with an RSA key and no log entry (`cosign sign --key …
/// --tlog-upload=false --new-bundle-format`): a DSSE envelope of cosign's statement naming `digest`,
/// or a message signature of the digest itself, both over `algorithm`.
fn rsa_bundle(
    key: &rsa::PrivateKey,
    digest: &str,
    dsse: bool,
    algorithm: SignatureDigest,
) -> Vec<u8> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let hex = digest.trim_start_matches("sha256:");
    let mut doc = serde_json::json!({
        "mediaType": crate::support::sigstore_bundle::BUNDLE_V03,
        "verificationMaterial": {"publicKey": {"hint": "rsa"}, "tlogEntries": []},
    });
    if dsse {
        let statement = serde_json::to_vec(&serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "registry.test/app", "digest": {"sha256": hex}}],
            "predicateType": "https://sigstore.dev/cosign/sign/v1",
            "predicate": {},
        }))
        .unwrap();
        let kind = "application/vnd.in-toto+json";
        let mut pae = format!("DSSEv1 {} {kind} {} ", kind.len(), statement.len()).into_bytes();
        pae.extend_from_slice(&statement);
        doc["dsseEnvelope"] = serde_json::json!({
            "payload": b64(&statement), "payloadType": kind,
            "signatures": [{"sig": rsa_sign(key, &pae, algorithm), "keyid": ""}],
        });
    } else {
        // A message signature signs the digest as the prehash: PKCS#1 v1.5 over SHA-256 of it.
        use rsa::pkcs1v15::SigningKey;
        use rsa::signature::hazmat::PrehashSigner as _;
        let raw: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let signature = SigningKey::<sha2::Sha256>::new(key.clone())
            .sign_prehash(&raw)
            .unwrap()
            .to_vec();
        doc["messageSignature"] = serde_json::json!({
            "messageDigest": {"algorithm": "SHA2_256", "digest": b64(&raw)},
            "signature": b64(&signature),
        });
    }
    serde_json::to_vec(&doc).unwrap()
}

/// Sigstore bundles are judged by the same declared keys as `.sig` layers: an RSA key over the
/// declared digest verifies a DSSE bundle (over SHA-512, cert-manager's way) and a message
/// signature (over SHA-256), and a bundle over another digest than declared is refused saying so.
#[test]
fn rsa_key_sigstore_bundles_are_judged_by_the_declared_key_and_digest() {
    use bundle::signatures::{BundleSignature, Scheme, judge_all};
    const DIGEST: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
    let key = private("rsa-4096");
    let pem = public("rsa-4096");
    let judged = |bundle: Vec<u8>, digest: SignatureDigest| {
        let policy = policy(&pem, digest);
        let b = BundleSignature::new("sha256:ab", DIGEST, Some(bundle));
        judge_all(
            &[],
            &[b],
            Signers {
                policies: std::slice::from_ref(&policy),
                keys: &[],
                trust: None,
            },
        )
    };
    let id = key_id(&pem);
    let sha512 = rsa_bundle(&key, DIGEST, true, SignatureDigest::Sha512);
    assert_eq!(
        judged(sha512.clone(), SignatureDigest::Sha512),
        Verdict::Verified {
            signer: format!("key sha256 {id} (RSA 4096, SHA-512)"),
            scheme: Scheme::SigstoreBundle,
        }
    );
    let message = rsa_bundle(&key, DIGEST, false, SignatureDigest::Sha256);
    assert_eq!(
        judged(message.clone(), SignatureDigest::Sha256),
        Verdict::Verified {
            signer: format!("key sha256 {id} (RSA 4096, SHA-256)"),
            scheme: Scheme::SigstoreBundle,
        }
    );
    for (bundle, declared, signed) in [
        (sha512, SignatureDigest::Sha256, "sha512"),
        (message, SignatureDigest::Sha512, "sha256"),
    ] {
        let Verdict::Failed { why, .. } = judged(bundle, declared) else {
            panic!("a bundle over {signed} passed with {declared:?} declared");
        };
        assert!(
            why.contains(&format!(
                "key sha256 {id} signed it over {signed}, and {} is declared",
                declared.name()
            )),
            "{why}"
        );
    }
}

/// cosign v3 with `COSIGN_REPOSITORY` (kyverno from 1.16.4): the Sigstore bundles are OCI referrers
/// of the image's digest in the signature repository, with nothing next to the image. `pin` finds
/// and verifies them there, `export` carries them under that repository's name, `verify
/// --signatures` verifies them offline, and `mirror` puts them at that repository's mapped target.
#[test]
fn sigstore_bundles_in_a_signature_repository_are_found_carried_verified_and_mirrored_there() {
    use crate::support::referrers::referrers_index;
    use crate::support::sigstore_bundle::{BUNDLE_V03, bundle_referrer};
    let Some(mut world) = signature_repository_world("bundles in a signature repository") else {
        return;
    };
    let key = private("rsa-4096");
    let mut listings = Vec::new();
    for image in ["team/app:v1", "team/multi:v2"] {
        let pushed = world.pushed[image].clone();
        let bundle = rsa_bundle(&key, &pushed.digest, true, SignatureDigest::Sha512);
        let referrer = bundle_referrer(&pushed, &bundle);
        world.registry.push_untagged("team/signatures", &referrer);
        let index = referrers_index(&[&referrer], &[BUNDLE_V03]);
        let tag = tag_of(&pushed.digest, None);
        world
            .registry
            .push(&format!("team/signatures:{tag}"), &index);
        listings.push((tag, pushed.digest.clone()));
    }

    pin_verifies_both(&world, None);
    let tags: Vec<&str> = listings.iter().map(|(t, _)| t.as_str()).collect();
    for ((_, subject), entry) in listings.iter().zip(export_carries(&world, &tags)) {
        assert_eq!(
            entry["annotations"]["dev.bundle.referrer.subject"],
            subject.as_str()
        );
    }
    let Some((target, _)) = mirror_to_site(&world, "bundles in a signature repository target")
    else {
        return;
    };
    world.registry.kill();
    let r = bundle_env(&world.dir, &["verify", "out", "--signatures"], None, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = outcomes(&world, "out");
    for image in ["team/app:v1", "team/multi:v2"] {
        let o = &v[&format!("{SOURCE}/{image}")];
        assert_eq!(o["outcome"], "verified", "{image}: {o}");
        assert_eq!(o["scheme"], "sigstore-bundle", "{image}: {o}");
    }
    // At the target: our own discovery, pointed at the mirror, finds the bundles in the mapped
    // signature repository and verifies them.
    pin_at_target_verifies_both(&world, &target);
}
