//! A test Sigstore, made by the harness: a Fulcio-like root CA (P-384) with an intermediate (P-384)
//! that issues short-lived leaf certificates (P-256) with a URI or email SAN, code-signing usage and
//! the OIDC issuer extension (`1.3.6.1.4.1.57264.1.8`, or the deprecated `.1.1`); a Rekor-like log key
//! (P-256) that signs entry timestamps (SETs) over `hashedrekord` entries; and the
//! `trusted_root.json` that lists them. It signs payloads keylessly into cosign's annotations
//! (`dev.cosignproject.cosign/signature`, `dev.sigstore.cosign/certificate`, `…/chain`, `…/bundle`),
//! and each way a signature can go wrong is a [`Keyless`] option. Certificates are built with
//! x509-cert's builder (a dev-dependency).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::pkcs8::EncodePublicKey as _;
use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
use x509_cert::der::asn1::{Ia5String, Utf8StringRef};
use x509_cert::der::oid::{AssociatedOid, ObjectIdentifier};
use x509_cert::der::{Encode as _, EncodePem as _};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, der::pem::LineEnding};

use super::referrers::simple_signing_payload;

/// The time every test signature is made at (2026-11-27T10:00:00Z).
pub const SIGNED_AT: i64 = 1_795_773_600;
/// The default test issuer.
pub const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The default test identity.
pub const IDENTITY: &str =
    "https://github.com/example/app/.github/workflows/release.yml@refs/tags/v1.0.0";

/// An extension whose value is given as raw bytes.
struct RawExtension<const V1: bool>(Vec<u8>);

impl<const V1: bool> AssociatedOid for RawExtension<V1> {
    const OID: ObjectIdentifier = match V1 {
        true => ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1"),
        false => ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8"),
    };
}

impl<const V1: bool> x509_cert::der::Encode for RawExtension<V1> {
    fn encoded_len(&self) -> x509_cert::der::Result<x509_cert::der::Length> {
        x509_cert::der::Length::try_from(self.0.len())
    }
    fn encode(&self, writer: &mut impl x509_cert::der::Writer) -> x509_cert::der::Result<()> {
        writer.write(&self.0)
    }
}

impl<const V1: bool> x509_cert::ext::AsExtension for RawExtension<V1> {
    fn critical(&self, _: &Name, _: &[x509_cert::ext::Extension]) -> bool {
        false
    }
}

fn time(t: i64) -> Time {
    Time::try_from(std::time::UNIX_EPOCH + Duration::from_secs(t as u64)).expect("a time")
}

fn validity(from: i64, to: i64) -> Validity {
    Validity {
        not_before: time(from),
        not_after: time(to),
    }
}

fn name(s: &str) -> Name {
    s.parse().expect("a distinguished name")
}

fn spki<K: p256::pkcs8::EncodePublicKey>(key: &K) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned::try_from(key.to_public_key_der().expect("der").as_bytes())
        .expect("spki")
}

/// A CA: root and intermediate, P-384.
pub struct Ca {
    root: Certificate,
    intermediate: Certificate,
    intermediate_key: p384::ecdsa::SigningKey,
    intermediate_name: Name,
}

impl Ca {
    /// A CA named `org`, valid for ten years around [`SIGNED_AT`].
    pub fn new(org: &str) -> Ca {
        let root_key = p384::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let inter_key = p384::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let (from, to) = (SIGNED_AT - 5 * 365 * 86_400, SIGNED_AT + 5 * 365 * 86_400);
        let root_name = name(&format!("CN={org} root,O={org}"));
        let root = CertificateBuilder::new(
            Profile::Root,
            SerialNumber::from(1u32),
            validity(from, to),
            root_name.clone(),
            spki(root_key.verifying_key()),
            &root_key,
        )
        .expect("root builder")
        .build::<p384::ecdsa::DerSignature>()
        .expect("root");
        let inter_name = name(&format!("CN={org} intermediate,O={org}"));
        let intermediate = CertificateBuilder::new(
            Profile::SubCA {
                issuer: root_name,
                path_len_constraint: Some(0),
            },
            SerialNumber::from(2u32),
            validity(from, to),
            inter_name.clone(),
            spki(inter_key.verifying_key()),
            &root_key,
        )
        .expect("intermediate builder")
        .build::<p384::ecdsa::DerSignature>()
        .expect("intermediate");
        Ca {
            root,
            intermediate,
            intermediate_key: inter_key,
            intermediate_name: inter_name,
        }
    }

    /// The chain as trusted_root.json lists it: intermediate, root (DER, base64).
    pub fn chain_b64(&self) -> Vec<String> {
        [&self.intermediate, &self.root]
            .iter()
            .map(|c| STANDARD.encode(c.to_der().expect("der")))
            .collect()
    }

    /// The chain as cosign's chain annotation holds it (PEM).
    fn chain_pem(&self) -> String {
        [&self.intermediate, &self.root]
            .iter()
            .map(|c| c.to_pem(LineEnding::LF).expect("pem"))
            .collect()
    }
}

/// The test Sigstore: a CA, another CA nobody trusts, a log key.
pub struct Sigstore {
    /// The trusted CA.
    pub ca: Ca,
    /// A CA the trust root does not list.
    pub other_ca: Ca,
    /// The log key the trust root lists.
    pub log_key: p256::ecdsa::SigningKey,
    /// A log key the trust root does not list.
    pub other_log_key: p256::ecdsa::SigningKey,
}

/// How one keyless signature is made (each field a way it can go wrong).
#[derive(Debug, Clone)]
pub struct Keyless {
    /// The certificate's SAN: a URI, or an email when it has an `@` and no `:`.
    pub identity: String,
    /// The OIDC issuer extension's value.
    pub issuer: String,
    /// Put the issuer in the deprecated `.1.1` extension instead of `.1.8`.
    pub issuer_v1: bool,
    /// The certificate's validity, relative to [`SIGNED_AT`] (seconds).
    pub valid: (i64, i64),
    /// The log entry's time.
    pub integrated_time: i64,
    /// Issue the leaf from the CA the trust root does not list.
    pub other_ca: bool,
    /// Sign the SET with a key that is not the trust root's log key.
    pub bad_set: bool,
    /// Replace the signature with one by another key (recorded so in the log entry too).
    pub tampered: bool,
    /// The digest the payload names (default: the image's).
    pub names_digest: Option<String>,
}

impl Default for Keyless {
    fn default() -> Keyless {
        Keyless {
            identity: IDENTITY.to_string(),
            issuer: ISSUER.to_string(),
            issuer_v1: false,
            valid: (-300, 300),
            integrated_time: SIGNED_AT,
            other_ca: false,
            bad_set: false,
            tampered: false,
            names_digest: None,
        }
    }
}

/// A public key's PKIX DER and its base64.
pub fn der_b64(key: &p256::ecdsa::VerifyingKey) -> (Vec<u8>, String) {
    let der = key.to_public_key_der().expect("der").as_bytes().to_vec();
    let b64 = STANDARD.encode(&der);
    (der, b64)
}

impl Default for Sigstore {
    fn default() -> Sigstore {
        Sigstore::new()
    }
}

impl Sigstore {
    /// Fresh keys and CAs.
    pub fn new() -> Sigstore {
        Sigstore {
            ca: Ca::new("fulcio-test"),
            other_ca: Ca::new("elsewhere"),
            log_key: p256::ecdsa::SigningKey::random(&mut rand_core::OsRng),
            other_log_key: p256::ecdsa::SigningKey::random(&mut rand_core::OsRng),
        }
    }

    /// `trusted_root.json` listing the trusted CA and the log key.
    pub fn trusted_root(&self) -> Vec<u8> {
        let (der, b64) = der_b64(self.log_key.verifying_key());
        let log_id = STANDARD.encode(sha256_raw(&der));
        let chain: Vec<serde_json::Value> = self
            .ca
            .chain_b64()
            .into_iter()
            .map(|c| serde_json::json!({"rawBytes": c}))
            .collect();
        serde_json::to_vec_pretty(&serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": "https://rekor.test.invalid",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": b64, "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                              "validFor": {"start": "2020-01-01T00:00:00Z"}},
                "logId": {"keyId": log_id},
            }],
            "certificateAuthorities": [{
                "subject": {"organization": "fulcio-test", "commonName": "fulcio-test"},
                "uri": "https://fulcio.test.invalid",
                "certChain": {"certificates": chain},
                "validFor": {"start": "2020-01-01T00:00:00Z"},
            }],
            "ctlogs": [],
            "timestampAuthorities": [],
        }))
        .expect("json")
    }

    /// A leaf certificate for `how`, with its key.
    pub fn leaf(&self, how: &Keyless) -> (p256::ecdsa::SigningKey, Certificate) {
        let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let ca = if how.other_ca {
            &self.other_ca
        } else {
            &self.ca
        };
        let mut builder = CertificateBuilder::new(
            Profile::Leaf {
                issuer: ca.intermediate_name.clone(),
                enable_key_agreement: false,
                enable_key_encipherment: false,
            },
            SerialNumber::from(SIGNED_AT as u64 ^ rand_u32() as u64),
            validity(SIGNED_AT + how.valid.0, SIGNED_AT + how.valid.1),
            Name::default(),
            spki(key.verifying_key()),
            &ca.intermediate_key,
        )
        .expect("leaf builder");
        let san = match how.identity.contains('@') && !how.identity.contains(':') {
            true => GeneralName::Rfc822Name(Ia5String::new(&how.identity).expect("ia5")),
            false => {
                GeneralName::UniformResourceIdentifier(Ia5String::new(&how.identity).expect("ia5"))
            }
        };
        builder
            .add_extension(&SubjectAltName(vec![san]))
            .expect("san");
        builder
            .add_extension(&ExtendedKeyUsage(vec![ObjectIdentifier::new_unwrap(
                "1.3.6.1.5.5.7.3.3",
            )]))
            .expect("eku");
        match how.issuer_v1 {
            true => builder.add_extension(&RawExtension::<true>(how.issuer.as_bytes().to_vec())),
            false => builder.add_extension(&RawExtension::<false>(
                Utf8StringRef::new(&how.issuer)
                    .expect("utf8")
                    .to_der()
                    .expect("der"),
            )),
        }
        .expect("issuer");
        let cert = builder.build::<p384::ecdsa::DerSignature>().expect("leaf");
        (key, cert)
    }

    /// A keyless signature of `digest` (the image `reference`), as cosign's simple-signing layer:
    /// the payload and the layer's annotations.
    pub fn sign(
        &self,
        reference: &str,
        digest: &str,
        how: &Keyless,
    ) -> (Vec<u8>, serde_json::Value) {
        use p256::ecdsa::signature::Signer as _;
        let payload =
            simple_signing_payload(reference, how.names_digest.as_deref().unwrap_or(digest));
        let (key, cert) = self.leaf(how);
        let signer = match how.tampered {
            true => p256::ecdsa::SigningKey::random(&mut rand_core::OsRng),
            false => key,
        };
        let signature: p256::ecdsa::DerSignature = signer.sign(&payload);
        let signature = STANDARD.encode(signature.as_bytes());
        let cert_pem = cert.to_pem(LineEnding::LF).expect("pem");
        let body = serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256",
                                  "value": super::sha256(&payload).trim_start_matches("sha256:")}},
                "signature": {"content": signature,
                              "publicKey": {"content": STANDARD.encode(cert_pem.as_bytes())}},
            },
        });
        let (log_der, _) = der_b64(self.log_key.verifying_key());
        let log_id: String = sha256_raw(&log_der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let body = STANDARD.encode(serde_json::to_vec(&body).expect("json"));
        let signed = serde_json::to_vec(&serde_json::json!({
            "body": body, "integratedTime": how.integrated_time, "logID": log_id, "logIndex": 7,
        }))
        .expect("json");
        let log_key = if how.bad_set {
            &self.other_log_key
        } else {
            &self.log_key
        };
        let set: p256::ecdsa::DerSignature = log_key.sign(&signed);
        let bundle = serde_json::json!({
            "SignedEntryTimestamp": STANDARD.encode(set.as_bytes()),
            "Payload": {"body": body, "integratedTime": how.integrated_time, "logIndex": 7,
                        "logID": log_id},
        });
        let ca = if how.other_ca {
            &self.other_ca
        } else {
            &self.ca
        };
        let annotations = serde_json::json!({
            "dev.cosignproject.cosign/signature": signature,
            "dev.sigstore.cosign/certificate": cert_pem,
            "dev.sigstore.cosign/chain": ca.chain_pem(),
            "dev.sigstore.cosign/bundle": serde_json::to_string(&bundle).expect("json"),
        });
        (payload, annotations)
    }
}

fn rand_u32() -> u32 {
    use rand_core::RngCore as _;
    rand_core::OsRng.next_u32() >> 1
}

/// The SHA-256 of `bytes`, raw.
pub fn sha256_raw(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).to_vec()
}

/// The policy of component `app` 1.0.0 declaring `signer` for its images.
pub fn image_policy(signer: bundle::types::Signer) -> bundle::types::SigningPolicy {
    bundle::types::SigningPolicy {
        component: "app".to_string(),
        version: "1.0.0".to_string(),
        artifacts: bundle::types::SignedArtifacts::Images,
        signers: vec![signer],
        source: "https://example.invalid/signing".to_string(),
        repositories: vec![],
        signature_repository: None,
    }
}

/// What every keyless scheme answers alike offline, with `judge` judging a good signature for the
/// signers it is given, `signers` declaring its signer and carrying the trust root: without the
/// trust root, refused naming the flag that gives one; with nothing declared, unsigned.
pub fn assert_needs_trust_root_and_declaration(
    signers: bundle::signatures::Signers<'_>,
    judge: impl Fn(bundle::signatures::Signers<'_>) -> bundle::signatures::Verdict,
) {
    use bundle::signatures::{Signers, Verdict};
    match judge(Signers {
        trust: None,
        ..signers
    }) {
        Verdict::Failed { why, .. } => assert!(why.contains("--trust-root FILE"), "{why}"),
        other => panic!("expected a refusal without a trust root, got {other:?}"),
    }
    let none = Signers {
        policies: &[],
        ..signers
    };
    assert_eq!(judge(none), Verdict::Unsigned);
}
