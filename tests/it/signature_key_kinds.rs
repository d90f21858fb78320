//! `--signature-key` takes ECDSA P-256 public keys (`cosign generate-key-pair`'s cosign.pub); cosign
//! also signs with P-384, P-521, RSA and Ed25519 keys (imported or in a KMS). Each other kind is
//! refused at once (exit 2) naming the kind found, what is supported, and where the other kinds go
//! (a key signer declared in the catalog, with its digest).

use std::path::Path;

use base64::Engine as _;
use p384::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};

use crate::support::{bundle_in, fixture, tempdir};

/// `der` as PEM with `label`.
fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// `bundle verify out --signatures --signature-key KEY` in `dir`: its stderr, after checking the
/// exit code (2: bad usage, before any bundle is read).
fn refused(dir: &Path, key: &Path) -> String {
    let key = key.display().to_string();
    let args = ["verify", "out", "--signatures", "--signature-key", &key];
    let r = bundle_in(dir, &args);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "only ECDSA P-256 public keys (PEM `PUBLIC KEY`, as `cosign generate-key-pair` writes \
             cosign.pub) are supported here"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("a key signer with its `digest:`"),
        "{}",
        r.stderr
    );
    r.stderr
}

#[test]
fn a_signature_key_of_another_kind_is_refused_naming_it() {
    let dir = tempdir();
    let p384 = p384::ecdsa::SigningKey::from_slice(&[7u8; 48]).unwrap();
    let spki = p384.verifying_key().to_public_key_der().unwrap();
    let pkcs8 = p384.to_pkcs8_der().unwrap();
    // An Ed25519 SubjectPublicKeyInfo (RFC 8410): algorithm 1.3.101.112, then the 32-byte key.
    let mut ed25519 = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    ed25519.extend_from_slice(&[9u8; 32]);
    let keys = [
        (
            "p384.pub",
            pem("PUBLIC KEY", spki.as_bytes()),
            "an ECDSA P-384 public key",
        ),
        (
            "ed25519.pub",
            pem("PUBLIC KEY", &ed25519),
            "an Ed25519 public key",
        ),
        (
            "p384.key",
            pem("PRIVATE KEY", pkcs8.as_bytes()),
            "a private key (PEM `PRIVATE KEY`); give its public key",
        ),
    ];
    for (name, text, says) in keys {
        std::fs::write(dir.join(name), text).unwrap();
        let stderr = refused(&dir, &dir.join(name));
        assert!(
            stderr.contains(&format!("{name}: {says}: only")),
            "{stderr}"
        );
    }
    let rsa = fixture("keys").join("rsa-4096.pub");
    let stderr = refused(&dir, &rsa);
    assert!(stderr.contains("an RSA 4096 public key: only"), "{stderr}");
}
