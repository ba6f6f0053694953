//! The error body every failing route answers with.

use serde::{Deserialize, Serialize};

/// Every error response: `{"error":{"code":"...","message":"..."}}`. An epoch conflict on a group (409
/// `epoch_taken`, `wrong_epoch`, `stale_epoch`) adds where the group is: `currentEpoch`, and `seq` (the log position
/// of the row that started it) when known, so a client fetches the log from there and retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_epoch: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}
