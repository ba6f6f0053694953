//! This user's MLS devices: the first device certified by the identity key on this device (`device init`),
//! device tokens, the key package supply, and the trust check every other device must pass — a certificate
//! by its user's identity key as this device pinned it (docs/mls.md, "Device certificates").

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_client_core::contacts::KeyLifetime;
use e2ee_client_core::devices::{CertifiedDevice, Uncertified, check_device, device_fingerprint};
use e2ee_client_core::link::{
    LinkSecret, check_link_code, link_code, link_proof, linked_identity_key,
};
use e2ee_crypto::LINK_SECRET_BYTES;
use e2ee_crypto::{DeviceRevocation, DeviceStatement};
use e2ee_protocol::{
    DeviceCertificateView, DeviceSessionRequest, DeviceStatus, DeviceView, KeyAuthorization,
    RegisterDeviceRequest, RevokeDeviceRequest, UploadKeyPackagesRequest,
};
use openmls_traits::OpenMlsProvider as _;
use openmls_traits::random::OpenMlsRand as _;
use serde::Serialize;

use super::Device;
use crate::clock::now_millis;
use crate::error::{ClientError, Result};
use crate::keyring::KeyRing;
use crate::mls::MlsState;

/// One-time key packages kept on the server; topped up when fewer than [`KEY_PACKAGE_LOW`] are left.
pub const KEY_PACKAGE_BATCH: usize = 50;
pub const KEY_PACKAGE_LOW: u64 = 10;

/// What `device init / request / approve / revoke` print about one device: derived from the directory's
/// [`DeviceView`] (the one description of a device; [`DeviceReport::of`]) plus what only this device knows —
/// the fingerprint a user compares and the key package supply. Not the wire type itself: the CLI's JSON keeps
/// exactly these fields.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceReport {
    pub user_id: String,
    pub device_id: String,
    pub status: DeviceStatus,
    /// Hex SHA-256 of the device's signature key, grouped: what a user compares when approving a device.
    pub fingerprint: String,
    pub key_packages: u64,
    pub last_resort: bool,
    /// `device request` only: the code to type on the approving device (`device approve ID --code CODE`). It
    /// carries this device's link secret: the approver proves with it which identity key it certified this
    /// device under (docs/mls.md, "Linking a device").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_code: Option<String>,
}

impl DeviceReport {
    /// The report of `view`, with the fingerprint of `signature_key`: for this device its own key (never the
    /// server's echo of it: the fingerprint is what the user compares on the approving device), for another the
    /// listed key. No key packages.
    fn of(view: &DeviceView, signature_key: &[u8]) -> DeviceReport {
        DeviceReport {
            user_id: view.user_id.clone(),
            device_id: view.device_id.clone(),
            status: view.status,
            fingerprint: device_fingerprint(signature_key),
            key_packages: 0,
            last_resort: false,
            link_code: None,
        }
    }
}

/// One device of a user as `device list` shows it: the listed [`DeviceView`] reduced to what a user reads
/// ([`ListedDevice::of`]), with the display name made safe and whether this device trusts its certificate
/// (the core's [`CertifiedDevice`] is that trusted subset, for the MLS checks).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedDevice {
    pub device_id: String,
    pub display_name: String,
    pub status: DeviceStatus,
    pub fingerprint: String,
    /// Certified by an identity key this device trusts for the user.
    pub trusted: bool,
    /// Why not, when not trusted: the device-trust reason of docs/mls.md ("Device certificates"), e.g.
    /// `untrusted_issuer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

impl ListedDevice {
    /// `view` as listed, with this device's decision on it (the core's `check_device`).
    fn of(
        view: &DeviceView,
        checked: &std::result::Result<CertifiedDevice, Uncertified>,
    ) -> ListedDevice {
        let key = STANDARD.decode(&view.signature_key).unwrap_or_default();
        ListedDevice {
            trusted: checked.is_ok(),
            reason: checked.as_ref().err().map(|why| why.as_str()),
            fingerprint: device_fingerprint(&key),
            device_id: view.device_id.clone(),
            display_name: crate::text::sanitize_line(&view.display_name),
            status: view.status,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceListReport {
    pub user_id: String,
    pub username: String,
    pub devices: Vec<ListedDevice>,
    /// For your own devices on a device that holds no identity key and trusts none of yours yet: why, and
    /// what to do (review N10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A certificate by the identity key on this device for `user_id`'s device `device_id` and its key.
fn certify(
    ring: &KeyRing,
    user_id: &str,
    device_id: &str,
    signature_key: &[u8],
) -> Result<DeviceCertificateView> {
    let issued_at = now_millis();
    let identity = ring.current();
    let statement = DeviceStatement {
        user_id,
        device_id,
        signature_key,
        issuer_key_id: identity.key_id(),
        created_at: issued_at,
    };
    Ok(DeviceCertificateView {
        issuer_key_id: identity.key_id().to_string(),
        issued_at,
        signature: STANDARD.encode(statement.sign(identity)?),
    })
}

/// A `POST /api/devices/revoke` body for `user_id`'s device `device_id`, authorized by the identity key on this
/// device (`ring`'s current key) over [`DeviceRevocation`] at `created_at` (docs/security.md).
pub fn revoke_device_request(
    ring: &KeyRing,
    user_id: &str,
    device_id: &str,
    created_at: u64,
) -> Result<RevokeDeviceRequest> {
    let identity = ring.current();
    let statement = DeviceRevocation {
        user_id,
        device_id,
        created_at,
    };
    Ok(RevokeDeviceRequest {
        device_id: device_id.to_owned(),
        created_at,
        authorization: Some(KeyAuthorization {
            key_id: identity.key_id().to_string(),
            signature: STANDARD.encode(statement.sign(identity)?),
        }),
        password: None,
    })
}

impl Device {
    /// A new MLS state for this profile, saved, then registered as `device_id` with the certificate
    /// `certificate` makes for its signature key (none: a pending device), with a fresh link secret in the
    /// state when `link` (a pending device to be approved with its link code). The state is saved before the
    /// server learns the key (a registered device whose private key was lost could not be used, nor
    /// registered again under its id), and deleted again if the registration fails.
    async fn register_new_device(
        &mut self,
        passphrase: &[u8],
        device_id: &str,
        link: bool,
        certificate: impl FnOnce(&[u8]) -> Result<Option<DeviceCertificateView>>,
    ) -> Result<(MlsState, DeviceView)> {
        let me = self.me()?;
        if self.profile.load_mls_state(|_| true)?.is_some() {
            return Err(ClientError::Usage(format!(
                "profile {} already has an MLS device",
                self.profile.name()
            )));
        }
        let mut state = MlsState::create(passphrase, &me, device_id)?;
        if link {
            let secret = state
                .provider()
                .rand()
                .random_array::<LINK_SECRET_BYTES>()
                .map_err(|e| {
                    ClientError::Mls(format!("no randomness for the link secret: {e:?}"))
                })?;
            state.meta.link_secret = Some(LinkSecret::from_bytes(secret));
        }
        let signature_key = state.signer().public().to_vec();
        let certificate = certificate(&signature_key)?;
        state.save(&self.profile)?;
        let registered = self
            .client
            .register_device(&RegisterDeviceRequest {
                device_id: device_id.to_owned(),
                display_name: device_id.to_owned(),
                signature_key: STANDARD.encode(&signature_key),
                certificate,
            })
            .await;
        match registered {
            Ok(view) => Ok((state, view)),
            Err(error) => {
                self.profile.delete_mls_state()?;
                Err(error)
            }
        }
    }

    /// `e2ee device init`: this profile's MLS device, certified by the identity key on this device (the
    /// account's first device), with a batch of key packages and a last-resort package on the server.
    pub async fn device_init(
        &mut self,
        ring: &KeyRing,
        passphrase: &[u8],
        device_id: &str,
    ) -> Result<(MlsState, DeviceReport)> {
        let me = self.me()?;
        let (mut state, view) = self
            .register_new_device(passphrase, device_id, false, |key| {
                certify(ring, &me, device_id, key).map(Some)
            })
            .await?;
        let signature_key = state.signer().public().to_vec();
        self.use_device_token(&state).await?;
        let (key_packages, last_resort) = self.top_up_key_packages(&mut state).await?;
        Ok((
            state,
            DeviceReport {
                user_id: me,
                key_packages,
                last_resort,
                ..DeviceReport::of(&view, &signature_key)
            },
        ))
    }

    /// `e2ee device request`: this profile becomes a new, pending device of the account (it holds no
    /// identity key): registered without a certificate, to be approved on a device that has one
    /// (`e2ee device approve ID --code CODE`). The link code carries a secret kept sealed here; the approver
    /// proves with it which identity key certified this device (review N10).
    pub async fn device_request(
        &mut self,
        passphrase: &[u8],
        device_id: &str,
    ) -> Result<(MlsState, DeviceReport)> {
        let me = self.me()?;
        let (state, view) = self
            .register_new_device(passphrase, device_id, true, |_| Ok(None))
            .await?;
        let signature_key = state.signer().public().to_vec();
        let link_code = state
            .meta
            .link_secret
            .as_ref()
            .map(|secret| link_code(secret, &me, device_id, &signature_key));
        Ok((
            state,
            DeviceReport {
                user_id: me,
                link_code,
                ..DeviceReport::of(&view, &signature_key)
            },
        ))
    }

    /// `e2ee device approve [DEVICE_ID | --all]`: certifies pending devices of this user with the identity
    /// key on this device. Without a device id and without `all`, nothing is approved: the pending devices
    /// and their fingerprints are listed, to compare with what the new device shows. The approved devices
    /// join this user's groups on this device's next `sync` (once they have uploaded key packages). With the
    /// new device's link `code` (one device id, not `all`): the code must name that device as the server
    /// lists it (else a usage error, nothing approved), and the approval carries the link proof (review N10).
    pub async fn device_approve(
        &mut self,
        ring: &KeyRing,
        state: &MlsState,
        device_id: Option<&str>,
        all: bool,
        code: Option<&str>,
    ) -> Result<Vec<DeviceReport>> {
        let me = self.me()?;
        if code.is_some() && (all || device_id.is_none()) {
            return Err(ClientError::Usage(
                "--code approves one device: give its DEVICE_ID".into(),
            ));
        }
        self.use_device_token(state).await?;
        let pending: Vec<DeviceView> = self
            .client
            .list_devices(&me)
            .await?
            .devices
            .into_iter()
            .filter(|device| device.status == DeviceStatus::Pending)
            .filter(|device| all || device_id.is_none_or(|id| id == device.device_id))
            .collect();
        if let Some(id) = device_id
            && pending.is_empty()
        {
            return Err(ClientError::Usage(format!(
                "no pending device {id} (see `e2ee device list`)"
            )));
        }
        let approve = all || device_id.is_some();
        let mut reports = Vec::new();
        for device in pending {
            let signature_key = STANDARD.decode(&device.signature_key).map_err(|_| {
                ClientError::InvalidResponse("a device key that is not base64".into())
            })?;
            // Checked before anything is certified: a code for another device (or another key) approves nothing.
            let secret = code
                .map(|code| check_link_code(code, &me, &device.device_id, &signature_key))
                .transpose()
                .map_err(|e| ClientError::Usage(format!("device {}: {e}", device.device_id)))?;
            let mut status = device.status;
            if approve {
                let certificate = certify(ring, &me, &device.device_id, &signature_key)?;
                let link_proof = match &secret {
                    Some(secret) => Some(
                        link_proof(secret, &me, &device.device_id, &signature_key, &certificate)
                            .ok_or_else(|| {
                                ClientError::Profile("cannot make the link proof".into())
                            })?,
                    ),
                    None => None,
                };
                let approved = self
                    .client
                    .approve_device(&e2ee_protocol::ApproveDeviceRequest {
                        device_id: device.device_id.clone(),
                        certificate,
                        link_proof,
                    })
                    .await?;
                status = approved.status;
                self.certified.remove(&me);
                self.listed.remove(&me);
            }
            reports.push(DeviceReport {
                user_id: me.clone(),
                status,
                ..DeviceReport::of(&device, &signature_key)
            });
        }
        Ok(reports)
    }

    /// `e2ee device revoke DEVICE_ID`: the device leaves the directory (for good) and, with a commit per
    /// group, every group of this device that has it. The revocation is signed by the identity key on this
    /// device (`ring`), which must be the account's active key: a device token alone revokes nothing.
    pub async fn device_revoke(
        &mut self,
        ring: &KeyRing,
        state: &mut MlsState,
        device_id: &str,
    ) -> Result<DeviceReport> {
        let me = self.me()?;
        let request = revoke_device_request(ring, &me, device_id, now_millis())?;
        self.use_device_token(state).await?;
        let view = self.client.revoke_device(&request).await?;
        self.certified.remove(&me);
        self.listed.remove(&me);
        let gone = e2ee_mls::DeviceIdentity {
            user_id: me.clone(),
            device_id: device_id.to_owned(),
        };
        if gone != state.identity() {
            self.remove_device_everywhere(state, &gone).await?;
        }
        let key = STANDARD.decode(&view.signature_key).unwrap_or_default();
        Ok(DeviceReport {
            user_id: me,
            ..DeviceReport::of(&view, &key)
        })
    }

    /// `e2ee device list [--user USER]`: the user's devices (yours by default), each with its fingerprint and
    /// whether this device trusts its certificate.
    pub async fn device_list(&mut self, username: Option<&str>) -> Result<DeviceListReport> {
        let me = self.me()?;
        let (user_id, username) = match username {
            Some(name) => {
                let user = self.lookup(name).await?;
                (user.user_id, user.username)
            }
            None => (me.clone(), self.profile.username().to_owned()),
        };
        let devices = self
            .checked_devices(&user_id)
            .await?
            .iter()
            .map(|(device, checked)| ListedDevice::of(device, checked))
            .collect();
        let note = if user_id == me {
            self.own_key_unverified.clone()
        } else {
            None
        };
        Ok(DeviceListReport {
            user_id,
            username,
            devices,
            note,
        })
    }

    /// Authenticates as this device from now on: a device token (signed with the device's key, asked for
    /// with the user session) replaces the user token for every request of this run.
    pub async fn use_device_token(&mut self, state: &MlsState) -> Result<()> {
        self.me()?;
        if self
            .own_device
            .as_ref()
            .is_none_or(|own| own.device_id != state.meta.device_id)
        {
            self.own_device = Some(super::OwnDevice {
                device_id: state.meta.device_id.clone(),
                signature_key: state.signer().public().to_vec(),
                link_secret: state.meta.link_secret.clone(),
            });
        }
        // One token serves a whole run of operations (an SDK user's many sends) until shortly before it expires.
        if let Some((device_id, expires_at)) = &self.device_token
            && *device_id == state.meta.device_id
            && expires_at - crate::clock::now_ms() > super::SESSION_MARGIN_MS
        {
            return Ok(());
        }
        let created_at = now_millis();
        let signature = state.session_proof(created_at)?;
        let session = self
            .client
            .device_session(&DeviceSessionRequest {
                device_id: state.meta.device_id.clone(),
                created_at,
                signature: STANDARD.encode(signature),
            })
            .await?;
        self.client.set_token(Some(session.token));
        self.device_token = Some((session.device_id, session.expires_at));
        // A linked device settles its own user's key from the link proof on its first operation after the
        // approval (review N10), so that `device list` and `keys verify`, which cannot read the secret, find
        // the pin afterwards. Once pinned, this costs nothing.
        let me = self.me()?;
        if state.meta.link_secret.is_some()
            && self.profile.current_key().is_none()
            && self.contacts.get(&me).is_none()
        {
            let devices = self.certified_devices(&me).await?;
            self.certified.insert(me, devices);
        }
        Ok(())
    }

    /// Uploads key packages when the server holds fewer than [`KEY_PACKAGE_LOW`] one-time packages, and a
    /// last-resort package when it has none (a used one is replaced by the next upload). The state is saved
    /// before uploading (the packages' private keys live in it), and the private keys of expired packages are
    /// deleted. Returns the supply after.
    pub async fn top_up_key_packages(&mut self, state: &mut MlsState) -> Result<(u64, bool)> {
        let supply = self.client.key_package_supply().await?;
        let pruned = state.prune_key_packages(crate::clock::now_ms())?;
        let mut packages = Vec::new();
        if supply.one_time < KEY_PACKAGE_LOW {
            let missing = usize::try_from(supply.one_time).unwrap_or(0);
            packages.extend(state.key_packages(KEY_PACKAGE_BATCH.saturating_sub(missing), false)?);
        }
        if !supply.last_resort {
            packages.extend(state.key_packages(1, true)?);
        }
        if packages.is_empty() {
            if pruned > 0 {
                state.save(&self.profile)?;
            }
            return Ok((supply.one_time, supply.last_resort));
        }
        state.save(&self.profile)?;
        let after = self
            .client
            .upload_key_packages(&UploadKeyPackagesRequest {
                key_packages: packages,
            })
            .await?;
        Ok((after.one_time, after.last_resort))
    }

    /// The user's active devices that this device trusts: each certified by an identity key of the user that
    /// vouches for it at the certificate's time (the core's rule, `e2ee_client_core::devices`) — for its own
    /// user, a key this device holds, else the key its approver's link proof names ([`Self::pin_own_key`]:
    /// never the server's word alone); for a contact, a key pinned here, pinning the user's active key on
    /// first use as for a message's sender. Devices without such a certificate are left out: whatever names
    /// them is refused.
    pub(super) async fn certified_devices(
        &mut self,
        user_id: &str,
    ) -> Result<Vec<CertifiedDevice>> {
        let checked = self.checked_devices(user_id).await?;
        Ok(checked
            .into_iter()
            .filter_map(|(_, checked)| checked.ok())
            .collect())
    }

    /// Every device the server lists for the user, with this device's decision on it (see
    /// [`Device::certified_devices`]): certified, or why not.
    #[allow(clippy::type_complexity)]
    async fn checked_devices(
        &mut self,
        user_id: &str,
    ) -> Result<
        Vec<(
            DeviceView,
            std::result::Result<CertifiedDevice, Uncertified>,
        )>,
    > {
        let me = self.me()?;
        self.directory(user_id).await?;
        let own_keys = user_id == me && self.profile.current_key().is_some();
        let devices = self.client.list_devices(user_id).await?;
        if user_id == me && !own_keys {
            self.pin_own_key(&me, &devices.devices).await?;
            self.save_contacts()?;
        } else if !own_keys {
            self.pin_sender_on_first_use(user_id);
            self.save_contacts()?;
        }
        let listing = self
            .directory
            .get(user_id)
            .ok_or_else(|| ClientError::Profile("key directory cache".into()))?;
        let vouching = |issuer: &str| -> Option<KeyLifetime> {
            if own_keys {
                self.profile.local_key(issuer).map(|key| KeyLifetime {
                    retired_at: key.retired_at,
                    revoked_at: key.revoked_at,
                })
            } else {
                self.contacts.get(user_id)?.lifetime(issuer)
            }
        };
        Ok(devices
            .devices
            .into_iter()
            .map(|device| {
                let checked = check_device(user_id, &device, listing, vouching);
                (device, checked)
            })
            .collect())
    }

    /// Review N10: a device without an identity key of its own pins its own user's key only from its
    /// approver's link proof (`e2ee_client_core::link::linked_identity_key`), as an accepted key; a rotation
    /// chain from it is then followed as for a contact. A pin made earlier (by a link, by `keys verify ME
    /// --accept`, or by an older version's first use) stays. Without a proof that verifies, nothing is pinned
    /// and [`Device::own_key_unverified`] says why: this user's devices stay untrusted.
    async fn pin_own_key(&mut self, me: &str, devices: &[DeviceView]) -> Result<()> {
        if self.contacts.get(me).is_some() {
            self.own_key_unverified = None;
            return Ok(());
        }
        let username = self.profile.username().to_owned();
        let Some(own) = self.own_device.clone() else {
            self.own_key_unverified = Some(format!(
                "this device holds no identity key and has not verified yours yet: run `e2ee sync`, which \
                 checks the link proof of the device that approved this one; without one, compare your key's \
                 fingerprint with `e2ee keys show` on that device and run `e2ee keys verify {username} --accept`"
            ));
            return Ok(());
        };
        let listing = self
            .directory
            .get(me)
            .ok_or_else(|| ClientError::Profile("key directory cache".into()))?;
        match linked_identity_key(
            own.link_secret.as_ref(),
            me,
            &own.device_id,
            &own.signature_key,
            devices,
            listing,
        ) {
            Ok(linked) => {
                let now = crate::clock::now_ms();
                self.contacts
                    .accept(me, &username, &linked.key_id, &linked.fingerprint, now);
                // Rotated since the approval: follow the chain the linked key signed.
                self.refresh_directory(me).await?;
                self.contacts_changed = true;
                self.own_key_unverified = None;
            }
            Err(refusal) => {
                self.own_key_unverified = Some(format!(
                    "your devices are not trusted on this device: {refusal} ({}). Compare your key's \
                     fingerprint with `e2ee keys show` on a device that holds it and run \
                     `e2ee keys verify {username} --accept`",
                    refusal.as_str()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(status: DeviceStatus) -> DeviceView {
        DeviceView {
            user_id: "u_1".into(),
            device_id: "phone".into(),
            display_name: "phone\u{1b}[2J".into(),
            signature_key: STANDARD.encode([7u8; 32]),
            status,
            certificate: None,
            created_at: 1,
            approved_at: None,
            revoked_at: None,
            link_proof: None,
        }
    }

    /// The CLI prints these reports as JSON; deriving them from `DeviceView` keeps exactly their fields.
    #[test]
    fn reports_derived_from_the_device_view_keep_their_json_fields() {
        let report = DeviceReport::of(&view(DeviceStatus::Pending), &[9u8; 32]);
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            serde_json::json!({"userId": "u_1", "deviceId": "phone", "status": "pending",
                "fingerprint": device_fingerprint(&[9u8; 32]), "keyPackages": 0, "lastResort": false})
        );
        let certified = Ok(CertifiedDevice {
            user_id: "u_1".into(),
            device_id: "phone".into(),
            signature_key: vec![7u8; 32],
        });
        let listed = ListedDevice::of(&view(DeviceStatus::Active), &certified);
        assert_eq!(
            serde_json::to_value(&listed).unwrap(),
            serde_json::json!({"deviceId": "phone", "displayName": "phone [2J", "status": "active",
                "fingerprint": device_fingerprint(&[7u8; 32]), "trusted": true})
        );
        let untrusted = ListedDevice::of(
            &view(DeviceStatus::Active),
            &Err(Uncertified::UntrustedIssuer),
        );
        assert_eq!(
            (untrusted.trusted, untrusted.reason),
            (false, Some("untrusted_issuer"))
        );
    }
}
