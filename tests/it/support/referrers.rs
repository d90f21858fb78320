//! Referrers as upstream publishes them, built in code: OCI 1.1 artifacts with a `subject` (an SBOM,
//! an attestation), the referrers tag schema's index (`sha256-<hex>`) that lists them on a registry
//! without the referrers API, and cosign's tag scheme (`sha256-<hex>.sig`, `.att`, `.sbom`): a
//! simple-signing payload layer with its signature in the `dev.cosignproject.cosign/signature`
//! annotation, as `cosign sign` pushes it.

use super::images::{Image, sha256};
use super::{Registry, Run, Variant, World, bundle_env};

/// The media type of cosign's simple-signing payload layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding a cosign signature (base64).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

fn json(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("json")
}

/// The descriptor of `image` (as a subject or an index entry).
pub fn descriptor(image: &Image) -> serde_json::Value {
    serde_json::json!({
        "mediaType": image.media_type,
        "digest": image.digest,
        "size": image.manifest.len(),
    })
}

/// An OCI 1.1 artifact: `artifactType`, the empty config, one layer holding `content`, and a
/// `subject` when given.
pub fn artifact(
    artifact_type: &str,
    layer_type: &str,
    content: &[u8],
    subject: Option<&Image>,
) -> Image {
    let empty = b"{}".to_vec();
    let mut manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(&empty),
                   "size": 2, "data": "e30="},
        "layers": [{"mediaType": layer_type, "digest": sha256(content), "size": content.len()}],
        "annotations": {"org.opencontainers.image.created": "2026-11-27T00:00:00Z"},
    });
    if let Some(s) = subject {
        manifest["subject"] = descriptor(s);
    }
    let bytes = json(&manifest);
    Image {
        media_type: "application/vnd.oci.image.manifest.v1+json".to_string(),
        digest: sha256(&bytes),
        manifest: bytes,
        blobs: vec![(sha256(&empty), empty), (sha256(content), content.to_vec())],
        children: Vec::new(),
    }
}

/// An SPDX SBOM of `subject` as an OCI 1.1 referrer.
pub fn sbom(subject: &Image, name: &str) -> Image {
    let doc = json(&serde_json::json!({
        "spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": name,
        "documentDescribes": [subject.digest],
    }));
    artifact(
        "application/spdx+json",
        "application/spdx+json",
        &doc,
        Some(subject),
    )
}

/// The referrers tag schema's index for a registry without the referrers API: each referrer's
/// descriptor with its `artifactType`.
pub fn referrers_index(referrers: &[&Image], artifact_types: &[&str]) -> Image {
    let entries: Vec<serde_json::Value> = referrers
        .iter()
        .zip(artifact_types)
        .map(|(r, t)| {
            let mut d = descriptor(r);
            d["artifactType"] = (*t).into();
            d
        })
        .collect();
    let bytes = json(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }));
    Image {
        media_type: "application/vnd.oci.image.index.v1+json".to_string(),
        digest: sha256(&bytes),
        manifest: bytes,
        blobs: Vec::new(),
        children: referrers.iter().map(|r| (*r).clone()).collect(),
    }
}

/// Cosign's simple-signing payload for `reference` at `digest`.
pub fn simple_signing_payload(reference: &str, digest: &str) -> Vec<u8> {
    json(&serde_json::json!({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    }))
}

/// A manifest in cosign's tag scheme: an OCI image config and one layer per (media type, content,
/// annotations), as `cosign sign` / `cosign attest` push them under `sha256-<hex>.sig` / `.att`.
pub fn cosign_manifest(layers: &[(&str, Vec<u8>, serde_json::Value)]) -> Image {
    let config = json(&serde_json::json!({
        "architecture": "", "os": "", "config": {},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|(_, c, _)| sha256(c)).collect::<Vec<_>>()},
    }));
    let mut blobs = vec![(sha256(&config), config.clone())];
    let descriptors: Vec<serde_json::Value> = layers
        .iter()
        .map(|(mt, content, annotations)| {
            blobs.push((sha256(content), content.clone()));
            serde_json::json!({"mediaType": mt, "digest": sha256(content), "size": content.len(),
                               "annotations": annotations})
        })
        .collect();
    let bytes = json(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(&config), "size": config.len()},
        "layers": descriptors,
    }));
    Image {
        media_type: "application/vnd.oci.image.manifest.v1+json".to_string(),
        digest: sha256(&bytes),
        manifest: bytes,
        blobs,
        children: Vec::new(),
    }
}

/// An attestation in cosign's tag scheme (`cosign attest` pushes it under `sha256-<hex>.att`): one
/// DSSE envelope of an empty in-toto statement, annotated with a SLSA provenance predicate type.
pub fn cosign_attestation() -> Image {
    let statement =
        br#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}"#;
    cosign_manifest(&[(
        "application/vnd.dsse.envelope.v1+json",
        statement.to_vec(),
        serde_json::json!({ "predicateType": "https://slsa.dev/provenance/v1" }),
    )])
}

/// The tag of `digest` in cosign's scheme (`sha256-<hex>.SUFFIX`), or the referrers tag schema's
/// (`sha256-<hex>`) without a suffix.
pub fn tag_of(digest: &str, suffix: Option<&str>) -> String {
    let base = digest.replacen(':', "-", 1);
    match suffix {
        Some(s) => format!("{base}.{s}"),
        None => base,
    }
}

/// A cosign signature (tag scheme) of `digest` as `cosign sign --key` makes it: the simple-signing
/// payload for `reference` at `digest`, signed with `key` (ECDSA P-256, SHA-256, ASN.1 DER, base64).
/// With `tampered`, the stored payload is not the one signed.
pub fn cosign_signature(
    key: &p256::ecdsa::SigningKey,
    reference: &str,
    digest: &str,
    tampered: bool,
) -> Image {
    use base64::Engine as _;
    use p256::ecdsa::signature::Signer as _;
    let payload = simple_signing_payload(reference, digest);
    let signed = if tampered {
        simple_signing_payload(&format!("{reference}-other"), digest)
    } else {
        payload.clone()
    };
    let signature: p256::ecdsa::Signature = key.sign(&signed);
    let b64 = base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes());
    cosign_manifest(&[(
        SIMPLE_SIGNING,
        payload,
        serde_json::json!({ SIGNATURE_ANNOTATION: b64 }),
    )])
}

/// A P-256 signing key from a fixed seed, and its public key as PEM (`cosign.pub`'s form).
pub fn signing_key(seed: u8) -> (p256::ecdsa::SigningKey, String) {
    use p256::pkcs8::{EncodePublicKey as _, LineEnding};
    let mut bytes = [seed; 32];
    bytes[0] = 1;
    let key = p256::ecdsa::SigningKey::from_slice(&bytes).unwrap();
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    (key, public)
}

/// `bundle mirror out --to HOST/site` in `world`'s directory, to a registry started for it (named
/// `label` in its log), expected to succeed: the registry and the run; `None` when no registry can
/// run here.
pub fn mirror_to_site(world: &World, label: &str) -> Option<(Registry, Run)> {
    let target = Registry::start(Variant::Plain, label)?;
    let to = format!("{}/site", target.host);
    let mirror = [
        "mirror",
        "out",
        "--to",
        &to,
        "--insecure-registry",
        &target.host,
    ];
    let r = bundle_env(&world.dir, &mirror, None, &[]);
    assert_eq!(r.code, 0, "mirror: {}", r.stderr);
    Some((target, r))
}
