//! Stored records → the response bodies of `e2ee-protocol`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_crypto::KeyId;
use e2ee_protocol::{
    ClaimedKeyPackageView, DeviceCertificateView, DeviceView, KeyEndorsementView,
    KeyPackageSupplyView, KeyView, MessagePage, MessageView,
};
use e2ee_storage::{
    ClaimedKeyPackage, DeviceCertificate, DeviceRecord, KeyPackageSupply, Message, Page,
    PublicKeyRecord,
};

pub fn key_view(record: &PublicKeyRecord) -> KeyView {
    KeyView {
        key_id: record.key_id.clone(),
        fingerprint: KeyId::parse(&record.key_id)
            .map(|id| id.fingerprint())
            .unwrap_or_default(),
        bits: record.bits,
        public_key: record.public_key_pem.clone(),
        status: record.status,
        created_at: record.created_at,
        retired_at: record.retired_at,
        revoked_at: record.revoked_at,
        endorsement: record.endorsement.as_ref().map(|e| KeyEndorsementView {
            key_id: e.key_id.clone(),
            created_at: u64::try_from(e.created_at).unwrap_or(0),
            signature: STANDARD.encode(&e.signature),
        }),
    }
}

fn message_view(m: Message) -> MessageView {
    MessageView {
        message_id: m.id,
        chat_id: m.chat_id,
        sender_id: m.sender_id,
        receiver_id: m.receiver_id,
        client_message_id: m.client_message_id,
        envelope: m.envelope,
        created_at: m.created_at,
        read_at: m.read_at,
    }
}

pub fn message_page(page: Page<Message>) -> MessagePage {
    MessagePage {
        messages: page.items.into_iter().map(message_view).collect(),
        next_cursor: page.next_cursor,
    }
}

pub fn certificate_view(certificate: &DeviceCertificate) -> DeviceCertificateView {
    DeviceCertificateView {
        issuer_key_id: certificate.issuer_key_id.clone(),
        issued_at: u64::try_from(certificate.issued_at).unwrap_or(0),
        signature: STANDARD.encode(&certificate.signature),
    }
}

pub fn device_view(record: &DeviceRecord) -> DeviceView {
    DeviceView {
        user_id: record.user_id.clone(),
        device_id: record.device_id.clone(),
        display_name: record.display_name.clone(),
        signature_key: STANDARD.encode(&record.signature_key),
        status: record.status,
        certificate: record.certificate.as_ref().map(certificate_view),
        created_at: record.created_at,
        approved_at: record.approved_at,
        revoked_at: record.revoked_at,
        link_proof: record
            .certificate
            .as_ref()
            .and_then(|c| c.link_proof.as_deref())
            .map(|proof| STANDARD.encode(proof)),
    }
}

pub fn supply_view(supply: KeyPackageSupply) -> KeyPackageSupplyView {
    KeyPackageSupplyView {
        one_time: supply.one_time,
        last_resort: supply.last_resort,
    }
}

pub fn claimed_view(package: &ClaimedKeyPackage) -> ClaimedKeyPackageView {
    ClaimedKeyPackageView {
        device_id: package.device_id.clone(),
        key_package: STANDARD.encode(&package.message),
        last_resort: package.last_resort,
    }
}
