//! Credential rotation (issue 16's proof): a device sending telemetry is rotated to a new
//! certificate (or SAS key) without being rebuilt: the emulator's registration is changed as
//! IoT Central changes it, the device gets the new credential with
//! [`Device::update_credentials_now`], keeps sending and loses nothing (counted on the
//! emulator's side); a fresh device with the old credential is refused afterwards. Beside it,
//! the expiry report of a certificate close to its `not_after`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use iotc_emulator::Emulator;
use iotc_sdk::auth::CredentialError;
use iotc_sdk::provisioning::FileProvisioningCache;
use iotc_sdk::transport::Protocol;
use iotc_sdk::{Credentials, Device, Error, Event};
use serde_json::json;

use iotc_tests::certs::TestCa;
use iotc_tests::*;

/// How many messages the device sends; the rotation happens after [`ROTATE_AT`].
const MESSAGES: u64 = 300;
const ROTATE_AT: u64 = 100;

/// A CA for the devices' certificates (also an enrollment group's, to show that an individual
/// enrollment wins over it).
fn ca() -> TestCa {
    TestCa::new("iotc-tests rotation CA")
}

/// Sends [`MESSAGES`] numbered messages from `device` while `rotate` replaces its credentials
/// after [`ROTATE_AT`]; checks that the emulator received every one.
async fn send_while_rotating(
    emulator: &Emulator,
    device: &Device,
    id: &str,
    rotate: impl std::future::Future<Output = ()>,
) {
    let collector = collect_numbered(emulator, id, MESSAGES);
    let sent = Arc::new(AtomicU64::new(0));
    let sender = {
        let device = device.clone();
        let sent = sent.clone();
        tokio::spawn(async move {
            for n in 0..MESSAGES {
                within("send", device.send_telemetry(&json!({"n": n})))
                    .await
                    .unwrap_or_else(|e| panic!("message {n}: {e}"));
                sent.store(n + 1, Ordering::SeqCst);
            }
        })
    };
    eventually("the first messages sent", || {
        (sent.load(Ordering::SeqCst) >= ROTATE_AT).then_some(())
    })
    .await;
    rotate.await;
    within("every message sent", sender).await.unwrap();
    let seen = within("every message received", collector).await.unwrap();
    assert_eq!(seen, (0..MESSAGES).collect::<BTreeSet<_>>(), "none lost");
}

/// A device on an individual X.509 enrollment is rotated to a new certificate while it sends.
pub async fn x509_rotation_loses_nothing(protocol: Protocol) {
    let emulator = emulator().await;
    let ca = ca();
    // The group trusts the CA; the individual enrollment names the one certificate.
    emulator
        .add_x509_enrollment_group("rotation-ca", &ca.pem)
        .unwrap();
    let id = id(protocol, "rotate-x509");
    let (old, old_pem) = ca.leaf(&id, None);
    let (new, new_pem) = ca.leaf(&id, None);
    emulator
        .set_x509_device_certificates(&id, &old_pem, None)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = FileProvisioningCache::new(dir.path().join("assignment.json"));
    let device = within(
        "connect",
        builder(&emulator, protocol, &id)
            .credentials(Credentials::x509(old.clone()))
            .provisioning_cache(cache.clone())
            .retry_policy(fast_retry())
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(emulator.dps_registrations(&id), 1);

    send_while_rotating(&emulator, &device, &id, async {
        // IoT Central replaces the enrollment's certificate, then the device switches.
        emulator
            .set_x509_device_certificates(&id, &new_pem, None)
            .unwrap();
        within(
            "the rotation",
            device.update_credentials_now(Credentials::x509(new.clone())),
        )
        .await
        .unwrap();
    })
    .await;
    assert_eq!(
        emulator.dps_registrations(&id),
        2,
        "one registration with the new certificate"
    );
    if protocol != Protocol::Https {
        // HTTPS keeps no connection to look at.
        assert!(emulator.device(&id).unwrap().connected);
    }

    // The old certificate is refused now: at the hub the cache points to, then at DPS.
    let refused = within(
        "connect with the old certificate",
        builder(&emulator, protocol, &id)
            .credentials(Credentials::x509(old))
            .provisioning_cache(cache)
            .connect(),
    )
    .await;
    assert!(
        matches!(refused, Err(Error::Unauthorized(_))),
        "{refused:?}"
    );
    // Another certificate from the same CA is not the enrolled one either.
    let (other, _) = ca.leaf(&id, None);
    let refused = within(
        "connect with another certificate of the CA",
        builder(&emulator, protocol, &id)
            .credentials(Credentials::x509(other))
            .connect(),
    )
    .await;
    assert!(
        matches!(refused, Err(Error::Unauthorized(_))),
        "{refused:?}"
    );
    // The rotated device is still connected and sending.
    within("send after", device.send_telemetry(&json!({"after": true})))
        .await
        .unwrap();
    device.close().await.unwrap();
}

/// A device on the SAS group's derived key gets a regenerated key of its own while it sends.
pub async fn sas_rotation_loses_nothing(protocol: Protocol) {
    let emulator = emulator().await;
    let id = id(protocol, "rotate-sas");
    let device = within(
        "connect",
        builder(&emulator, protocol, &id)
            .retry_policy(fast_retry())
            .connect(),
    )
    .await
    .unwrap();
    send_while_rotating(&emulator, &device, &id, async {
        let key = emulator.regenerate_device_key(&id).unwrap();
        within(
            "the rotation",
            device.update_credentials_now(Credentials::device_key(&key).unwrap()),
        )
        .await
        .unwrap();
    })
    .await;
    assert_eq!(emulator.dps_registrations(&id), 2);

    // The group-derived key is refused now.
    let refused = within(
        "connect with the old key",
        builder(&emulator, protocol, &id).connect(),
    )
    .await;
    assert!(
        matches!(refused, Err(Error::Unauthorized(_))),
        "{refused:?}"
    );
    device.close().await.unwrap();
}

matrix! {
    [x509_rotation_loses_nothing, sas_rotation_loses_nothing] on [
        mqtt => Protocol::Mqtt,
        mqtt_ws => Protocol::MqttWs,
        amqp => Protocol::Amqp,
        amqp_ws => Protocol::AmqpWs,
        https => Protocol::Https,
    ]
}

/// Without a reconnection, the next connection (here: the hub closes the connection) uses the
/// updated key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_takes_effect_at_the_next_connection() {
    let emulator = emulator().await;
    let id = "rotate-next";
    let device = within(
        "connect",
        builder(&emulator, Protocol::Mqtt, id)
            .retry_policy(fast_retry())
            .connect(),
    )
    .await
    .unwrap();
    let key = emulator.regenerate_device_key(id).unwrap();
    device
        .update_credentials(Credentials::device_key(&key).unwrap())
        .unwrap();
    // Still connected with the old credentials: nothing happened yet.
    within("send", device.send_telemetry(&json!({"n": 1})))
        .await
        .unwrap();
    assert_eq!(emulator.dps_registrations(id), 1);
    let mut changes = device.state_changes();
    assert!(emulator.disconnect_device(id));
    // It reconnects, registering with the new key.
    loop {
        match within("reconnection", changes.next()).await {
            Some(iotc_sdk::device::ConnectionState::Connected) => break,
            Some(iotc_sdk::device::ConnectionState::Closed { reason }) => {
                panic!("closed: {reason:?}")
            }
            Some(_) => {}
            None => panic!("the state stream ended"),
        }
    }
    assert_eq!(emulator.dps_registrations(id), 2);
    within("send", device.send_telemetry(&json!({"n": 2})))
        .await
        .unwrap();
    device.close().await.unwrap();
}

/// Credentials that cannot work for the device are a typed error, and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_registration_id_is_refused() {
    let emulator = emulator().await;
    let device = connect(&emulator, Protocol::Mqtt, "rotate-mismatch").await;
    let (other, _) = ca().leaf("someone-else", None);
    let refused = device.update_credentials(Credentials::x509(other));
    assert!(
        matches!(
            refused,
            Err(Error::Credentials(CredentialError::NotRotatable(_)))
        ),
        "{refused:?}"
    );
    within("send", device.send_telemetry(&json!({"n": 1})))
        .await
        .unwrap();
    device.close().await.unwrap();
}

/// A certificate that expires within the warning period is reported at connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_close_to_expiry_is_reported() {
    let emulator = emulator().await;
    let ca = ca();
    let id = "rotate-expiring";
    let not_after = time::OffsetDateTime::now_utc() + time::Duration::days(10);
    let (identity, pem) = ca.leaf(id, Some(not_after));
    emulator
        .set_x509_device_certificates(id, &pem, None)
        .unwrap();
    let device = within(
        "connect",
        builder(&emulator, Protocol::Mqtt, id)
            .credentials(Credentials::x509(identity.clone()))
            .connect(),
    )
    .await
    .unwrap();
    match next_event(&device).await {
        Event::CredentialExpiring {
            subject,
            not_after: reported,
        } => {
            assert_eq!(subject, id);
            assert_eq!(reported, identity.not_after());
        }
        other => panic!("expected the expiry report, got {other:?}"),
    }
    device.close().await.unwrap();

    // With a shorter warning period, nothing is reported.
    let device = within(
        "connect",
        builder(&emulator, Protocol::Mqtt, id)
            .credentials(Credentials::x509(identity))
            .certificate_expiry_warning(Duration::from_secs(24 * 3600))
            .connect(),
    )
    .await
    .unwrap();
    let event = tokio::time::timeout(Duration::from_millis(500), device.next_event()).await;
    assert!(event.is_err(), "no event expected: {event:?}");
    device.close().await.unwrap();
}
