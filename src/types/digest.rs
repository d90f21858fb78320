//! Content digests: `ALGORITHM:HEX`, validated once where they enter, and the one way this crate
//! hashes content.
//!
//! The grammar is the OCI image-spec's for the algorithms registries use: `sha256` (64 lower-case
//! hex digits), `sha384` (96) and `sha512` (128). Everything this crate writes is `sha256`
//! ([`Digest::is_sha256`]); the others are accepted where upstream content may carry them (image
//! references).

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

/// A digest algorithm registries use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// SHA-256: 64 hex digits. The one this crate writes.
    Sha256,
    /// SHA-384: 96 hex digits.
    Sha384,
    /// SHA-512: 128 hex digits.
    Sha512,
}

impl Algorithm {
    /// `sha256`, `sha384` or `sha512`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated content digest, e.g. `sha256:e3b0c442…`. Displays as it was written (always the
/// canonical lower-case form: nothing else parses).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    /// `ALGORITHM:HEX`.
    text: String,
    algorithm: Algorithm,
}

/// Text that is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a digest: {reason}")]
pub struct DigestError {
    /// The text as given (cut to 100 characters).
    pub given: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Digest {
    /// Parses `ALGORITHM:HEX` (`sha256`, `sha384` or `sha512` and that many lower-case hex digits).
    pub fn parse(text: &str) -> Result<Digest, DigestError> {
        let err = |reason: String| DigestError {
            given: text.chars().take(100).collect(),
            reason,
        };
        let Some((algorithm, hex)) = text.split_once(':') else {
            return Err(err("expected ALGORITHM:HEX".to_string()));
        };
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha384" => Algorithm::Sha384,
            "sha512" => Algorithm::Sha512,
            "" => return Err(err("expected ALGORITHM:HEX".to_string())),
            other => return Err(err(format!("unsupported digest algorithm `{other}`"))),
        };
        let want = algorithm.hex_len();
        if hex.len() != want || !hex.bytes().all(is_lower_hex) {
            return Err(err(format!("{want} lower-case hex digits expected")));
        }
        Ok(Digest {
            text: text.to_string(),
            algorithm,
        })
    }

    /// Parses a digest that must be `sha256:` (what a bundle and a lock hold).
    pub fn parse_sha256(text: &str) -> Result<Digest, DigestError> {
        let d = Digest::parse(text)?;
        if d.is_sha256() {
            Ok(d)
        } else {
            Err(DigestError {
                given: text.chars().take(100).collect(),
                reason: "only sha256 digests are supported here".to_string(),
            })
        }
    }

    /// The `sha256:` digest of a blob file named by its hex digits (`blobs/sha256/<hex>`).
    pub fn from_sha256_hex(hex: &str) -> Result<Digest, DigestError> {
        Digest::parse_sha256(&format!("sha256:{hex}"))
    }

    /// The `sha256:` digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        let mut h = Sha256Hasher::new();
        h.update(bytes);
        h.finish()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether it is a `sha256:` digest.
    pub fn is_sha256(&self) -> bool {
        self.algorithm == Algorithm::Sha256
    }

    /// The hex digits (the name of the blob file in an OCI layout).
    pub fn hex(&self) -> &str {
        &self.text[self.algorithm.name().len() + 1..]
    }

    /// `ALGORITHM:HEX`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `sha256:` and the first 12 hex digits, for tables.
    pub fn short(&self) -> &str {
        let end = (self.algorithm.name().len() + 13).min(self.text.len());
        &self.text[..end]
    }
}

fn is_lower_hex(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'a'..=b'f')
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// SHA-256 over a stream of bytes, finished into a [`Digest`]: the one hasher of this crate.
#[derive(Debug, Clone, Default)]
pub struct Sha256Hasher(sha2::Sha256);

impl Sha256Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Sha256Hasher(sha2::Sha256::new())
    }

    /// Hashes more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything hashed so far (the hasher is left as it is).
    pub fn digest(&self) -> Digest {
        self.clone().finish()
    }

    /// The digest of everything hashed.
    pub fn finish(self) -> Digest {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let hash = self.0.finalize();
        let mut text = String::with_capacity(7 + 2 * hash.len());
        text.push_str("sha256:");
        for b in hash.iter() {
            text.push(char::from(HEX[usize::from(b >> 4)]));
            text.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        Digest {
            text,
            algorithm: Algorithm::Sha256,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let d = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
        assert!(d.is_sha256());
        assert_eq!(d.hex(), "a".repeat(64));
        assert_eq!(d.short(), format!("sha256:{}", "a".repeat(12)));
        assert!(Digest::parse(&format!("sha512:{}", "a".repeat(128))).is_ok());
        assert!(Digest::parse_sha256(&format!("sha512:{}", "a".repeat(128))).is_err());
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(Digest::parse("sha256:abc").is_err());
        assert!(Digest::parse(&format!("sha512:{}", "a".repeat(64))).is_err());
        let e = Digest::parse(&format!("md5:{}", "a".repeat(32))).unwrap_err();
        assert!(e.reason.contains("unsupported"), "{e}");
        assert!(Digest::parse("nothing").is_err());
        assert!(Digest::parse(":abc").is_err());
    }

    #[test]
    fn hashes() {
        assert_eq!(
            Digest::sha256_of(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut h = Sha256Hasher::new();
        h.update(b"hel");
        h.update(b"lo");
        assert_eq!(h.finish(), Digest::sha256_of(b"hello"));
        let name = Digest::sha256_of(b"x").hex().to_string();
        assert_eq!(
            Digest::from_sha256_hex(&name).unwrap(),
            Digest::sha256_of(b"x")
        );
    }
}
