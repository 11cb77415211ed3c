//! DPS over HTTPS (protocol.md §3.1): `PUT …/register`, then `GET …/operations/{id}` until
//! the operation ends; the same answers as over MQTT, read by the same
//! [`interpret_for`](super::interpret_for).

use azure_core::http::Method;
use serde_json::Value;
use tracing::{debug, info};

use super::{interpret_for, Next, ProvisioningClient, Registration, DPS_TOKEN_TTL, MAX_RETRIES};
use crate::auth::dps_resource;
use crate::transport::http::{segment, Auth, HttpsClient, Timeouts};
use crate::transport::mqtt::topics::DPS_API_VERSION;
use crate::transport::Protocol;
use crate::{Error, Result};

pub(super) async fn register(
    client: &ProvisioningClient,
    host: &str,
    port: u16,
    body: Value,
) -> Result<Registration> {
    let registration_id = &client.registration_id;
    let identity = client.credentials.x509_identity();
    let auth = match identity {
        Some(_) => Auth::None,
        None => {
            let key = client
                .credentials
                .device_sas_key(registration_id)
                .ok_or_else(|| {
                    Error::Config("the credentials hold neither a key nor a certificate".into())
                })?;
            Auth::key(
                key,
                dps_resource(&client.id_scope, registration_id),
                Some("registration"),
                DPS_TOKEN_TTL,
            )
        }
    };
    let http = HttpsClient::new(
        host,
        port,
        &client.tls,
        identity,
        auth,
        Timeouts {
            connect: client.timeout,
            request: client.timeout,
        },
    )?;
    debug!(%host, port, %registration_id, "registering with DPS over HTTPS");
    let base = format!(
        "/{}/registrations/{}",
        segment(&client.id_scope),
        segment(registration_id)
    );
    let headers = || {
        vec![
            (
                "content-type".to_owned(),
                "application/json; charset=utf-8".to_owned(),
            ),
            ("accept".to_owned(), "application/json".to_owned()),
        ]
    };
    let register_body = serde_json::to_vec(&body)?;
    let mut operation_id: Option<String> = None;
    let mut retries = 0;
    let registration = loop {
        let response = match &operation_id {
            None => {
                let path = format!("{base}/register?api-version={DPS_API_VERSION}");
                http.send(Method::Put, &path, headers(), Some(register_body.clone()))
                    .await?
            }
            Some(op) => {
                let path = format!(
                    "{base}/operations/{}?api-version={DPS_API_VERSION}",
                    segment(op)
                );
                http.send(Method::Get, &path, headers(), None).await?
            }
        };
        let (status, retry_after) = (response.status, response.retry_after());
        debug!(status, ?retry_after, "DPS answered");
        match interpret_for(Protocol::Https, status, retry_after, &response.body)? {
            Next::Done(registration) => break registration,
            Next::Poll {
                operation_id: op,
                after,
            } => {
                operation_id = Some(op);
                tokio::time::sleep(after).await;
            }
            Next::Retry { after } => {
                retries += 1;
                if retries > MAX_RETRIES {
                    return Err(if status == 429 {
                        Error::Throttled { retry_after: after }
                    } else {
                        Error::Rejected {
                            status,
                            message: String::from_utf8_lossy(&response.body).into_owned(),
                        }
                    });
                }
                tokio::time::sleep(after).await;
            }
        }
    };
    info!(hub = %registration.assigned_hub, device_id = %registration.device_id, "device provisioned");
    Ok(registration)
}
