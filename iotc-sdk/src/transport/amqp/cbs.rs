//! Claims-based security: SAS tokens put on the `$cbs` node (protocol.md §5.2).

use std::time::Duration;

use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::messaging::AmqpValue;
use fe2o3_amqp::types::messaging::{ApplicationProperties, Body, Message, MessageId, Properties};
use fe2o3_amqp::types::primitives::{SimpleValue, Value};
use fe2o3_amqp::{Receiver, Sender};
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use super::message::{app_property, message_id_text, simple_as_i64, simple_text, AmqpMessage};
use super::{link_properties, new_uuid, CLIENT_VERSION};
use crate::auth::Secret;
use crate::{Error, Result};

/// The token type IoT hub accepts from the C SDK and Node (C# sends `azure-devices.net:sastoken`).
const TOKEN_TYPE: &str = "servicebus.windows.net:sastoken";

/// The `$cbs` sender and receiver links of one connection.
pub(crate) struct Cbs {
    sender: Sender,
    receiver: Receiver,
}

impl Cbs {
    /// Attaches the two `$cbs` links.
    pub(crate) async fn attach(session: &mut SessionHandle<()>) -> Result<Cbs> {
        let suffix = new_uuid();
        let properties = link_properties(&[("com.microsoft:client-version", CLIENT_VERSION)]);
        let sender = Sender::builder()
            .name(format!("cbs-sender-{suffix}"))
            .target("$cbs")
            .properties(properties.clone())
            .attach(session)
            .await
            .map_err(|e| Error::connection_caused("cannot attach the $cbs sender", e))?;
        let receiver = Receiver::builder()
            .name(format!("cbs-receiver-{suffix}"))
            .source("$cbs")
            .target("cbs")
            .properties(properties)
            .attach(session)
            .await
            .map_err(|e| Error::connection_caused("cannot attach the $cbs receiver", e))?;
        Ok(Cbs { sender, receiver })
    }

    /// Puts `token` for `audience` and waits for the answer: `Ok` for status 200/202; 404
    /// (the hub does not know the device), 429 and 5xx (throttled, busy: waited out, never a
    /// reason to go back to DPS) as on every transport ([`Error::for_status`]); any other
    /// status refuses the token, [`Error::Unauthorized`] (as the Node SDK does).
    pub(crate) async fn put_token(
        &mut self,
        audience: &str,
        token: &Secret,
        timeout: Duration,
    ) -> Result<()> {
        let id = new_uuid();
        let properties = Properties {
            message_id: Some(MessageId::String(id.clone())),
            reply_to: Some("cbs".into()),
            to: Some("$cbs".into()),
            ..Properties::default()
        };
        let request: AmqpMessage = Message::builder()
            .properties(properties)
            .application_properties(
                ApplicationProperties::builder()
                    .insert("operation", SimpleValue::String("put-token".into()))
                    .insert("type", SimpleValue::String(TOKEN_TYPE.into()))
                    .insert("name", SimpleValue::String(audience.to_owned()))
                    .build(),
            )
            .body(Body::Value(AmqpValue(Value::String(
                token.expose().to_owned(),
            ))))
            .build();
        let work = async {
            self.sender
                .send(request)
                .await
                .map_err(|e| Error::connection_caused("CBS put-token not sent", e))?;
            loop {
                let delivery = self
                    .receiver
                    .recv::<Body<Value>>()
                    .await
                    .map_err(|e| Error::connection_caused("CBS answer not received", e))?;
                let _ = self.receiver.accept(&delivery).await;
                let answer = delivery.into_message();
                let matches = answer
                    .properties
                    .as_ref()
                    .and_then(|p| p.correlation_id.as_ref())
                    .is_some_and(|c| message_id_text(c) == id);
                if !matches {
                    debug!("CBS answer for another request; ignored");
                    continue;
                }
                let status = app_property(&answer, "status-code")
                    .or_else(|| app_property(&answer, "statusCode"))
                    .and_then(simple_as_i64)
                    .unwrap_or(0);
                if matches!(status, 200 | 202) {
                    return Ok(());
                }
                let description = app_property(&answer, "status-description")
                    .or_else(|| app_property(&answer, "statusDescription"))
                    .and_then(simple_text)
                    .unwrap_or_default();
                let message = format!("CBS put-token refused ({status}): {description}");
                return Err(match u16::try_from(status) {
                    Ok(status @ (404 | 429 | 500..=599)) => {
                        Error::for_status(status, message, None)
                    }
                    _ => Error::Unauthorized(message),
                });
            }
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or(Err(Error::Timeout(timeout, "the CBS put-token answer")))
    }

    /// Runs the links in a task that puts each token it is handed; dropping every handle ends
    /// it.
    pub(crate) fn spawn(self, timeout: Duration) -> CbsHandle {
        self.spawn_with(None, timeout)
    }

    /// As [`spawn`](Self::spawn), for links in a session of their own (a shared connection):
    /// the task owns `session` and ends it last.
    pub(crate) fn spawn_in(self, session: SessionHandle<()>, timeout: Duration) -> CbsHandle {
        self.spawn_with(Some(session), timeout)
    }

    fn spawn_with(mut self, session: Option<SessionHandle<()>>, timeout: Duration) -> CbsHandle {
        // Room for one put-token of every device of a shared connection at once (each device
        // waits for its answer before the next), so a put is never refused for a full queue.
        let (tx, mut rx) = mpsc::channel::<PutToken>(super::shared::CHANNEL_MAX.into());
        tokio::spawn(async move {
            while let Some(put) = rx.recv().await {
                let result = self.put_token(&put.audience, &put.token, timeout).await;
                let _ = put.reply.send(result);
            }
            let _ = self.sender.close().await;
            let _ = self.receiver.close().await;
            if let Some(mut session) = session {
                let _ = session.end().await;
            }
        });
        CbsHandle { tx }
    }
}

struct PutToken {
    audience: String,
    token: Secret,
    reply: oneshot::Sender<Result<()>>,
}

/// Puts tokens through the task [`Cbs::spawn`] started; clones share the task.
#[derive(Clone)]
pub(crate) struct CbsHandle {
    tx: mpsc::Sender<PutToken>,
}

impl CbsHandle {
    /// Hands a token to the CBS task; the answer arrives on the returned channel.
    pub(crate) fn put_token(
        &self,
        audience: String,
        token: Secret,
    ) -> oneshot::Receiver<Result<()>> {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::TrySendError::Full(put) | mpsc::error::TrySendError::Closed(put)) =
            self.tx.try_send(PutToken {
                audience,
                token,
                reply,
            })
        {
            let _ = put
                .reply
                .send(Err(Error::connection("the CBS links are closed")));
        }
        answer
    }
}
