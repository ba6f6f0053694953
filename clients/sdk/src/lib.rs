//! The client side of the E2EE system: the device that holds the private keys. All encryption and
//! decryption happens here, never on the server. A library only: no terminal, no printing; every failure
//! is a typed [`error::ClientError`]. The `e2ee` command (package `e2ee-cli`) is built on it.
//!
//! * [`api`]: an async HTTP client for every endpoint (the routes of `e2ee_protocol::routes`), with the
//!   shared request/response types of `e2ee-protocol`, and typed errors ([`error::ClientError`]).
//! * [`profile`]: the profile directory (keys encrypted with a passphrase, session token, contacts).
//! * [`contacts`]: contacts' pinned keys, trust on first use and key-change detection.
//! * [`device`]: what a user does: register, log in, generate/rotate keys, send (seal for the receiver and
//!   for oneself, sign), read the inbox and the history (verify, decrypt, report per message).
//! * [`keyring`]: this device's private keys, unlocked with the profile's passphrase.
//! * [`messages`]: opening one stored message: which device key, which signer, which outcome.
//! * [`keyops`]: the signed requests that register or revoke a key (proof of possession, second factor).
//! * [`text`]: making server- and peer-supplied text safe to display.
//! * [`clock`]: the device's clock (milliseconds since the Unix epoch).
//!
//! ```no_run
//! # async fn demo() -> Result<(), e2ee_client::error::ClientError> {
//! use e2ee_client::{device::Device, profile::Profile};
//! use zeroize::Zeroizing;
//!
//! let profile = Profile::open(std::path::Path::new("/tmp/e2ee-profiles"), "alice")?;
//! let mut device = Device::open(profile, Some("http://127.0.0.1:9000"))?;
//! device.login("alice", Zeroizing::new("correct horse battery".into())).await?;
//! let ring = device.unlock(Zeroizing::new("key passphrase".into()))?;
//! device.send(&ring, "bob", b"hello bob").await?;
//! # Ok(()) }
//! ```

pub mod api;
// The protocol's decisions, from the client core (no I/O); the SDK drives them.
pub use e2ee_client_core::{contacts, content, text};
pub mod clock;
pub mod device;
pub mod error;
pub mod keyops;
pub mod keyring;
pub mod messages;
pub mod mls;
pub mod profile;
