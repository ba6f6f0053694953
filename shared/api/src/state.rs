//! Per-process state, built once at cold start and shared by every invocation.

use std::sync::Arc;

use e2ee_storage::Stores;

use crate::auth::TokenService;
use crate::config::{Config, Quotas};
use crate::cursor::CursorKey;

pub struct AppState {
    pub stores: Stores,
    pub tokens: TokenService,
    pub cursors: CursorKey,
    pub server_assisted_crypto: bool,
    pub quotas: Quotas,
}

impl AppState {
    pub async fn from_config(config: &Config) -> Result<Arc<Self>, InitError> {
        let stores = Stores::from_config(&config.storage)
            .await
            .map_err(|e| InitError(format!("storage: {e}")))?;
        let cursors = CursorKey::derive(&config.jwt.secret)
            .map_err(|e| InitError(format!("cursor key: {e}")))?;
        Ok(Arc::new(AppState {
            stores,
            tokens: TokenService::new(&config.jwt),
            cursors,
            server_assisted_crypto: config.server_assisted_crypto,
            quotas: config.quotas,
        }))
    }

    /// Loads the configuration (env or Secrets Manager) and connects the stores.
    pub async fn init() -> Result<Arc<Self>, InitError> {
        let config = Config::load()
            .await
            .map_err(|e| InitError(format!("config: {e}")))?;
        Self::from_config(&config).await
    }
}

#[derive(Debug, thiserror::Error)]
#[error("initialization failed: {0}")]
pub struct InitError(pub String);
