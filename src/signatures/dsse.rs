//! DSSE envelopes (what a Sigstore bundle's `dsseEnvelope` holds) and the in-toto statement cosign
//! v3 signs for an image: the signature is over DSSE's pre-authentication encoding of the payload
//! type and payload (`DSSEv1 LEN(type) type LEN(payload) payload`), and the payload
//! (`application/vnd.in-toto+json`) is a statement whose `subject` names the image digest
//! (`{"digest": {"sha256": HEX}}`) with the predicate type [`COSIGN_SIGN_PREDICATE`].

/// The payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The predicate type of cosign v3's image signature statement (`cosign sign`).
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// DSSE's pre-authentication encoding: what a DSSE signature signs.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Checks that a DSSE payload is cosign's image signature statement naming `digest`
/// (`sha256:HEX`). The error says what it is instead.
pub fn check_statement(payload_type: &str, payload: &[u8], digest: &str) -> Result<(), String> {
    if payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(format!(
            "a DSSE envelope of payload type \"{payload_type}\" ({IN_TOTO_PAYLOAD_TYPE} expected)"
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|e| format!("the DSSE payload is not an in-toto statement: {e}"))?;
    let kind = v["_type"].as_str().unwrap_or_default();
    if !kind.starts_with("https://in-toto.io/Statement/") {
        return Err(format!(
            "the DSSE payload is not an in-toto statement (_type \"{kind}\")"
        ));
    }
    let predicate = v["predicateType"].as_str().unwrap_or_default();
    if predicate != COSIGN_SIGN_PREDICATE {
        return Err(format!(
            "an attestation of predicate type \"{predicate}\", not an image signature \
             ({COSIGN_SIGN_PREDICATE})"
        ));
    }
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let named: Vec<String> = v["subject"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["digest"]["sha256"].as_str())
        .map(|h| format!("sha256:{h}"))
        .collect();
    match named.iter().any(|n| n.strip_prefix("sha256:") == Some(hex)) {
        true => Ok(()),
        false => Err(format!(
            "its statement signs {}, not this image's {digest}",
            match named.is_empty() {
                true => "no sha256 subject".to_string(),
                false => named.join(", "),
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_dssev1_with_lengths_and_the_statement_must_name_the_digest() {
        assert_eq!(
            pae("application/x", b"hello"),
            b"DSSEv1 13 application/x 5 hello".to_vec()
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let stmt = |pred: &str, hex: &str| {
            serde_json::to_vec(&serde_json::json!({
                "_type": "https://in-toto.io/Statement/v1",
                "subject": [{"name": "x", "digest": {"sha256": hex}}],
                "predicateType": pred, "predicate": {},
            }))
            .unwrap()
        };
        let good = stmt(COSIGN_SIGN_PREDICATE, &"a".repeat(64));
        assert_eq!(check_statement(IN_TOTO_PAYLOAD_TYPE, &good, &d), Ok(()));
        let other = stmt(COSIGN_SIGN_PREDICATE, &"b".repeat(64));
        let e = check_statement(IN_TOTO_PAYLOAD_TYPE, &other, &d).unwrap_err();
        assert!(e.contains("signs sha256:bbbb"), "{e}");
        let slsa = stmt("https://slsa.dev/provenance/v1", &"a".repeat(64));
        let e = check_statement(IN_TOTO_PAYLOAD_TYPE, &slsa, &d).unwrap_err();
        assert!(e.contains("an attestation of predicate type"), "{e}");
        assert!(check_statement("text/plain", &good, &d).is_err());
    }
}
