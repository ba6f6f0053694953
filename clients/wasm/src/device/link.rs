//! Linking this device to its user (review N10, docs/mls.md "Linking a device"): the link code a pending device
//! shows, the proof its approver makes from that code, and the identity key the proof names, which this device
//! then trusts for its own user instead of whatever key the server lists.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_client_core::directory::Directory;
use e2ee_client_core::link::{
    LinkCodeError, LinkSecret, check_link_code, link_code, link_proof as prove, linked_identity_key,
};
use e2ee_crypto::LINK_SECRET_BYTES;
use e2ee_protocol::{DeviceCertificateView, DeviceView, PublicKeyResponse};
use openmls_traits::OpenMlsProvider as _;
use openmls_traits::random::OpenMlsRand as _;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::{MlsDevice, bytes_of};
use crate::{ErrorCode, Result, fail, json, parse};

/// The identity key a verified link proof names.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LinkedKeyView {
    key_id: String,
    fingerprint: String,
}

#[wasm_bindgen]
impl MlsDevice {
    /// Draws this device's link secret (a new device that will be approved by another one, before it
    /// registers; save after) and returns its link code, to show: the approver types it. Kept in the state,
    /// never sent to the server.
    #[wasm_bindgen(js_name = startLink)]
    pub fn start_link(&mut self) -> Result<String> {
        let secret = self
            .state
            .provider()
            .rand()
            .random_array::<LINK_SECRET_BYTES>()
            .or_else(|e| {
                fail(
                    ErrorCode::Mls,
                    format!("no randomness for the link secret: {e:?}"),
                )
            })?;
        self.state.meta.link_secret = Some(LinkSecret::from_bytes(secret));
        self.link_code()
            .and_then(|code| code.map_or_else(|| fail(ErrorCode::Damaged, "the link secret"), Ok))
    }

    /// This device's link code, or `undefined` if it has no link secret.
    #[wasm_bindgen(js_name = linkCode)]
    pub fn link_code(&self) -> Result<Option<String>> {
        let Some(secret) = &self.state.meta.link_secret else {
            return Ok(None);
        };
        let key = bytes_of("the signature key", &self.state.meta.signature_key)?;
        Ok(Some(link_code(
            secret,
            &self.state.meta.user_id,
            &self.state.meta.device_id,
            &key,
        )))
    }

    /// The identity key of this device's own user that its approver's link proof names (JSON `{keyId,
    /// fingerprint}`), from this device's entry in its user's device listing (`devices`, JSON array) and the
    /// user's key listing (`GET /api/crypto/public-key/{userId}?all=true`, JSON): the driver pins it as the
    /// user's key. No proof, or one that does not verify: `untrusted`, with why.
    #[wasm_bindgen(js_name = linkedOwnKey)]
    pub fn linked_own_key(&self, devices: &str, key_listing: &str) -> Result<String> {
        let devices: Vec<DeviceView> = parse("device listing", devices)?;
        let listing: PublicKeyResponse = parse("key listing", key_listing)?;
        let key = bytes_of("the signature key", &self.state.meta.signature_key)?;
        match linked_identity_key(
            self.state.meta.link_secret.as_ref(),
            &self.state.meta.user_id,
            &self.state.meta.device_id,
            &key,
            &devices,
            &Directory::from_listing(&listing),
        ) {
            Ok(linked) => json(&LinkedKeyView {
                key_id: linked.key_id,
                fingerprint: linked.fingerprint,
            }),
            Err(refusal) => fail(
                ErrorCode::Untrusted,
                format!("{refusal} ({})", refusal.as_str()),
            ),
        }
    }
}

/// The approver's side: checks `code` (as the new device showed it) against the pending device the server lists
/// (`userId/deviceId` with base64 `signatureKey`) — a code for another device or key is refused before anything is
/// certified — and returns the link proof (base64) over `certificate` (JSON `{issuerKeyId, issuedAt, signature}`,
/// the certificate about to be posted) for `POST /api/devices/approve`'s `linkProof`.
#[wasm_bindgen(js_name = linkProof)]
pub fn link_proof(
    code: &str,
    user_id: &str,
    device_id: &str,
    signature_key: &str,
    certificate: &str,
) -> Result<String> {
    let key = STANDARD
        .decode(signature_key)
        .or_else(|_| fail(ErrorCode::InvalidInput, "the signature key is not base64"))?;
    let certificate: DeviceCertificateView = parse("certificate", certificate)?;
    let secret = check_link_code(code, user_id, device_id, &key).or_else(|e| {
        let code = match e {
            LinkCodeError::Malformed => ErrorCode::InvalidInput,
            LinkCodeError::OtherDevice => ErrorCode::Untrusted,
        };
        fail(code, e.to_string())
    })?;
    prove(&secret, user_id, device_id, &key, &certificate).map_or_else(
        || {
            fail(
                ErrorCode::InvalidInput,
                "a certificate whose issuer key id is malformed",
            )
        },
        Ok,
    )
}
