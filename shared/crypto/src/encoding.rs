//! Strict base64 for envelope fields and the length-prefixed canonical encoding (docs/envelope.md).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serializer};

/// Standard alphabet with `=` padding: the one encoding of `bytes` that [`b64_decode`] accepts.
pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Standard alphabet, `=` padding, no whitespace; rejects non-zero trailing bits, so every byte string has
/// exactly one accepted encoding.
pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

pub(crate) mod base64_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&b64_encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = <&str>::deserialize(deserializer)?;
        b64_decode(text).ok_or_else(|| serde::de::Error::custom("invalid base64"))
    }
}

/// Builder for `field(b) = u32be(len(b)) || b` sequences.
#[derive(Default)]
pub(crate) struct Canonical(Vec<u8>);

impl Canonical {
    pub fn with_capacity(capacity: usize) -> Self {
        Canonical(Vec::with_capacity(capacity))
    }

    pub fn field(&mut self, bytes: &[u8]) -> &mut Self {
        // Every field is bounded far below 4 GiB by the envelope limits, so the length always fits.
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(bytes);
        self
    }

    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}
