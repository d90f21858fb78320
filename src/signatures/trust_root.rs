//! The Sigstore trust root: `trusted_root.json` as `cosign trusted-root create` writes it and as
//! sigstore/root-signing publishes it (`targets/trusted_root.json`, media type
//! `application/vnd.dev.sigstore.trustedroot+json;version=0.1`). Read here: the certificate
//! authorities (Fulcio: a certificate chain, leaf-most first, with the period it issued in) and the
//! transparency logs (Rekor: a public key, its log id, the period it signed in). The CT logs and
//! timestamp authorities it may also list are not used: the signing time comes from the log entry.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use x509_cert::Certificate;
use x509_cert::der::Decode as _;

use super::time::parse_rfc3339;

/// The media type prefix of a trusted root document.
pub const TRUSTED_ROOT_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.trustedroot+json";

/// A period `[start, end)` in Unix seconds; `end` open when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// From (inclusive).
    pub start: i64,
    /// Until (exclusive); `None`: still valid.
    pub end: Option<i64>,
}

impl Period {
    /// Whether `t` (Unix seconds) is in the period.
    pub fn contains(&self, t: i64) -> bool {
        t >= self.start && self.end.is_none_or(|e| t < e)
    }
}

/// A certificate authority (Fulcio): its chain, leaf-most first, the last one its root.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    /// Where it issues (its `uri`), for messages.
    pub uri: String,
    /// The chain, DER, leaf-most (the issuer of leaf certificates) first.
    pub chain: Vec<Certificate>,
    /// When it issued.
    pub valid_for: Period,
}

/// A transparency log (Rekor): its key and log id.
#[derive(Debug, Clone)]
pub struct TransparencyLog {
    /// Its `baseUrl`, for messages.
    pub base_url: String,
    /// The public key, PKIX DER.
    pub public_key: Vec<u8>,
    /// The log id: the SHA-256 of the public key's DER (as Rekor's `logID` in hex).
    pub log_id: Vec<u8>,
    /// When it signed.
    pub valid_for: Period,
}

/// A parsed trust root, with the bytes it was read from (stored in a bundle as they are).
#[derive(Debug, Clone)]
pub struct TrustRoot {
    /// The certificate authorities.
    pub authorities: Vec<CertificateAuthority>,
    /// The transparency logs.
    pub logs: Vec<TransparencyLog>,
    /// The document, byte for byte.
    pub bytes: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<Tlog>,
    #[serde(default)]
    certificate_authorities: Vec<Ca>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tlog {
    #[serde(default)]
    base_url: String,
    public_key: PublicKeyDoc,
    log_id: LogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeyDoc {
    raw_bytes: String,
    valid_for: Option<ValidFor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ca {
    #[serde(default)]
    uri: String,
    cert_chain: CertChain,
    valid_for: Option<ValidFor>,
}

#[derive(Deserialize)]
struct CertChain {
    certificates: Vec<RawBytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct ValidFor {
    start: Option<String>,
    end: Option<String>,
}

fn period(v: Option<&ValidFor>, what: &str) -> Result<Period, String> {
    let time = |s: &Option<String>| {
        s.as_deref()
            .map(|s| {
                parse_rfc3339(s)
                    .ok_or_else(|| format!("{what}: validFor time {s:?} is not RFC 3339"))
            })
            .transpose()
    };
    Ok(Period {
        start: v
            .map(|v| time(&v.start))
            .transpose()?
            .flatten()
            .unwrap_or(i64::MIN),
        end: v.map(|v| time(&v.end)).transpose()?.flatten(),
    })
}

impl TrustRoot {
    /// Reads a `trusted_root.json`. The error says what is wrong (the caller names the file).
    pub fn parse(bytes: &[u8]) -> Result<TrustRoot, String> {
        let doc: Doc = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a Sigstore trusted root (trusted_root.json): {e}"))?;
        if !doc.media_type.starts_with(TRUSTED_ROOT_MEDIA_TYPE) {
            return Err(format!(
                "mediaType is {:?} (expected {TRUSTED_ROOT_MEDIA_TYPE};version=0.1)",
                doc.media_type
            ));
        }
        let b64 = |what: &str, s: &str| {
            STANDARD
                .decode(s)
                .map_err(|e| format!("{what} is not base64: {e}"))
        };
        let mut logs = Vec::new();
        for (i, t) in doc.tlogs.iter().enumerate() {
            let what = format!("tlogs[{i}]");
            logs.push(TransparencyLog {
                base_url: t.base_url.clone(),
                public_key: b64(&what, &t.public_key.raw_bytes)?,
                log_id: b64(&what, &t.log_id.key_id)?,
                valid_for: period(t.public_key.valid_for.as_ref(), &what)?,
            });
        }
        let mut authorities = Vec::new();
        for (i, c) in doc.certificate_authorities.iter().enumerate() {
            let what = format!("certificateAuthorities[{i}]");
            let chain = c
                .cert_chain
                .certificates
                .iter()
                .map(|r| {
                    let der = b64(&what, &r.raw_bytes)?;
                    Certificate::from_der(&der)
                        .map_err(|e| format!("{what}: a certificate that is not X.509 DER: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if chain.is_empty() {
                return Err(format!("{what}: an empty certificate chain"));
            }
            authorities.push(CertificateAuthority {
                uri: c.uri.clone(),
                chain,
                valid_for: period(c.valid_for.as_ref(), &what)?,
            });
        }
        if authorities.is_empty() && logs.is_empty() {
            return Err("lists no certificate authority and no transparency log".to_string());
        }
        Ok(TrustRoot {
            authorities,
            logs,
            bytes: bytes.to_vec(),
        })
    }

    /// The log whose id is `id`.
    pub fn log(&self, id: &[u8]) -> Option<&TransparencyLog> {
        self.logs.iter().find(|l| l.log_id == id)
    }

    /// A one-line description: how many authorities and logs, by URL.
    pub fn describe(&self) -> String {
        let names = |v: Vec<&str>| match v.is_empty() {
            true => "none".to_string(),
            false => v.join(", "),
        };
        format!(
            "certificate authorities: {}; transparency logs: {}",
            names(self.authorities.iter().map(|a| a.uri.as_str()).collect()),
            names(self.logs.iter().map(|l| l.base_url.as_str()).collect())
        )
    }
}
