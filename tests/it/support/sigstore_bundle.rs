//! Sigstore bundles (v0.3, `application/vnd.dev.sigstore.bundle.v0.3+json`) made by the test
//! Sigstore (support/sigstore.rs), as cosign v3 attaches them to an image as OCI referrers: a
//! `messageSignature` (the image digest, signed as a prehash) or a `dsseEnvelope` (cosign's in-toto
//! statement `https://sigstore.dev/cosign/sign/v1` naming the digest), keyless (leaf certificate) or
//! by key (`publicKey` hint), with a transparency-log entry (`hashedrekord` or `dsse` body) carrying
//! a SET and/or an inclusion proof into a small log of six entries (the signature's is the fourth,
//! so the audit path has three hashes) with a checkpoint signed by the log key. Each way a bundle
//! can go wrong is a [`BundleHow`] field.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::pkcs8::EncodePublicKey as _;
use x509_cert::der::{Encode as _, EncodePem as _, pem::LineEnding};

use super::images::Image;
use super::referrers::artifact;
use super::sigstore::{Keyless, Sigstore, der_b64, sha256_raw};

/// The media type (and referrer artifact type) of a v0.3 bundle.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The media type of a v0.2 bundle.
pub const BUNDLE_V02: &str = "application/vnd.dev.sigstore.bundle+json;version=0.2";

/// What a bundle signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// A message signature over the image digest.
    Message,
    /// A DSSE envelope of cosign's image signature statement.
    Dsse,
}

/// How one bundle is made (each field a way it can go wrong).
#[derive(Debug, Clone)]
pub struct BundleHow {
    /// The certificate, signature and log entry as for a cosign signature (identity, issuer,
    /// validity, log time, CA, bad SET, tampered signature, another digest).
    pub keyless: Keyless,
    /// What is signed.
    pub content: Content,
    /// Sign with this key instead (a `publicKey` hint, no certificate).
    pub key: Option<p256::ecdsa::SigningKey>,
    /// Carry the inclusion promise (SET).
    pub set: bool,
    /// Carry the inclusion proof and its checkpoint.
    pub proof: bool,
    /// Flip a bit of one hash of the audit path.
    pub flip_proof_hash: bool,
    /// Sign the checkpoint with a key that is not the log's.
    pub checkpoint_by_other_key: bool,
    /// Put another root hash into the checkpoint (signed by the log).
    pub checkpoint_other_root: bool,
    /// A Rekor v2 entry: an apiVersion 0.0.2 body, integratedTime 0, no SET, an RFC 3161 timestamp
    /// instead.
    pub rekor_v2: bool,
    /// A v0.2 bundle: the leaf in `x509CertificateChain` (with the CA's chain after it).
    pub v02_chain: bool,
}

impl Default for BundleHow {
    fn default() -> BundleHow {
        BundleHow {
            keyless: Keyless::default(),
            content: Content::Dsse,
            key: None,
            set: true,
            proof: true,
            flip_proof_hash: false,
            checkpoint_by_other_key: false,
            checkpoint_other_root: false,
            rekor_v2: false,
            v02_chain: false,
        }
    }
}

type Hash = [u8; 32];

fn leaf_hash(data: &[u8]) -> Hash {
    sha256_raw(&[&[0u8][..], data].concat()).try_into().unwrap()
}

fn node(l: &Hash, r: &Hash) -> Hash {
    sha256_raw(&[&[1u8][..], l, r].concat()).try_into().unwrap()
}

/// The root of `leaves` and the audit path of leaf `m`, built level by level (an odd last node
/// moves up unpaired: the same tree as RFC 6962's recursive definition).
fn tree(leaves: &[Vec<u8>], m: usize) -> (Hash, Vec<Hash>) {
    let mut level: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
    let (mut i, mut path) = (m, Vec::new());
    while level.len() > 1 {
        if let Some(sibling) = level.get(i ^ 1) {
            path.push(*sibling);
        }
        level = level
            .chunks(2)
            .map(|c| match c {
                [l, r] => node(l, r),
                [one] => *one,
                _ => unreachable!(),
            })
            .collect();
        i /= 2;
    }
    (level[0], path)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The index of the signature's entry in the test log, its size, and its global log index.
const LEAF: usize = 3;
const TREE_SIZE: usize = 6;
const LOG_INDEX: i64 = 1003;

impl Sigstore {
    /// A v0.3 bundle signing `digest` (`sha256:HEX`) as `how` says.
    pub fn bundle(&self, digest: &str, how: &BundleHow) -> Vec<u8> {
        let named = how.keyless.names_digest.as_deref().unwrap_or(digest);
        let (key, cert) = match &how.key {
            Some(k) => (k.clone(), None),
            None => {
                let (k, c) = self.leaf(&how.keyless);
                (k, Some(c))
            }
        };
        let signer = match how.keyless.tampered {
            true => p256::ecdsa::SigningKey::random(&mut rand_core::OsRng),
            false => key.clone(),
        };
        let verifier_pem = match &cert {
            Some(c) => c.to_pem(LineEnding::LF).expect("pem"),
            None => key
                .verifying_key()
                .to_public_key_pem(p256::pkcs8::LineEnding::LF)
                .expect("pem"),
        };
        let verifier = STANDARD.encode(verifier_pem.as_bytes());
        let (content, mut body) = signed(&signer, named, how.content, &verifier);
        if how.rekor_v2 {
            // Rekor v2's bodies: apiVersion 0.0.2, the spec under `hashedRekordV002`/`dsseV002`.
            let field = match how.content {
                Content::Message => "hashedRekordV002",
                Content::Dsse => "dsseV002",
            };
            body["apiVersion"] = "0.0.2".into();
            body["spec"] = serde_json::json!({ field: body["spec"].take() });
        }
        let body = serde_json::to_vec(&body).expect("json");
        let mut doc = serde_json::json!({
            "mediaType": BUNDLE_V03,
            "verificationMaterial": {"tlogEntries": [self.entry(&body, how)]},
        });
        let material = &mut doc["verificationMaterial"];
        let leaf = cert
            .as_ref()
            .map(|c| serde_json::json!({"rawBytes": STANDARD.encode(c.to_der().expect("der"))}));
        match leaf {
            Some(leaf) if how.v02_chain => {
                let mut chain = vec![leaf];
                chain.extend(
                    self.ca
                        .chain_b64()
                        .into_iter()
                        .map(|c| serde_json::json!({"rawBytes": c})),
                );
                material["x509CertificateChain"] = serde_json::json!({"certificates": chain});
            }
            Some(leaf) => material["certificate"] = leaf,
            None => material["publicKey"] = serde_json::json!({"hint": "test-key"}),
        }
        if how.rekor_v2 {
            material["timestampVerificationData"] =
                serde_json::json!({"rfc3161Timestamps": [{"signedTimestamp": "MAA="}]});
        }
        if how.v02_chain && cert.is_some() {
            doc["mediaType"] = BUNDLE_V02.into();
        }
        let (k, v) = content;
        doc[k] = v;
        serde_json::to_vec_pretty(&doc).expect("json")
    }

    /// The log entry of `body` as `how` says.
    fn entry(&self, body: &[u8], how: &BundleHow) -> serde_json::Value {
        use p256::ecdsa::signature::Signer as _;
        let (log_der, _) = der_b64(self.log_key.verifying_key());
        let log_id = sha256_raw(&log_der);
        let body_b64 = STANDARD.encode(body);
        let time = match how.rekor_v2 {
            true => 0,
            false => how.keyless.integrated_time,
        };
        let kind: serde_json::Value = serde_json::from_slice(body).expect("json");
        let mut entry = serde_json::json!({
            "logIndex": LOG_INDEX.to_string(),
            "logId": {"keyId": STANDARD.encode(&log_id)},
            "kindVersion": {"kind": kind["kind"], "version": "0.0.1"},
            "integratedTime": time.to_string(),
            "canonicalizedBody": body_b64,
        });
        if how.set && !how.rekor_v2 {
            let signed = serde_json::to_vec(&serde_json::json!({
                "body": body_b64, "integratedTime": time, "logID": hex(&log_id),
                "logIndex": LOG_INDEX,
            }))
            .expect("json");
            let key = match how.keyless.bad_set {
                true => &self.other_log_key,
                false => &self.log_key,
            };
            let set: p256::ecdsa::DerSignature = key.sign(&signed);
            entry["inclusionPromise"] =
                serde_json::json!({"signedEntryTimestamp": STANDARD.encode(set.as_bytes())});
        }
        if how.proof || how.rekor_v2 {
            let leaves: Vec<Vec<u8>> = (0..TREE_SIZE)
                .map(|i| match i == LEAF {
                    true => body.to_vec(),
                    false => format!("another entry {i}").into_bytes(),
                })
                .collect();
            let (root, mut path) = tree(&leaves, LEAF);
            if how.flip_proof_hash {
                path[1][0] ^= 1;
            }
            let noted = match how.checkpoint_other_root {
                true => leaf_hash(b"another tree"),
                false => root,
            };
            let text = format!(
                "rekor.test.invalid - 2605736670972794746\n{TREE_SIZE}\n{}\n",
                STANDARD.encode(noted)
            );
            let key = match how.checkpoint_by_other_key {
                true => &self.other_log_key,
                false => &self.log_key,
            };
            let sig: p256::ecdsa::DerSignature = key.sign(text.as_bytes());
            let signed = [&log_id[..4], sig.as_bytes()].concat();
            let envelope = format!(
                "{text}\n\u{2014} rekor.test.invalid {}\n",
                STANDARD.encode(signed)
            );
            entry["inclusionProof"] = serde_json::json!({
                "logIndex": LEAF.to_string(),
                "rootHash": STANDARD.encode(root),
                "treeSize": TREE_SIZE.to_string(),
                "hashes": path.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
                "checkpoint": {"envelope": envelope},
            });
        }
        entry
    }
}

/// The bundle's content (its key and value) and the log entry body recording it.
fn signed(
    signer: &p256::ecdsa::SigningKey,
    digest: &str,
    content: Content,
    verifier: &str,
) -> ((&'static str, serde_json::Value), serde_json::Value) {
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::signature::hazmat::PrehashSigner as _;
    let hex_digest = digest.trim_start_matches("sha256:");
    match content {
        Content::Message => {
            let raw: Vec<u8> = (0..hex_digest.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex_digest[i..i + 2], 16).expect("hex"))
                .collect();
            let sig: p256::ecdsa::Signature = signer.sign_prehash(&raw).expect("prehash");
            let sig = STANDARD.encode(sig.to_der().as_bytes());
            let body = serde_json::json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex_digest}},
                "signature": {"content": sig, "publicKey": {"content": verifier}},
            }});
            let content = serde_json::json!({
                "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode(&raw)},
                "signature": sig,
            });
            (("messageSignature", content), body)
        }
        Content::Dsse => {
            let statement = serde_json::to_vec(&serde_json::json!({
                "_type": "https://in-toto.io/Statement/v1",
                "subject": [{"name": "registry.test/app", "digest": {"sha256": hex_digest}}],
                "predicateType": "https://sigstore.dev/cosign/sign/v1",
                "predicate": {},
            }))
            .expect("json");
            let kind = "application/vnd.in-toto+json";
            let mut pae = format!("DSSEv1 {} {kind} {} ", kind.len(), statement.len()).into_bytes();
            pae.extend_from_slice(&statement);
            let sig: p256::ecdsa::DerSignature = signer.sign(&pae);
            let sig = STANDARD.encode(sig.as_bytes());
            let envelope = serde_json::json!({
                "payload": STANDARD.encode(&statement), "payloadType": kind,
                "signatures": [{"sig": sig, "keyid": ""}],
            });
            let body = serde_json::json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
                "envelopeHash": {"algorithm": "sha256",
                                 "value": hex(&sha256_raw(&serde_json::to_vec(&envelope).expect("json")))},
                "payloadHash": {"algorithm": "sha256", "value": hex(&sha256_raw(&statement))},
                "signatures": [{"signature": sig, "verifier": verifier}],
            }});
            (("dsseEnvelope", envelope), body)
        }
    }
}

/// The referrer carrying `bundle` for `subject`, as cosign v3 pushes it (artifact type and layer
/// of the bundle's media type).
pub fn bundle_referrer(subject: &Image, bundle: &[u8]) -> Image {
    artifact(BUNDLE_V03, BUNDLE_V03, bundle, Some(subject))
}
