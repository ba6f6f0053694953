//! RSA key pairs: generation, SPKI / PKCS#8 / encrypted PKCS#8 PEM, key ids and fingerprints.

use core::fmt;

use rsa::BoxedUint;
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{CryptoError, Result};

/// PBKDF2-HMAC-SHA256 iterations for keys we encrypt (OWASP's 2023 recommendation for this PRF).
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// The only public exponent we generate or accept.
pub const PUBLIC_EXPONENT: u32 = 65_537;

/// The RSA modulus sizes this system supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeySize {
    #[default]
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl KeySize {
    pub const fn bits(self) -> usize {
        match self {
            KeySize::Rsa2048 => 2048,
            KeySize::Rsa3072 => 3072,
            KeySize::Rsa4096 => 4096,
        }
    }

    /// The modulus length in bytes, which is also the length of every OAEP ciphertext and PSS signature.
    pub const fn bytes(self) -> usize {
        self.bits() / 8
    }

    pub fn from_bits(bits: usize) -> Result<Self> {
        match bits {
            2048 => Ok(KeySize::Rsa2048),
            3072 => Ok(KeySize::Rsa3072),
            4096 => Ok(KeySize::Rsa4096),
            other => Err(CryptoError::UnsupportedKeySize(other)),
        }
    }
}

/// SHA-256 of a public key's SPKI DER encoding: the key's stable identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 32]);

impl KeyId {
    fn of_spki_der(der: &[u8]) -> Self {
        KeyId(Sha256::digest(der).into())
    }

    /// Parses the canonical form: 64 lowercase hex characters.
    pub fn parse(s: &str) -> Result<Self> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(CryptoError::InvalidInput(
                "key id must be 64 lowercase hex characters".into(),
            ));
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
        }
        Ok(KeyId(out))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The form people compare aloud: the first 128 bits as 8 groups of 4 upper-case hex digits.
    pub fn fingerprint(&self) -> String {
        let hex = self.to_string().to_ascii_uppercase();
        hex.as_bytes()[..32]
            .chunks(4)
            .map(|group| String::from_utf8_lossy(group).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn hex_value(c: u8) -> Result<u8> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(CryptoError::InvalidInput(
            "key id must be 64 lowercase hex characters".into(),
        )),
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A validated RSA public key (2048/3072/4096 bits, e = 65537) with its key id computed once.
#[derive(Clone)]
pub struct PublicKey {
    pub(crate) inner: rsa::PublicKey,
    size: KeySize,
    key_id: KeyId,
}

impl PublicKey {
    fn from_rsa(inner: rsa::PublicKey) -> Result<Self> {
        let size = KeySize::from_bits(inner.n().bit_width() as usize)?;
        if *inner.e() != BoxedUint::from(PUBLIC_EXPONENT) {
            return Err(CryptoError::UnsupportedExponent);
        }
        let der = inner
            .to_public_key_der()
            .map_err(|_| CryptoError::MalformedKey("cannot encode the public key"))?;
        let key_id = KeyId::of_spki_der(der.as_bytes());
        Ok(PublicKey {
            inner,
            size,
            key_id,
        })
    }

    /// Parses an SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_spki_pem(pem: &str) -> Result<Self> {
        let inner = rsa::PublicKey::from_public_key_pem(pem.trim())
            .map_err(|_| CryptoError::MalformedKey("expected an RSA SPKI PEM public key"))?;
        Self::from_rsa(inner)
    }

    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        let inner = rsa::PublicKey::from_public_key_der(der)
            .map_err(|_| CryptoError::MalformedKey("expected an RSA SPKI DER public key"))?;
        Self::from_rsa(inner)
    }

    pub fn to_spki_pem(&self) -> Result<String> {
        self.inner
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| CryptoError::Internal)
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub fn size(&self) -> KeySize {
        self.size
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.key_id == other.key_id
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("bits", &self.size.bits())
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// An RSA private key. Zeroized on drop (by `rsa`), never printed.
pub struct PrivateKey {
    pub(crate) inner: rsa::PrivateKey,
    public: PublicKey,
}

impl PrivateKey {
    /// Generates a fresh key pair with e = 65537 from the operating system's random source.
    pub fn generate(size: KeySize) -> Result<Self> {
        let mut rng = rand::rngs::SysRng;
        let inner =
            rsa::PrivateKey::new(&mut rng, size.bits()).map_err(|_| CryptoError::Internal)?;
        Self::from_rsa(inner)
    }

    pub(crate) fn from_rsa(inner: rsa::PrivateKey) -> Result<Self> {
        inner
            .validate()
            .map_err(|_| CryptoError::MalformedKey("inconsistent RSA private key"))?;
        let public = PublicKey::from_rsa(inner.to_public_key())?;
        Ok(PrivateKey { inner, public })
    }

    /// Parses an unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self> {
        let inner = rsa::PrivateKey::from_pkcs8_pem(pem.trim())
            .map_err(|_| CryptoError::MalformedKey("expected an RSA PKCS#8 PEM private key"))?;
        Self::from_rsa(inner)
    }

    /// Parses an encrypted PKCS#8 PEM (`-----BEGIN ENCRYPTED PRIVATE KEY-----`, PBES2 with scrypt or PBKDF2).
    pub fn from_encrypted_pkcs8_pem(pem: &str, passphrase: &[u8]) -> Result<Self> {
        let pem = pem.trim();
        if !pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(CryptoError::MalformedKey(
                "expected an encrypted PKCS#8 PEM private key",
            ));
        }
        let inner = rsa::PrivateKey::from_pkcs8_encrypted_pem(pem, passphrase)
            .map_err(|_| CryptoError::WrongPassphrase)?;
        Self::from_rsa(inner)
    }

    /// Parses either PEM form: encrypted ones need `passphrase`.
    pub fn from_pem(pem: &str, passphrase: Option<&[u8]>) -> Result<Self> {
        if pem
            .trim_start()
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        {
            let passphrase = passphrase.ok_or(CryptoError::InvalidInput(
                "the private key is encrypted: a passphrase is needed".into(),
            ))?;
            Self::from_encrypted_pkcs8_pem(pem, passphrase)
        } else {
            Self::from_pkcs8_pem(pem)
        }
    }

    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        self.inner
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| CryptoError::Internal)
    }

    /// PBES2 encrypted PKCS#8 PEM for keys at rest on a device: PBKDF2-HMAC-SHA256 with
    /// [`PBKDF2_ITERATIONS`] iterations and a random 16-byte salt, AES-256-CBC with a random IV. Chosen over
    /// scrypt because OpenSSL/Node (32 MiB scrypt memory cap) and WebCrypto (no scrypt) can all read it.
    pub fn to_encrypted_pkcs8_pem(&self, passphrase: &[u8]) -> Result<Zeroizing<String>> {
        use rand::Rng;
        use rsa::pkcs8::{PrivateKeyInfoRef, pkcs5::pbes2};
        if passphrase.is_empty() {
            return Err(CryptoError::InvalidInput(
                "the passphrase must not be empty".into(),
            ));
        }
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        rand::rng().fill_bytes(&mut iv);
        let params =
            pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, iv)
                .map_err(|_| CryptoError::Internal)?;
        let der = self
            .inner
            .to_pkcs8_der()
            .map_err(|_| CryptoError::Internal)?;
        let info =
            PrivateKeyInfoRef::try_from(der.as_bytes()).map_err(|_| CryptoError::Internal)?;
        let encrypted = info
            .encrypt_with_params(params, passphrase)
            .map_err(|_| CryptoError::Internal)?;
        encrypted
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .map_err(|_| CryptoError::Internal)
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub fn key_id(&self) -> KeyId {
        self.public.key_id
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey([redacted])")
    }
}
