use thiserror::Error;

/// Every failure of this crate. Messages are safe to show to users: none carries key material, and the open
/// path folds all unwrap and tag failures into [`CryptoError::CannotDecrypt`].
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    #[error("unsupported RSA key size {0} bits (allowed: 2048, 3072, 4096)")]
    UnsupportedKeySize(usize),
    #[error("unsupported RSA public exponent (only 65537 is allowed)")]
    UnsupportedExponent,
    #[error("malformed key: {0}")]
    MalformedKey(&'static str),
    /// Wrong passphrase or a damaged encrypted key: the two cannot be told apart.
    #[error("cannot decrypt the private key (wrong passphrase or damaged key)")]
    WrongPassphrase,
    #[error("invalid envelope: {0}")]
    InvalidEnvelope(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("plaintext is larger than {max} bytes")]
    PlaintextTooLarge { max: usize },
    #[error("this key is not a recipient of the envelope")]
    NotARecipient,
    #[error("the envelope's signature is missing or does not verify")]
    BadSignature,
    #[error("cannot decrypt")]
    CannotDecrypt,
    /// The operating system's random source or an encoder failed; not caused by the input.
    #[error("internal cryptographic failure")]
    Internal,
}

pub type Result<T> = core::result::Result<T, CryptoError>;
