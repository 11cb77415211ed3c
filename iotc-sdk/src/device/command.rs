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
