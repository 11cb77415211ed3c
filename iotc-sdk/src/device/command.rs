//! Commands (direct methods) and their responses.

use std::fmt;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::transport::Request;
use crate::{Error, Result};

/// A command the service invoked. Answer it with [`respond`](Command::respond); a command
/// dropped without an answer is answered with status 501 so the caller is never left waiting.
pub struct Command {
    requests: mpsc::Sender<Request>,
    name: String,
    request_id: String,
    payload: Vec<u8>,
    answered: bool,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("name", &self.name)
            .field("request_id", &self.request_id)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

impl Command {
    pub(crate) fn new(
        requests: mpsc::Sender<Request>,
        name: String,
        request_id: String,
        payload: Vec<u8>,
    ) -> Self {
        Command {
            requests,
            name,
            request_id,
            payload,
            answered: false,
        }
    }

    /// The full method name as sent: `getMaxMinReport`, or `thermostat1*getMaxMinReport` for a
    /// component command.
    pub fn method_name(&self) -> &str {
        &self.name
    }

    /// The command name without its component.
    pub fn name(&self) -> &str {
        self.name
            .split_once('*')
            .map_or(&self.name, |(_, command)| command)
    }

    /// The component the command belongs to, if any (the part before the first `*`).
    pub fn component(&self) -> Option<&str> {
        self.name.split_once('*').map(|(component, _)| component)
    }

    /// The request payload bytes (JSON, or empty when the command has no request).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The request payload deserialized from JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Serialization`] when the payload is not valid JSON for `T`.
    pub fn payload_json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(&self.payload)?)
    }

    /// Answers the command with `status` (200 for success) and `body` as JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Serialization`] when `body` does not serialize, [`Error::Closed`] or
    /// [`Error::Connection`] when the connection is gone.
    pub async fn respond<T: Serialize + ?Sized>(mut self, status: u16, body: &T) -> Result<()> {
        let payload = serde_json::to_vec(body)?;
        self.send(status, payload).await
    }

    /// Answers the command with `status` and an empty body.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] or [`Error::Connection`] when the connection is gone.
    pub async fn respond_empty(mut self, status: u16) -> Result<()> {
        self.send(status, Vec::new()).await
    }

    async fn send(&mut self, status: u16, payload: Vec<u8>) -> Result<()> {
        self.answered = true;
        let (reply, answer) = oneshot::channel();
        let request = Request::CommandResponse {
            request_id: self.request_id.clone(),
            status,
            payload,
            reply: Some(reply),
        };
        self.requests
            .send(request)
            .await
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }
}

impl Drop for Command {
    fn drop(&mut self) {
        if !self.answered {
            tracing::warn!(command = %self.name, "command dropped without a response; answering 501");
            let _ = self.requests.try_send(Request::CommandResponse {
                request_id: std::mem::take(&mut self.request_id),
                status: 501,
                payload: br#"{"error":"the device did not handle this command"}"#.to_vec(),
                reply: None,
            });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn command(name: &str, payload: &[u8]) -> (Command, mpsc::Receiver<Request>) {
        let (tx, rx) = mpsc::channel(4);
        (
            Command::new(tx, name.into(), "7".into(), payload.to_vec()),
            rx,
        )
    }

    #[test]
    fn splits_component_at_the_first_star() {
        let (c, _rx) = command("thermostat1*getMaxMinReport", b"");
        assert_eq!(
            (c.component(), c.name()),
            (Some("thermostat1"), "getMaxMinReport")
        );
        assert_eq!(c.method_name(), "thermostat1*getMaxMinReport");
        let (c, _rx) = command("reboot", b"");
        assert_eq!((c.component(), c.name()), (None, "reboot"));
        let (c, _rx) = command("a*b*c", b"");
        assert_eq!((c.component(), c.name()), (Some("a"), "b*c"));
    }

    #[test]
    fn payload_json_reports_bad_input() {
        let (c, _rx) = command("x", b"\"2024-01-01T00:00:00Z\"");
        assert_eq!(c.payload_json::<String>().unwrap(), "2024-01-01T00:00:00Z");
        let (c, _rx) = command("x", b"{not json");
        assert!(matches!(
            c.payload_json::<String>(),
            Err(Error::Serialization(_))
        ));
    }

    #[test]
    fn dropping_unanswered_answers_501() {
        let (c, mut rx) = command("reboot", b"");
        drop(c);
        match rx.try_recv().unwrap() {
            Request::CommandResponse {
                request_id, status, ..
            } => {
                assert_eq!((request_id.as_str(), status), ("7", 501));
            }
            _ => panic!("expected a command response"),
        }
    }

    #[tokio::test]
    async fn responding_sends_one_response_only() {
        let (c, mut rx) = command("reboot", b"");
        let responder =
            tokio::spawn(async move { c.respond(200, &serde_json::json!({"ok": true})).await });
        match rx.recv().await.unwrap() {
            Request::CommandResponse {
                status,
                payload,
                reply,
                ..
            } => {
                assert_eq!(status, 200);
                assert_eq!(payload, br#"{"ok":true}"#);
                reply.unwrap().send(Ok(())).unwrap();
            }
            _ => panic!("expected a command response"),
        }
        responder.await.unwrap().unwrap();
        assert!(rx.try_recv().is_err(), "no 501 after a real answer");
    }
}
