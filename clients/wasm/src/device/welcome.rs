//! Joining a group from a Welcome: decrypted first, joined once its members are trusted.

use e2ee_client_core::group::{GroupMeta, join_config};
use e2ee_client_core::welcome::WelcomeJoin;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::{MlsDevice, OpenedWelcome, bytes_of};
use crate::trust::{Trust, WelcomeOutcome};
use crate::{ErrorCode, Result, fail, json, millis};

/// What a decrypted Welcome asks before it can be joined.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WelcomeOpened {
    group_id: String,
    /// The users (other than this device) whose device listings decide.
    users: Vec<String>,
}

#[wasm_bindgen]
impl MlsDevice {
    /// Decrypts a Welcome (`GET /api/welcomes`: base64 `welcome`, labelled `groupId`, stored at `storedAt`).
    /// JSON `{groupId, users}`: fetch those users' listings into `trust`, then `finishWelcome`. A Welcome that
    /// cannot be taken at all (unreadable, another group than labelled, a group this device holds) answers the
    /// refusal at once: JSON `{joined: false, refused, final, reason}`.
    #[wasm_bindgen(js_name = openWelcome)]
    pub fn open_welcome(
        &mut self,
        welcome: &str,
        labelled_group_id: &str,
        stored_at_ms: f64,
        now_ms: f64,
    ) -> Result<String> {
        let stored_at = millis(stored_at_ms)?;
        let now = millis(now_ms)?;
        if let Some(previous) = self.welcome.take() {
            previous.join.abandon(self.state.provider());
        }
        let bytes = bytes_of("the Welcome", welcome)?;
        let held = |group_id: &str| self.state.meta.groups.contains_key(group_id);
        match WelcomeJoin::open(
            self.state.provider(),
            &join_config(),
            &bytes,
            labelled_group_id,
            held,
        ) {
            Err(refusal) => Ok(json(&WelcomeOutcome::of(&Err(refusal), stored_at, now))?),
            Ok(join) => {
                let opened = WelcomeOpened {
                    group_id: join.group_id().to_owned(),
                    users: join
                        .other_users(&self.state.identity())
                        .into_iter()
                        .collect(),
                };
                self.welcome = Some(OpenedWelcome { join, stored_at });
                Ok(json(&opened)?)
            }
        }
    }

    /// Joins the Welcome [`MlsDevice::open_welcome`] decrypted if every member but this device is trusted; else
    /// refuses (its key package is kept). JSON `{joined}` or `{joined: false, refused, final, member?, reason}`:
    /// a final refusal is acknowledged (`DELETE /api/welcomes/{id}`), another is tried again on a later sync.
    #[wasm_bindgen(js_name = finishWelcome)]
    pub fn finish_welcome(&mut self, trust: &Trust, now_ms: f64) -> Result<String> {
        let now = millis(now_ms)?;
        let Some(OpenedWelcome { join, stored_at }) = self.welcome.take() else {
            return fail(ErrorCode::State, "no Welcome was opened");
        };
        let group_id = join.group_id().to_owned();
        let me = self.state.identity();
        let joined = join.finish(self.state.provider(), &me, |identity, key| {
            trust.trusts(identity, key)
        });
        let decision = joined.map(|_group| {
            self.state.meta.groups.insert(
                group_id,
                GroupMeta {
                    updated_at: now,
                    ..GroupMeta::default()
                },
            );
        });
        json(&WelcomeOutcome::of(&decision, stored_at, now))
    }
}
