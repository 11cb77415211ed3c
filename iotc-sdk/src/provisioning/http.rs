//! DPS over HTTPS (protocol.md §3.1): `PUT …/register`, then `GET …/operations/{id}` until
//! the operation ends; the same answers as over MQTT, read by the same state machine
//! ([`register_over`]).

use azure_core::http::Method;
use serde_json::Value;
use tracing::{debug, info};

use super::{
    register_over, Answer, Exchange, ProvisioningClient, Registration, Request, DPS_TOKEN_TTL,
};
use crate::auth::{dps_resource, RequestToken};
use crate::transport::http::{segment, HttpsClient, Timeouts};
use crate::transport::mqtt::topics::DPS_API_VERSION;
use crate::{Error, Result};

/// Registers over HTTPS.
pub(super) async fn register(
    client: &ProvisioningClient,
    host: &str,
    port: u16,
    body: Value,
) -> Result<Registration> {
    let registration_id = &client.registration_id;
    let identity = client.credentials.x509_identity();
    let auth = match identity {
        Some(_) => RequestToken::None,
        None => {
            let key = client
                .credentials
                .device_sas_key(registration_id)
                .ok_or_else(|| {
                    Error::Config("the credentials hold neither a key nor a certificate".into())
                })?;
            RequestToken::signed(
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
        client.proxy.as_ref(),
    )?;
    debug!(%host, port, %registration_id, "registering with DPS over HTTPS");
    let mut exchange = Https {
        http,
        base: format!(
            "/{}/registrations/{}",
            segment(&client.id_scope),
            segment(registration_id)
        ),
    };
    let registration = register_over(client.protocol, &body, &mut exchange).await?;
    info!(hub = %registration.assigned_hub, device_id = %registration.device_id, "device provisioned");
    Ok(registration)
}

/// `PUT {base}/register` and `GET {base}/operations/{id}`, `{base}` being
/// `/{idScope}/registrations/{registrationId}`.
struct Https {
    http: HttpsClient,
    base: String,
}

impl Exchange for Https {
    async fn send(&mut self, request: Request<'_>) -> Result<Answer> {
        let headers = vec![
            (
                "content-type".to_owned(),
                "application/json; charset=utf-8".to_owned(),
            ),
            ("accept".to_owned(), "application/json".to_owned()),
        ];
        let base = &self.base;
        let response = match request {
            Request::Register(body) => {
                let path = format!("{base}/register?api-version={DPS_API_VERSION}");
                self.http
                    .send(Method::Put, &path, headers, Some(body.to_vec()))
                    .await?
            }
            Request::Poll(op) => {
                let path = format!(
                    "{base}/operations/{}?api-version={DPS_API_VERSION}",
                    segment(op)
                );
                self.http.send(Method::Get, &path, headers, None).await?
            }
        };
        Ok(Answer {
            status: response.status,
            retry_after: response.retry_after(),
            body: response.body,
        })
    }
}
