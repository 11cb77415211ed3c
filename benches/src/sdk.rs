//! iotc-sdk devices for the load generator, built only with the SDK's public API.

use std::time::Duration;

use iotc_sdk::auth::{ConnectionCredential, ConnectionString};
use iotc_sdk::tls::TlsConfig;
use iotc_sdk::{Credentials, Device, Protocol, ProvisioningClient};

use crate::{BoxError, Target};

/// The shared TLS configuration: only the emulator's CA, one connector for every device.
///
/// # Errors
///
/// The PEM holds no certificate.
pub fn tls(target: &Target) -> Result<TlsConfig, BoxError> {
    Ok(TlsConfig::with_pinned_roots_pem(&target.ca_pem)?)
}

/// Provisions `device_id` through DPS (group key) and returns the assigned hub.
///
/// # Errors
///
/// Any provisioning error.
pub async fn provision(
    target: &Target,
    tls: &TlsConfig,
    device_id: &str,
) -> Result<String, BoxError> {
    let registration = ProvisioningClient::new(
        target.id_scope.clone(),
        device_id,
        Credentials::group_key(&target.group_key)?,
    )
    .dps_endpoint(target.dps_endpoint.clone())
    .tls(tls.clone())
    .registration_timeout(crate::OPERATION_TIMEOUT)
    .register()
    .await?;
    Ok(registration.assigned_hub().to_owned())
}

/// Provisions through DPS and connects (what an application does), over `protocol`
/// (`target.dps_endpoint` must be that protocol's DPS endpoint).
///
/// # Errors
///
/// Any provisioning or connection error.
pub async fn connect_dps(
    target: &Target,
    tls: &TlsConfig,
    device_id: &str,
    protocol: Protocol,
) -> Result<Device, BoxError> {
    Ok(Device::builder()
        .protocol(protocol)
        .id_scope(target.id_scope.clone())
        .device_id(device_id)
        .credentials(Credentials::group_key(&target.group_key)?)
        .dps_endpoint(target.dps_endpoint.clone())
        .tls(tls.clone())
        .operation_timeout(crate::OPERATION_TIMEOUT)
        .connect_timeout(crate::OPERATION_TIMEOUT)
        .connect()
        .await?)
}

/// Connects an already provisioned device straight to the hub with a connection string: TLS,
/// CONNECT, SUBSCRIBE and the twin GET, the same protocol work as [`crate::bare::connect`].
///
/// # Errors
///
/// Any connection error.
pub async fn connect_direct(
    target: &Target,
    tls: &TlsConfig,
    device_id: &str,
    keep_alive: Duration,
) -> Result<Device, BoxError> {
    let host = if target.hub_port == 8883 {
        target.hub_host.clone()
    } else {
        format!("{}:{}", target.hub_host, target.hub_port)
    };
    let cs = ConnectionString::new(
        host,
        device_id,
        ConnectionCredential::SharedAccessKey(target.device_key(device_id)?),
    );
    Ok(Device::builder()
        .connection_string(cs)
        .tls(tls.clone())
        .keep_alive(keep_alive)
        .operation_timeout(crate::OPERATION_TIMEOUT)
        .connect_timeout(crate::OPERATION_TIMEOUT)
        .connect()
        .await?)
}
