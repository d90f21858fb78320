//! The bundle's own signature (issue 18 item 5): `export --sign-key` (a PKCS#8 key, and cosign's
//! encrypted key format with COSIGN_PASSWORD), `verify --key`, and `mirror --require-signature --key`
//! refusing an unsigned or wrongly signed bundle before anything is pushed (real registries).

use std::path::Path;

use base64::Engine as _;
use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};

use crate::support::{Registry, Run, Variant, World, bundle_env};

/// A P-256 key from a fixed seed (the same key every run: snapshots name keys by their hash).
fn secret(seed: u8) -> p256::SecretKey {
    let mut bytes = [seed; 32];
    bytes[0] = 1;
    p256::SecretKey::from_slice(&bytes).unwrap()
}

/// Writes NAME.key (PKCS#8 PEM) and NAME.pub (PKIX PEM).
fn write_key(dir: &Path, name: &str, seed: u8) {
    let key = secret(seed);
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), pem.as_bytes()).unwrap();
    let public = key.public_key().to_public_key_pem(LineEnding::LF).unwrap();
    std::fs::write(dir.join(format!("{name}.pub")), public).unwrap();
}

/// Writes `cosign.key` the way `cosign generate-key-pair` does: the PKCS#8 DER sealed with
/// nacl/secretbox under scrypt(password) (a small N keeps the test fast; cosign writes N = 32768).
fn write_cosign_key(dir: &Path, seed: u8, password: &str) {
    use crypto_secretbox::aead::{Aead as _, KeyInit as _};
    let der = secret(seed).to_pkcs8_der().unwrap();
    let (salt, nonce) = ([7u8; 32], [9u8; 24]);
    let params = scrypt::Params::new(10, 8, 1, 32).unwrap();
    let mut key = [0u8; 32];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key).unwrap();
    let sealed = crypto_secretbox::XSalsa20Poly1305::new(&key.into())
        .encrypt(&nonce.into(), der.as_bytes())
        .unwrap();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let json = serde_json::json!({
        "kdf": {"name": "scrypt", "params": {"N": 1024, "r": 8, "p": 1}, "salt": b64(&salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": b64(&nonce)},
        "ciphertext": b64(&sealed),
    });
    let body = b64(&serde_json::to_vec(&json).unwrap());
    let mut pem = String::from("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n");
    for chunk in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n");
    std::fs::write(dir.join("cosign.key"), pem).unwrap();
}

fn run(dir: &Path, args: &[&str]) -> Run {
    bundle_env(dir, args, None, &[])
}

fn mirror(dir: &Path, bundle: &str, target: &Registry, extra: &[&str]) -> Run {
    let to = format!("{}/site", target.host);
    let mut args = vec![
        "mirror",
        bundle,
        "--to",
        &to,
        "--insecure-registry",
        &target.host,
    ];
    args.extend_from_slice(extra);
    run(dir, &args)
}

#[test]
fn a_signed_bundle_verifies_with_its_key_and_mirror_requires_the_signature() {
    let Some(world) = World::new(Variant::Plain, "bundle signing", "", &[]) else {
        return;
    };
    let dir = world.dir.to_path_buf();
    write_key(&dir, "site", 3);
    write_key(&dir, "other", 4);
    let r = world.run(
        "export",
        &[
            "--airgap",
            "-o",
            "signed.tar",
            "-q",
            "--sign-key",
            "site.key",
        ],
        None,
    );
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    assert!(!r.stderr.contains("PRIVATE KEY"), "{}", r.stderr);

    // Round trip: the signature checks with the key, and says so.
    let r = run(
        &dir,
        &[
            "verify",
            "signed.tar",
            "--key",
            "site.pub",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "verify: {}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["signature"]["checked"], true);
    // Another key: a problem naming both keys.
    let r = run(&dir, &["verify", "signed.tar", "--key", "other.pub"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.contains("does not verify with the key given"),
        "{}",
        r.stdout
    );

    // An unsigned bundle, and one signed by another key, are refused before anything is pushed.
    let r = world.run("export", &["--airgap", "-o", "unsigned", "-q"], None);
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    let Some(target) = Registry::start(Variant::Plain, "bundle signing target") else {
        return;
    };
    let required = ["--require-signature", "--key", "site.pub"];
    let r = mirror(&dir, "unsigned", &target, &required);
    crate::messages::snap("mirror_requires_a_signature", &r);
    let other = ["--require-signature", "--key", "other.pub"];
    let r = mirror(&dir, "signed.tar", &target, &other);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("does not verify"), "{}", r.stderr);
    let repositories = target.dir.join("storage/docker/registry/v2/repositories");
    assert!(!repositories.exists(), "something was pushed");
    // The right key: mirrored.
    let r = mirror(&dir, "signed.tar", &target, &required);
    assert_eq!(r.code, 0, "mirror: {}", r.stderr);
    assert!(repositories.exists());

    // Tampering with the index after signing is caught.
    let r = world.run(
        "export",
        &["--airgap", "-o", "tampered", "-q", "--sign-key", "site.key"],
        None,
    );
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    let index = dir.join("tampered/index.json");
    let text = std::fs::read_to_string(&index).unwrap();
    std::fs::write(
        &index,
        text.replacen("\"schemaVersion\": 2", "\"schemaVersion\":2", 1),
    )
    .unwrap();
    let r = run(&dir, &["verify", "tampered", "--key", "site.pub"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("not this bundle's"), "{}", r.stdout);
}

#[test]
fn an_encrypted_cosign_key_signs_with_its_password() {
    let Some(world) = World::new(Variant::Plain, "cosign key", "", &[]) else {
        return;
    };
    let dir = world.dir.to_path_buf();
    write_cosign_key(&dir, 5, "s3cret");
    let public = secret(5)
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    std::fs::write(dir.join("cosign.pub"), public).unwrap();
    let args = |out: &'static str| {
        world.args_through(
            &world.registry.host,
            "export",
            &["--airgap", "-o", out, "-q", "--sign-key", "cosign.key"],
        )
    };
    let without: Vec<String> = args("a");
    let without: Vec<&str> = without.iter().map(String::as_str).collect();
    let r = bundle_env(&dir, &without, None, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("COSIGN_PASSWORD"), "{}", r.stderr);
    let wrong = bundle_env(&dir, &without, None, &[("COSIGN_PASSWORD", "nope")]);
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("does not decrypt"),
        "{}",
        wrong.stderr
    );
    assert!(!wrong.stderr.contains("nope"), "{}", wrong.stderr);
    let r = bundle_env(&dir, &without, None, &[("COSIGN_PASSWORD", "s3cret")]);
    assert_eq!(r.code, 0, "export: {}", r.stderr);
    let r = run(&dir, &["verify", "a", "--key", "cosign.pub"]);
    assert_eq!(r.code, 0, "verify: {}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("checked"), "{}", r.stderr);
}
