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

use super::{
    register_over, Answer, Exchange, ProvisioningClient, Registration, Request, DPS_TOKEN_TTL,
};
use crate::auth::{dps_resource, SasToken};
use crate::transport::amqp::message::{
    app_property, body_bytes, correlation_id, data_body, message_id_text, simple_text, AmqpMessage,
};
use crate::transport::amqp::{self as transport, condition_error, link_properties, new_uuid, Sasl};
use crate::transport::mqtt::topics::DPS_API_VERSION;
use crate::transport::Protocol;
use crate::{Error, Result};

/// Registers over AMQP: opens the connection and the two links, runs the state machine, and
/// closes them.
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
        client.proxy.as_ref(),
        client.timeout,
    )
    .await?;
    let mut connection =
        transport::open_connection(stream, host, sasl, Duration::from_secs(60), client.timeout)
            .await?;
    let result = async {
        let mut session = Session::begin(&mut connection)
            .await
            .map_err(|e| Error::connection_caused("AMQP session refused", e))?;
        let address = format!("{}/registrations/{registration_id}", client.id_scope);
        let properties = link_properties(&[
            ("com.microsoft:api-version", DPS_API_VERSION),
            ("com.microsoft:client-version", transport::CLIENT_VERSION),
        ]);
        let suffix = new_uuid();
        let sender = Sender::builder()
            .name(format!("dps-sender-{suffix}"))
            .target(address.clone())
            .properties(properties.clone())
            .attach(&mut session)
            .await
            .map_err(|e| match e {
                fe2o3_amqp::link::SenderAttachError::RemoteClosedWithError(e) => {
                    condition_error(&e)
                }
                other => Error::connection_caused("DPS link refused", other),
            })?;
        let receiver = Receiver::builder()
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
                other => Error::connection_caused("DPS link refused", other),
            })?;
        let mut exchange = Amqp {
            sender,
            receiver,
            failed: false,
        };
        let outcome = register_over(client.protocol, &body, &mut exchange).await;
        let Amqp {
            sender,
            receiver,
            failed,
        } = exchange;
        if failed {
            return outcome;
        }
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

/// The DPS link pair; requests and answers are matched by correlation id.
struct Amqp {
    sender: Sender,
    receiver: Receiver,
    /// Set when no answer could be received: the links are then left to the connection's close.
    failed: bool,
}

impl Exchange for Amqp {
    async fn send(&mut self, request: Request<'_>) -> Result<Answer> {
        let id = new_uuid();
        let message = match request {
            Request::Register(body) => request_message(&id, "iotdps-register", None, body.to_vec()),
            Request::Poll(op) => {
                request_message(&id, "iotdps-get-operationstatus", Some(op), Vec::new())
            }
        };
        let (status, retry_after, body) = match self.sender.send(message).await {
            Ok(Outcome::Accepted(_)) => loop {
                let answer = match self.receiver.recv::<Body<Value>>().await {
                    Ok(delivery) => delivery.into_message(),
                    Err(e) => {
                        self.failed = true;
                        return Err(Error::connection_caused("DPS answer not received", e));
                    }
                };
                let matches = correlation_id(&answer).map(message_id_text);
                if matches.is_some() && matches.as_deref() != Some(id.as_str()) {
                    debug!("ignoring a DPS answer for another request");
                    continue;
                }
                break answer_status(&answer);
            },
            Ok(Outcome::Rejected(rejected)) => match rejected.error.map(|e| condition_error(&e)) {
                Some(Error::Throttled { retry_after }) => {
                    (429, Some(retry_after.as_secs()), Vec::new())
                }
                Some(e) => return Err(e),
                None => (500, None, Vec::new()),
            },
            Ok(other) => (503, None, format!("{other:?}").into_bytes()),
            // DPS closes the link with its reason when it refuses the credentials.
            Err(fe2o3_amqp::link::SendError::LinkStateError(
                fe2o3_amqp::link::LinkStateError::RemoteClosedWithError(e)
                | fe2o3_amqp::link::LinkStateError::RemoteDetachedWithError(e),
            )) => return Err(condition_error(&e)),
            Err(e) => return Err(Error::connection_caused("DPS request not sent", e)),
        };
        Ok(Answer {
            status,
            retry_after,
            body: body.into(),
        })
    }
}

/// A DPS request (`iotdps-register` or `iotdps-get-operationstatus` of `operation_id`) whose
/// message and correlation id are `id`.
fn request_message(
    id: &str,
    operation: &str,
    operation_id: Option<&str>,
    body: Vec<u8>,
) -> AmqpMessage {
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
