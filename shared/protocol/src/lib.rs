//! The vocabulary the server and its clients share, so the two cannot drift apart: request and response bodies
//! of the HTTP API (docs/openapi.yaml), the id rule and chat id, paging, key status and the route list.
//! A leaf crate: it depends on no other crate of the workspace.
//!
//! JSON field names are camelCase; times are milliseconds since the Unix epoch. Requests reject unknown fields
//! (the server must not silently ignore a misspelt option); responses accept them (a newer server may add
//! fields without breaking older clients).

mod auth;
mod devices;
mod error;
mod groups;
pub mod ids;
mod keys;
mod messages;
pub mod paging;
pub mod routes;

pub use auth::*;
pub use devices::*;
pub use error::*;
pub use groups::*;
pub use ids::{MAX_ID_BYTES, chat_id};
pub use keys::*;
pub use messages::*;
pub use paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_BYTES, MAX_PAGE_SIZE, Order};
pub use routes::{ROUTES, Route};
