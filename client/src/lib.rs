//! The client side of the E2EE system: key files on the device and the offline envelope operations behind
//! the `e2ee` command. All encryption and decryption happens here, never on the server.

pub mod keyfile;
pub mod offline;
