//! `e2ee`, the command-line client, built on the `e2ee-client` SDK: argument parsing, passphrase and
//! password prompting, output formatting and exit codes. The binary (`src/main.rs`) is a thin `main`.
//!
//! * [`offline`], [`keyfile`]: the offline key and envelope commands (`keygen`, `pubkey`, `fingerprint`,
//!   `seal`, `open`).
//! * [`network`]: the messaging commands (`register`, `login`, `keys ...`, `send`, `inbox`, `read`,
//!   `history`), each one call into `e2ee_client::device::Device`.
//! * [`secret`]: passwords and passphrases from environment variables, a prompt or standard input.
//! * [`output`]: the human-readable output of the messaging commands (`--json` prints the SDK's reports).

pub mod keyfile;
pub mod network;
pub mod offline;
pub mod output;
pub mod secret;
