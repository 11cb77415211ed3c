//! DPS over AMQP (protocol.md 3.2): a sender and a receiver link on
//! `{idScope}/registrations/{registrationId}`; requests carry `iotdps-operation-type`
//! (`iotdps-register` or `iotdps-get-operationstatus` with `iotdps-operation-id`), answers
//! carry the request's correlation id, the `RegistrationOperationStatus` JSON and
//! `retry-after`. Throttled requests are settled `rejected` with `retry-after` in the error.

use std::sync::Arc;
use std::time::Duration;

use fe2o3_amqp::acceptor::LinkEndpoint;
use fe2o3_amqp::link::delivery::Sendable;
use fe2o3_amqp::types::definitions::{self, AmqpError, Fields};
use fe2o3_amqp::types::messaging::{ApplicationProperties, Body, Message, Properties};
use fe2o3_amqp::types::primitives::{SimpleValue, Symbol, Value};
use fe2o3_amqp::{Receiver, Sender};
use tokio::sync::mpsc;

use super::conn::{close_link, error, AmqpConn};
use super::msg::{
    app_property, body_bytes, correlation_id, data_body, message_id, simple_text, AmqpMessage,
};
use crate::device::dps::{self as device_dps, DpsClient, DpsRequest};
use crate::state::Shared;

/// SASL PLAIN check: a DPS login (`{scope}/registrations/{id}`) for a known ID scope must
/// authenticate; other logins are checked when their links attach. A refused login counts as
/// a DPS attempt (as a refused CONNECT does over MQTT); an accepted one is counted when its
/// registration link attaches.
pub(crate) fn plain_login_ok(shared: &Shared, user: &str, password: &str) -> bool {
    let Some((scope, reg)) = user.split_once("/registrations/") else {
        return true;
    };
    if !scope.eq_ignore_ascii_case(&shared.settings.id_scope) {
        return true;
    }
    let ok = device_dps::authenticate(shared, scope, reg, password, None).is_some();
    if !ok {
        shared.lock().faults.count_dps_attempt(reg);
    }
    ok
}

/// Attaches one DPS link of `registration_id`.
pub(crate) async fn attach(
    conn: &Arc<AmqpConn>,
    scope: &str,
    registration_id: &str,
    link: LinkEndpoint,
) {
    let key = registration_id.to_owned();
    match link {
        LinkEndpoint::Sender(sender) => {
            let (tx, rx) = mpsc::channel(16);
            if let Ok(mut answers) = conn.dps_answers.lock() {
                answers.insert(key, tx);
            }
            conn.dps_answer_added.notify_waiters();
            tokio::spawn(answers_link(sender, rx));
        }
        LinkEndpoint::Receiver(receiver) => {
            let shared = conn.shared.clone();
            shared.lock().faults.count_dps_attempt(registration_id);
            let known_scope = scope.eq_ignore_ascii_case(&shared.settings.id_scope);
            let password = match &conn.sasl.plain {
                Some((user, password))
                    if user == &format!("{scope}/registrations/{registration_id}") =>
                {
                    password.clone()
                }
                _ => String::new(),
            };
            let auth = if known_scope {
                match device_dps::authenticate(
                    &shared,
                    scope,
                    registration_id,
                    &password,
                    conn.cert.as_ref(),
                ) {
                    Some(a) => Some(a),
                    None => {
                        tracing::info!(peer = %conn.peer, registration_id, "DPS link refused");
                        close_link(
                            LinkEndpoint::Receiver(receiver),
                            error(
                                AmqpError::UnauthorizedAccess,
                                "DPS authentication failed (401002)",
                            ),
                        )
                        .await;
                        return;
                    }
                }
            } else {
                tracing::info!(peer = %conn.peer, id_scope = scope, "DPS link for unknown ID scope");
                None
            };
            tracing::info!(peer = %conn.peer, registration_id, "DPS client connected over AMQP");
            let client = DpsClient {
                scope: scope.to_owned(),
                registration_id: registration_id.to_owned(),
                auth,
            };
            tokio::spawn(requests_link(conn.clone(), client, receiver));
        }
    }
}

async fn answers_link(mut sender: Sender, mut rx: mpsc::Receiver<AmqpMessage>) {
    while let Some(answer) = rx.recv().await {
        let sendable = Sendable::builder().message(answer).settled(true).build();
        if sender.send(sendable).await.is_err() {
            return;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sender.close()).await;
}

async fn requests_link(conn: Arc<AmqpConn>, client: DpsClient, mut receiver: Receiver) {
    while let Ok(delivery) = receiver.recv::<Body<Value>>().await {
        let request = delivery.message();
        let operation = app_property(request, "iotdps-operation-type")
            .and_then(simple_text)
            .unwrap_or_default();
        let register = match operation.as_str() {
            "iotdps-register" => true,
            "iotdps-get-operationstatus" => false,
            other => {
                let e = error(
                    AmqpError::NotImplemented,
                    format!("unknown DPS operation {other:?}"),
                );
                let _ = receiver.reject(&delivery, e).await;
                continue;
            }
        };
        let operation_id = app_property(request, "iotdps-operation-id")
            .and_then(simple_text)
            .unwrap_or_default();
        let body = body_bytes(&request.body);
        let dps_request = if register {
            DpsRequest::Register(&body)
        } else {
            DpsRequest::Poll(&operation_id)
        };
        let mut a = client.handle(&conn.shared, dps_request);
        announce_hub(&conn.shared, &conn.assigned_hub, &mut a.body);
        tracing::debug!(registration_id = %client.registration_id, status = a.status, "DPS answer over AMQP");
        if a.status == 429 {
            let mut info = Fields::default();
            info.insert(
                Symbol::from("retry-after"),
                Value::String(a.retry_after.unwrap_or(1).to_string()),
            );
            let e = definitions::Error::new(
                AmqpError::ResourceLimitExceeded,
                Some(a.body.to_string()),
                Some(info),
            );
            let _ = receiver.reject(&delivery, e).await;
            continue;
        }
        let properties = Properties {
            correlation_id: correlation_id(request)
                .or_else(|| message_id(request))
                .cloned(),
            ..Properties::default()
        };
        let mut application = ApplicationProperties::builder()
            .insert("iotdps-status-code", SimpleValue::Int(i32::from(a.status)));
        if let Some(secs) = a.retry_after {
            application = application.insert("retry-after", SimpleValue::String(secs.to_string()));
        }
        let answer: AmqpMessage = Message::builder()
            .properties(properties)
            .application_properties(application.build())
            .body(data_body(a.body.to_string().into_bytes()))
            .build();
        let _ = receiver.accept(&delivery).await;
        match answer_link(&conn, &client.registration_id).await {
            Some(out) => {
                let _ = out.send(answer).await;
            }
            None => {
                tracing::warn!(registration_id = %client.registration_id, "DPS answer dropped: no receiver link within 5 s")
            }
        }
    }
}

/// DPS announces the hub at the port of the protocol the device uses: over AMQP, the AMQP
/// listener's (the bare host name on 5671, like the real service).
fn announce_hub(shared: &Shared, assigned_hub: &str, body: &mut serde_json::Value) {
    let Some(hub) = body.pointer_mut("/registrationState/assignedHub") else {
        return;
    };
    if let Some(named) = hub.as_str() {
        let endpoint = crate::hubs::announce(&shared.settings, named, assigned_hub);
        *hub = serde_json::Value::String(endpoint);
    }
}

/// The link DPS answers `registration_id` on. The client attaches it before sending, but the
/// request can be read before the attach is recorded here: wait for it up to 5 s.
async fn answer_link(conn: &AmqpConn, registration_id: &str) -> Option<mpsc::Sender<AmqpMessage>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let added = conn.dps_answer_added.notified();
        tokio::pin!(added);
        added.as_mut().enable();
        let out = conn
            .dps_answers
            .lock()
            .ok()
            .and_then(|a| a.get(registration_id).cloned());
        if out.is_some() {
            return out;
        }
        if tokio::time::timeout_at(deadline, added).await.is_err() {
            return None;
        }
    }
}
