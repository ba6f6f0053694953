//! The MLS routes (docs/mls.md): devices, key packages, groups, the group log and the Welcome inbox. Device-
//! scoped routes need a device token ([`Client::set_token`] with the answer of [`Client::device_session`]).

use e2ee_protocol::routes;
use e2ee_protocol::{
    AckWelcomeRequest, AckWelcomeResponse, ApproveDeviceRequest, ClaimKeyPackagesRequest,
    ClaimKeyPackagesResponse, CommitBundleRequest, CreateGroupRequest, DeviceList,
    DeviceSessionRequest, DeviceSessionResponse, DeviceView, GroupListPage, GroupLogEntryView,
    GroupLogPage, GroupMessageRequest, GroupView, KeyPackageSupplyView, RegisterDeviceRequest,
    RevokeDeviceRequest, UploadKeyPackagesRequest, WelcomeList,
};

use super::{Call, Client};
use crate::device::paging::Pages;
use crate::error::Result;

impl Client {
    /// `POST /api/devices` (user token).
    pub async fn register_device(&self, request: &RegisterDeviceRequest) -> Result<DeviceView> {
        self.request(Call::body(routes::REGISTER_DEVICE, request))
            .await
    }

    /// `POST /api/devices/session` (user token): a device token.
    pub async fn device_session(
        &self,
        request: &DeviceSessionRequest,
    ) -> Result<DeviceSessionResponse> {
        self.request(Call::body(routes::DEVICE_SESSION, request))
            .await
    }

    /// `POST /api/devices/approve` (device token of an active device): certifies a pending device.
    pub async fn approve_device(&self, request: &ApproveDeviceRequest) -> Result<DeviceView> {
        self.request(Call::body(routes::APPROVE_DEVICE, request))
            .await
    }

    /// `POST /api/devices/revoke` (user or device token): a revocation authorized by the identity key or the
    /// password ([`crate::device::revoke_device_request`] builds one signed by the identity key).
    pub async fn revoke_device(&self, request: &RevokeDeviceRequest) -> Result<DeviceView> {
        self.request(Call::body(routes::REVOKE_DEVICE, request))
            .await
    }

    /// `GET /api/devices/{userId}?after=`: one page of the user's devices with their certificates.
    pub async fn list_devices_page(
        &self,
        user_id: &str,
        after: Option<&str>,
    ) -> Result<DeviceList> {
        let query: Vec<(&str, String)> = after
            .map(|after| vec![("after", after.to_owned())])
            .unwrap_or_default();
        self.request(Call::new(routes::LIST_DEVICES, &[user_id]).query(&query))
            .await
    }

    /// `GET /api/devices/{userId}`, every page: the user's devices with their certificates, oldest first,
    /// following `nextAfter` under the readers' guard ([`crate::device::MAX_PAGES`] pages, no position twice):
    /// a listing that does not end is an invalid response, not a hang.
    pub async fn list_devices(&self, user_id: &str) -> Result<DeviceList> {
        let mut pages = Pages::new("devices");
        let mut all = self.list_devices_page(user_id, None).await?;
        while let Some(after) = pages.next(all.next_after.take())? {
            let page = self.list_devices_page(user_id, Some(&after)).await?;
            all.devices.extend(page.devices);
            all.next_after = page.next_after;
        }
        Ok(all)
    }

    /// `POST /api/key-packages` (device token): TLS-encoded `MLSMessage` key packages, base64.
    pub async fn upload_key_packages(
        &self,
        request: &UploadKeyPackagesRequest,
    ) -> Result<KeyPackageSupplyView> {
        self.request(Call::body(routes::UPLOAD_KEY_PACKAGES, request))
            .await
    }

    /// `GET /api/key-packages/supply` (device token).
    pub async fn key_package_supply(&self) -> Result<KeyPackageSupplyView> {
        self.request(Call::new(routes::KEY_PACKAGE_SUPPLY, &[]))
            .await
    }

    /// `POST /api/key-packages/claim` (device token): one key package per active device of the user.
    pub async fn claim_key_packages(&self, user_id: &str) -> Result<ClaimKeyPackagesResponse> {
        let body = ClaimKeyPackagesRequest {
            user_id: user_id.to_owned(),
        };
        self.request(Call::body(routes::CLAIM_KEY_PACKAGES, &body))
            .await
    }

    /// `POST /api/groups` (device token).
    pub async fn create_group(&self, request: &CreateGroupRequest) -> Result<GroupView> {
        self.request(Call::body(routes::CREATE_GROUP, request))
            .await
    }

    /// `GET /api/groups/{groupId}` (device token of a member).
    pub async fn group(&self, group_id: &str) -> Result<GroupView> {
        self.request(Call::new(routes::GET_GROUP, &[group_id]))
            .await
    }

    /// `POST /api/groups/{groupId}/commits` (device token of a member).
    pub async fn post_commit(
        &self,
        group_id: &str,
        request: &CommitBundleRequest,
    ) -> Result<GroupLogEntryView> {
        self.request(Call::body_at(routes::POST_COMMIT, &[group_id], request))
            .await
    }

    /// `POST /api/groups/{groupId}/messages` (device token of a member).
    pub async fn post_group_message(
        &self,
        group_id: &str,
        request: &GroupMessageRequest,
    ) -> Result<GroupLogEntryView> {
        self.request(Call::body_at(
            routes::POST_GROUP_MESSAGE,
            &[group_id],
            request,
        ))
        .await
    }

    /// `GET /api/groups/{groupId}/log?after=&limit=` (device token of a member).
    pub async fn group_log(&self, group_id: &str, after: Option<u64>) -> Result<GroupLogPage> {
        let mut query = vec![("limit", e2ee_protocol::MAX_PAGE_SIZE.to_string())];
        if let Some(after) = after {
            query.push(("after", after.to_string()));
        }
        self.request(Call::new(routes::READ_GROUP_LOG, &[group_id]).query(&query))
            .await
    }

    /// `GET /api/groups?after=` (device token): one page of the device's groups.
    pub async fn list_groups(&self, after: Option<&str>) -> Result<GroupListPage> {
        let query: Vec<(&str, String)> = after
            .map(|after| vec![("after", after.to_owned())])
            .unwrap_or_default();
        self.request(Call::new(routes::LIST_GROUPS, &[]).query(&query))
            .await
    }

    /// `GET /api/welcomes?after=` (device token): one page of the inbox (`nextAfter` continues).
    pub async fn welcomes(&self, after: Option<&str>) -> Result<WelcomeList> {
        let query: Vec<(&str, String)> = after
            .map(|after| vec![("after", after.to_owned())])
            .unwrap_or_default();
        self.request(Call::new(routes::LIST_WELCOMES, &[]).query(&query))
            .await
    }

    /// `POST /api/welcomes/ack` (device token).
    pub async fn ack_welcome(&self, group_id: &str, epoch: u64) -> Result<AckWelcomeResponse> {
        let body = AckWelcomeRequest {
            group_id: group_id.to_owned(),
            epoch,
        };
        self.request(Call::body(routes::ACK_WELCOME, &body)).await
    }
}
