//! The `$cbs` node: put-token requests authenticate a device on the connection, and renew its
//! token without a reconnect (protocol.md 5.2).

use std::sync::Arc;

use fe2o3_amqp::types::messaging::{ApplicationProperties, Body, Message, Properties};
use fe2o3_amqp::types::primitives::{SimpleValue, Value};
use fe2o3_amqp::{Receiver, Sender};
use tokio::sync::mpsc;

use super::conn::{link_killed, AmqpConn, LinkKill};
use super::msg::{app_property, body_string, message_id, simple_text, AmqpMessage};
use crate::device::faults;
use crate::device::hub as device_hub;
use crate::fault::{AmqpLink, ConnectFault, FaultAction, RefuseCode, Transport};

/// Token types IoT hub accepts (C SDK and Node; C# and Java).
const TOKEN_TYPES: [&str; 2] = [
    "servicebus.windows.net:sastoken",
    "azure-devices.net:sastoken",
];

/// The `$cbs` links of one session: requests come on the peer's sender link, answers go out
/// on its receiver link.
pub(crate) struct CbsNode {
    conn: Arc<AmqpConn>,
    replies_tx: mpsc::Sender<AmqpMessage>,
    /// Shared by the reply links of the session in turn (a new one after a fault detached
    /// the first).
    replies_rx: Arc<tokio::sync::Mutex<mpsc::Receiver<AmqpMessage>>>,
}

impl CbsNode {
    pub(crate) fn new(conn: Arc<AmqpConn>) -> CbsNode {
        let (replies_tx, replies_rx) = mpsc::channel(16);
        CbsNode {
            conn,
            replies_tx,
            replies_rx: Arc::new(tokio::sync::Mutex::new(replies_rx)),
        }
    }

    /// Serves put-token requests arriving on `receiver`.
    /// `client`: the user agent the link named (`com.microsoft:client-version`).
    pub(crate) fn requests(&mut self, mut receiver: Receiver, client: Option<String>) {
        let conn = self.conn.clone();
        let replies = self.replies_tx.clone();
        tokio::spawn(async move {
            let mut kills = conn.link_kill.subscribe();
            loop {
                let delivery = tokio::select! {
                    d = receiver.recv::<Body<Value>>() => match d {
                        Ok(d) => d,
                        Err(_) => break,
                    },
                    e = link_killed(&mut kills, None, AmqpLink::CbsRequest) => {
                        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), receiver.close_with_error(e)).await;
                        return;
                    }
                };
                let _ = receiver.accept(&delivery).await;
                let request = delivery.into_message();
                let (status, description) = put_token(&conn, &request, client.as_deref()).await;
                let properties = Properties {
                    correlation_id: message_id(&request).cloned(),
                    to: request.properties.as_ref().and_then(|p| p.reply_to.clone()),
                    ..Properties::default()
                };
                let answer: AmqpMessage = Message::builder()
                    .properties(properties)
                    .application_properties(
                        ApplicationProperties::builder()
                            .insert("status-code", SimpleValue::Int(status))
                            .insert("status-description", SimpleValue::String(description))
                            .build(),
                    )
                    .body(Body::Value(fe2o3_amqp::types::messaging::AmqpValue(
                        Value::Null,
                    )))
                    .build();
                if replies.send(answer).await.is_err() {
                    break;
                }
            }
        });
    }

    /// Sends the answers on `sender`.
    pub(crate) fn replies(&mut self, mut sender: Sender) {
        let rx = self.replies_rx.clone();
        let mut kills = self.conn.link_kill.subscribe();
        tokio::spawn(async move {
            // A second reply link on the same session waits for the first to end.
            let mut rx = rx.lock().await;
            loop {
                let answer = tokio::select! {
                    a = rx.recv() => match a {
                        Some(a) => a,
                        None => break,
                    },
                    e = link_killed(&mut kills, None, AmqpLink::CbsResponse) => {
                        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), sender.close_with_error(e)).await;
                        return;
                    }
                };
                let sendable = fe2o3_amqp::link::delivery::Sendable::builder()
                    .message(answer)
                    .settled(true)
                    .build();
                if sender.send(sendable).await.is_err() {
                    break;
                }
            }
            let _ = sender.close().await;
        });
    }
}

/// Checks one put-token request; returns the status code and description to answer with.
async fn put_token(
    conn: &Arc<AmqpConn>,
    request: &AmqpMessage,
    client: Option<&str>,
) -> (i32, String) {
    let text = |name| app_property(request, name).and_then(simple_text);
    let operation = text("operation").unwrap_or_default();
    if operation != "put-token" {
        return (400, format!("unsupported CBS operation {operation:?}"));
    }
    let token_type = text("type").unwrap_or_default();
    if !TOKEN_TYPES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(&token_type))
    {
        return (400, format!("unsupported token type {token_type:?}"));
    }
    let audience = text("name").unwrap_or_default();
    let Some(token) = body_string(&request.body) else {
        return (400, "the token must be a string".into());
    };
    let Some((host, device_id)) = parse_audience(&audience) else {
        tracing::info!(peer = %conn.peer, %audience, "CBS put-token for an unsupported audience");
        return (401, format!("unsupported audience {audience:?}"));
    };
    let shared = &conn.shared;
    // While a fault that kills a `$cbs` link lasts, the device's put-token kills it again.
    if let Some((
        kind,
        FaultAction::DetachLink(link @ (AmqpLink::CbsRequest | AmqpLink::CbsResponse)),
    )) = faults::in_force(shared, &device_id, Transport::Amqp)
    {
        tracing::info!(peer = %conn.peer, device_id, ?link, "fault injection in force: $cbs link detached again");
        let _ = conn.link_kill.send(Some(LinkKill {
            device_id: None,
            link,
            error: super::hub::detach_forced(kind),
        }));
        return (503, super::hub::fault_description(kind));
    }
    // A renewal (the device already authenticated on this connection) is no new connection.
    let renewal = conn.live_device(&device_id).is_some();
    let injected = if renewal {
        None
    } else {
        faults::count_attempt(shared, &device_id);
        faults::admit(shared, &device_id, Transport::Amqp)
    };
    match injected {
        Some(ConnectFault::Refuse(code, reason)) => {
            tracing::info!(peer = %conn.peer, device_id, reason, "CBS put-token refused (fault injection)");
            return match code {
                RefuseCode::NotAuthorized => (401, reason.into()),
                RefuseCode::ServerUnavailable => (503, reason.into()),
            };
        }
        Some(ConnectFault::Cut) => {
            conn.cut(true);
            return (503, "connection cut".into());
        }
        Some(ConnectFault::Close(reason)) => {
            tracing::info!(peer = %conn.peer, device_id, reason, "CBS put-token: connection closed (fault injection)");
            conn.close(None);
            return (503, reason.into());
        }
        None => {}
    }
    if !device_hub::host_matches(shared, &host) {
        return (401, format!("the token is for another hub ({host})"));
    }
    match device_hub::authenticate(shared, &device_id, &host, &token, None) {
        Ok(auth) => match super::hub::authenticated(conn, &device_id, auth, client) {
            Some(renewed) => {
                tracing::info!(peer = %conn.peer, device_id, renewed, "CBS put-token accepted");
                (200, "OK".into())
            }
            None => (404, "device not registered".into()),
        },
        Err(reason) => {
            tracing::info!(peer = %conn.peer, device_id, reason, "CBS put-token refused");
            (401, reason.into())
        }
    }
}

/// `{host}/devices/{id}` or `{host}/devices/{id}/modules/{m}` (percent-encoded or not, with or
/// without a scheme) → (host, registry key: the device id or `{id}/{m}`).
fn parse_audience(audience: &str) -> Option<(String, String)> {
    let decoded = percent_encoding::percent_decode_str(audience)
        .decode_utf8()
        .ok()?
        .into_owned();
    let rest = match decoded.split_once("://") {
        Some((_, rest)) => rest.to_owned(),
        None => decoded,
    };
    let (host, path) = rest.split_once('/')?;
    let path = path.strip_prefix("devices/")?.trim_end_matches('/');
    let (device, module) = match path.split_once("/modules/") {
        Some((device, module)) => (device, Some(module)),
        None => (path, None),
    };
    let valid = |id: &str| !id.is_empty() && !id.contains('/');
    if !valid(device) || !module.is_none_or(valid) || host.is_empty() {
        return None;
    }
    Some((host.to_owned(), crate::ids::identity_key(device, module)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences() {
        assert_eq!(
            parse_audience("h.azure-devices.net/devices/d1"),
            Some(("h.azure-devices.net".into(), "d1".into()))
        );
        assert_eq!(
            parse_audience("h.azure-devices.net%2Fdevices%2Fd1"),
            Some(("h.azure-devices.net".into(), "d1".into()))
        );
        assert_eq!(
            parse_audience("amqps://localhost:5671/devices/d1"),
            Some(("localhost:5671".into(), "d1".into()))
        );
        assert_eq!(
            parse_audience("h/devices/d1/modules/m"),
            Some(("h".into(), "d1/m".into()))
        );
        assert_eq!(parse_audience("h/devices/d1/modules/m/x"), None);
        assert_eq!(parse_audience("h/devices/d1/modules/"), None);
        assert_eq!(parse_audience("h"), None);
    }
}
