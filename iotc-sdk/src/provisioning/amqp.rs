//! DPS over AMQP (protocol.md §3.2): SASL PLAIN with the DPS token (or the TLS client
//! certificate), one sender and one receiver link on `{idScope}/registrations/{registrationId}`,
//! register and poll requests told apart by the `iotdps-operation-type` property.

use std::time::Duration;

use fe2o3_amqp::types::messaging::{
    ApplicationProperties, Body, Message, MessageId, Outcome, Properties,
};
use fe2o3_amqp::types::primitives::{SimpleValue, Value};
use fe2o3_amqp::{Receiver, Sender, Session};
use serde_json::Value as Json;
use tracing::{debug, info};

use super::{interpret_for, Next, ProvisioningClient, Registration};
use crate::auth::{dps_resource, SasToken};
use crate::transport::amqp::message::{
    app_property, body_bytes, correlation_id, data_body, message_id_text, simple_text, AmqpMessage,
};
use crate::transport::amqp::{self as transport, condition_error, link_properties, new_uuid, Sasl};
use crate::transport::mqtt::topics::DPS_API_VERSION;
use crate::transport::Protocol;
use crate::{Error, Result};

/// How many times a throttled (429) or failing (5xx) request is sent again before giving up.
const MAX_RETRIES: u32 = 3;

/// DPS tokens only need to outlive the registration.
const DPS_TOKEN_TTL: Duration = Duration::from_secs(3600);

pub(super) async fn register(
    client: &ProvisioningClient,
    host: &str,
    port: u16,
    body: Json,
) -> Result<Registration> {
    let registration_id = &client.registration_id;
    let (sasl, connector) = match client.credentials.x509_identity() {
        Some(identity) => (Sasl::None, client.tls.connector_with_identity(identity)?),
        None => {
            let key = client
                .credentials
                .device_sas_key(registration_id)
                .ok_or_else(|| {
                    Error::Config("the credentials hold neither a key nor a certificate".into())
                })?;
            let resource = dps_resource(&client.id_scope, registration_id);
            let token = SasToken::with_ttl(&resource, &key, DPS_TOKEN_TTL, Some("registration"));
            let sasl = Sasl::Plain {
                username: resource,
                password: token.as_secret().expose().to_owned(),
            };
            (sasl, client.tls.connector()?)
        }
    };
    debug!(%host, port, %registration_id, "connecting to DPS over AMQP");
    let stream = transport::stream::connect(
        host,
        port,
        connector,
        client.protocol == Protocol::AmqpWs,
        client.timeout,
    )
    .await?;
    let mut connection =
        transport::open_connection(stream, host, sasl, Duration::from_secs(60), client.timeout)
            .await?;
    let result = async {
        let mut session = Session::begin(&mut connection)
            .await
            .map_err(|e| Error::Connection(format!("AMQP session refused: {e}")))?;
        let address = format!("{}/registrations/{registration_id}", client.id_scope);
        let properties = link_properties(&[
            ("com.microsoft:api-version", DPS_API_VERSION),
            ("com.microsoft:client-version", transport::CLIENT_VERSION),
        ]);
        let suffix = new_uuid();
        let mut sender = Sender::builder()
            .name(format!("dps-sender-{suffix}"))
            .target(address.clone())
            .properties(properties.clone())
            .attach(&mut session)
            .await
            .map_err(|e| match e {
                fe2o3_amqp::link::SenderAttachError::RemoteClosedWithError(e) => {
                    condition_error(&e)
                }
                other => Error::Connection(format!("DPS link refused: {other}")),
            })?;
        let mut receiver = Receiver::builder()
            .name(format!("dps-receiver-{suffix}"))
            .source(address)
            .target(format!("dps-{suffix}"))
            .auto_accept(true)
            .properties(properties)
            .attach(&mut session)
            .await
            .map_err(|e| match e {
                fe2o3_amqp::link::ReceiverAttachError::RemoteClosedWithError(e) => {
                    condition_error(&e)
                }
                other => Error::Connection(format!("DPS link refused: {other}")),
            })?;
        let register_body = serde_json::to_vec(&body)?;
        let mut retries = 0;
        let mut operation_id: Option<String> = None;
        let outcome = loop {
            let id = new_uuid();
            let request = match &operation_id {
                None => request(&id, "iotdps-register", None, register_body.clone()),
                Some(op) => request(&id, "iotdps-get-operationstatus", Some(op), Vec::new()),
            };
            let (status, retry_after, body) = match sender.send(request).await {
                Ok(Outcome::Accepted(_)) => loop {
                    let answer = receiver
                        .recv::<Body<Value>>()
                        .await
                        .map_err(|e| Error::Connection(format!("DPS answer not received: {e}")))?
                        .into_message();
                    let matches = correlation_id(&answer).map(message_id_text);
                    if matches.is_some() && matches.as_deref() != Some(id.as_str()) {
                        debug!("ignoring a DPS answer for another request");
                        continue;
                    }
                    break answer_status(&answer);
                },
                Ok(Outcome::Rejected(rejected)) => {
                    let error = rejected.error.map(|e| condition_error(&e));
                    match error {
                        Some(Error::Throttled { retry_after }) => {
                            (429, Some(retry_after.as_secs()), Vec::new())
                        }
                        Some(e) => break Err(e),
                        None => (500, None, Vec::new()),
                    }
                }
                Ok(other) => (503, None, format!("{other:?}").into_bytes()),
                Err(e) => break Err(Error::Connection(format!("DPS request not sent: {e}"))),
            };
            debug!(status, ?retry_after, "DPS answered");
            match interpret_for(client.protocol, status, retry_after, &body) {
                Ok(Next::Done(registration)) => break Ok(registration),
                Ok(Next::Poll {
                    operation_id: op,
                    after,
                }) => {
                    operation_id = Some(op);
                    tokio::time::sleep(after).await;
                }
                Ok(Next::Retry { after }) => {
                    retries += 1;
                    if retries > MAX_RETRIES {
                        break Err(if status == 429 {
                            Error::Throttled { retry_after: after }
                        } else {
                            Error::Rejected {
                                status,
                                message: String::from_utf8_lossy(&body).into_owned(),
                            }
                        });
                    }
                    tokio::time::sleep(after).await;
                }
                Err(e) => break Err(e),
            }
        };
        let _ = sender.close().await;
        let _ = receiver.close().await;
        let _ = session.end().await;
        outcome
    }
    .await;
    let _ = tokio::time::timeout(Duration::from_millis(500), connection.close()).await;
    if let Ok(registration) = &result {
        info!(hub = %registration.assigned_hub, device_id = %registration.device_id, "device provisioned over AMQP");
    }
    result
}

fn request(id: &str, operation: &str, operation_id: Option<&str>, body: Vec<u8>) -> AmqpMessage {
    let properties = Properties {
        correlation_id: Some(MessageId::String(id.to_owned())),
        message_id: Some(MessageId::String(id.to_owned())),
        ..Properties::default()
    };
    let mut application = ApplicationProperties::builder().insert(
        "iotdps-operation-type",
        SimpleValue::String(operation.into()),
    );
    match operation_id {
        Some(op) => {
            application =
                application.insert("iotdps-operation-id", SimpleValue::String(op.to_owned()));
        }
        None => {
            application = application.insert("iotdps-forceRegistration", SimpleValue::Bool(false));
        }
    }
    Message::builder()
        .properties(properties)
        .application_properties(application.build())
        .body(data_body(body))
        .build()
}

/// The answer as (status, retry-after, body): DPS over AMQP carries no status code, so success
/// is read from the body (`status` `assigning`/`assigned`/…) and an error body
/// (`errorCode` like 401002) gives the code's first three digits.
fn answer_status(answer: &AmqpMessage) -> (u16, Option<u64>, Vec<u8>) {
    let body = body_bytes(&answer.body);
    let retry_after = app_property(answer, "retry-after")
        .and_then(simple_text)
        .and_then(|s| s.trim().parse().ok());
    let explicit = app_property(answer, "iotdps-status-code")
        .or_else(|| app_property(answer, "status-code"))
        .and_then(simple_text)
        .and_then(|s| s.trim().parse::<u16>().ok());
    let from_body = serde_json::from_slice::<Json>(&body).ok().and_then(|json| {
        if json.get("status").is_some_and(Json::is_string) {
            return Some(200);
        }
        let code = json.get("errorCode")?.as_u64()?;
        let mut status = code;
        while status >= 1000 {
            status /= 10;
        }
        u16::try_from(status).ok()
    });
    (explicit.or(from_body).unwrap_or(500), retry_after, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &str) -> AmqpMessage {
        Message::builder()
            .body(data_body(body.as_bytes().to_vec()))
            .build()
    }

    #[test]
    fn statuses_come_from_the_body() {
        assert_eq!(
            answer_status(&answer(r#"{"operationId":"x","status":"assigning"}"#)).0,
            200
        );
        assert_eq!(
            answer_status(&answer(r#"{"errorCode":401002,"message":"no"}"#)).0,
            401
        );
        assert_eq!(answer_status(&answer(r#"{"errorCode":429001}"#)).0, 429);
        assert_eq!(answer_status(&answer("garbage")).0, 500);
    }
}
