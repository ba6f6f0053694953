//! The one test harness of the workspace, used only as a dev-dependency:
//!
//! * [`crate::env`]: where the test services are (MySQL, MongoDB, the served API) and the rule when one is missing:
//!   in CI (`CI=true`) the test fails loudly, elsewhere it says what it skips;
//! * [`cli`]: runs the `e2ee` binary as a user would (arguments, standard input, a profile directory, password
//!   and passphrase variables) and checks its output;
//! * [`account`] and [`envelopes`]: a user with a device key registered through the true E2EE path, written
//!   once for every transport ([`account::Api`]), and client-side envelopes between users;
//! * [`served`] (feature `served`): HTTP calls to the API under `cargo lambda watch`;
//! * [`mls`] (feature `mls`): a real openmls device (certificate, session proof, key packages);
//! * [`in_process`] (feature `in-process`): real stores and the `e2ee_api` handlers called in-process, with
//!   requests built the way API Gateway delivers them.

pub mod account;
pub mod cli;
pub mod env;
pub mod envelopes;
#[cfg(feature = "in-process")]
pub mod in_process;
#[cfg(feature = "mls")]
pub mod mls;
#[cfg(feature = "served")]
pub mod served;

pub use account::{Api, User};

/// `bytes` random bytes as lowercase hex: unique names, markers and databases per test.
pub fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

/// Milliseconds since the Unix epoch, the unit of every `createdAt`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Standard base64 with padding, as the API's JSON bodies carry signatures.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A local TCP port that was free a moment ago (for a server to start on, or one that nobody listens on).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
