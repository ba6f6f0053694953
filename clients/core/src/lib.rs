//! The client half of the E2EE protocol, in one place and without I/O: no network, no files, no clock, no
//! randomness of its own (time comes in as milliseconds since the Unix epoch). Drivers — the Rust SDK and the
//! `e2ee` CLI on it, the browser once it runs this crate as WebAssembly — fetch what the server answers, hand
//! it to the core as typed values, and act on what the core decides.
//!
//! * [`contacts`]: identity keys pinned per contact (trust on first use of the *active* key only), rotation
//!   chains the pinned key signed (followed silently, [`rotation`]), other key changes, names pinned both
//!   ways, and the safety number over every key this device trusts for a contact.
//! * [`directory`]: a user's key listing as the server answers it, checked (key ids computed here).
//! * [`devices`]: which devices of a user this device trusts: certified by an identity key that vouches for
//!   them at the certificate's time.
//! * [`link`]: linking a new device: the link code, the approver's link proof, and which identity key a
//!   linked device pins for its own user (review N10).
//! * [`welcome`]: whether a Welcome may be joined, and whether a refusal is final.
//! * [`group`]: a group this device holds: its log read (messages, commits checked then merged), intents
//!   staged as pending commits, the group configuration and key packages.
//! * [`commits`]: a commit whose answer was lost, decided by the log; rejoining by external commit.
//! * [`envelope`]: opening a 1:1 envelope: the key it is sealed for, the signature under a trusted key, the
//!   report.
//! * [`content`]: what an MLS application message carries.
//! * [`text`]: making server- and peer-supplied text safe to display.
//!
//! `tests/vectors/client/` holds language-neutral scenarios of these decisions; every client runs them.

pub mod commits;
pub mod contacts;
pub mod content;
pub mod devices;
pub mod directory;
pub mod envelope;
pub mod error;
pub mod group;
pub mod key_packages;
pub mod link;
pub mod rotation;
pub mod state;
pub mod text;
pub mod welcome;

pub use error::{CoreError, IdentityChange};
