use thiserror::Error;

/// Which MLS object a client sent: what a malformed input was meant to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlsInput {
    KeyPackage,
    GroupInfo,
    RatchetTree,
    Commit,
    Welcome,
    ApplicationMessage,
}

impl std::fmt::Display for MlsInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MlsInput::KeyPackage => "key package",
            MlsInput::GroupInfo => "GroupInfo",
            MlsInput::RatchetTree => "ratchet tree",
            MlsInput::Commit => "commit",
            MlsInput::Welcome => "Welcome",
            MlsInput::ApplicationMessage => "application message",
        })
    }
}

/// Every way an MLS object from a client can fail the server's checks. Messages are safe to return to the
/// client; none carries key material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MlsError {
    /// Not a TLS-encoded MLSMessage of the expected kind (including the wrong wire format: a commit that is not
    /// a `PublicMessage`, an application message that is not a `PrivateMessage`), trailing bytes, or too large.
    #[error("malformed {input}: {reason}")]
    Malformed {
        input: MlsInput,
        reason: &'static str,
    },
    #[error(
        "unsupported ciphersuite 0x{0:04x}: only 0x0001 (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519) is accepted"
    )]
    UnsupportedCiphersuite(u16),
    /// A signature, the protocol version, the keys or the extensions are wrong (openmls says which).
    #[error("invalid key package: {0}")]
    InvalidKeyPackage(String),
    /// Expired, not valid yet, or valid for longer than the server accepts.
    #[error("key package lifetime: {0}")]
    Lifetime(String),
    /// The credential is not a basic credential naming a device as `userId/deviceId`.
    #[error("invalid credential: {0}")]
    InvalidCredential(&'static str),
    /// The credential names another user or device than the one uploading it.
    #[error("the credential names {found}, not {expected}")]
    WrongIdentity { expected: String, found: String },
    /// A new group's GroupInfo and ratchet tree do not form a valid group, or not the one a creator may start.
    #[error("invalid group: {0}")]
    InvalidGroup(String),
    /// A commit for another epoch than the group's current one.
    #[error("the commit is for epoch {found}, the group is at epoch {current}")]
    WrongEpoch { current: u64, found: u64 },
    /// A commit that does not validate against the group's public state (openmls says why).
    #[error("invalid commit: {0}")]
    InvalidCommit(String),
    /// The Welcome is missing, superfluous, or addressed to other key packages than the commit adds.
    #[error("welcome: {0}")]
    WelcomeMismatch(&'static str),
    /// The new GroupInfo is not the committer's description of the new epoch.
    #[error("invalid GroupInfo: {0}")]
    InvalidGroupInfo(String),
    /// An application message that is not a `PrivateMessage` application message of this group.
    #[error("invalid application message: {0}")]
    InvalidApplicationMessage(&'static str),
    /// A signature by a device's MLS signature key does not verify.
    #[error("the signature does not verify under the device's signature key")]
    BadSignature,
    /// openmls reported an internal error (not caused by the input).
    #[error("internal MLS failure")]
    Internal,
}
