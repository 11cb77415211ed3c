//! Commands: direct methods (answered with a status and a body) and IoT Central's queued
//! offline commands (cloud-to-device messages with a `method-name` property, no answer).

use std::fmt;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::transport::Request;
use crate::{Error, Result};

/// How a command arrived.
#[derive(Debug)]
enum Origin {
    /// A direct method: the caller waits for the answer with this request id.
    Direct { request_id: String },
    /// An IoT Central offline command, queued as a cloud-to-device message: nobody waits for
    /// an answer (protocol.md §7.5).
    Queued,
}

/// A command the service invoked. Answer it with [`respond`](Command::respond); a direct
/// command dropped without an answer is answered with status 501 so the caller is never left
/// waiting.
///
/// Commands IoT Central queued while the device was offline arrive the same way
/// ([`is_queued`](Command::is_queued) is true); their answers go nowhere, as with the official
/// SDKs, so the same handler serves both.
pub struct Command {
    requests: mpsc::Sender<Request>,
    name: String,
    origin: Origin,
    payload: Vec<u8>,
    answered: bool,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("name", &self.name)
            .field("origin", &self.origin)
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
            origin: Origin::Direct { request_id },
            payload,
            answered: false,
        }
    }

    /// A queued (offline) command from a cloud-to-device message whose `method-name` property
    /// is `method_name`. Older IoT Central libraries wrote `{prefix}:{command}`: the text after
    /// the last `:` is the command.
    pub(crate) fn queued(
        requests: mpsc::Sender<Request>,
        method_name: &str,
        payload: Vec<u8>,
    ) -> Self {
        let name = method_name
            .rsplit(':')
            .next()
            .unwrap_or(method_name)
            .to_owned();
        Command {
            requests,
            name,
            origin: Origin::Queued,
            payload,
            answered: true,
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

    /// True for an IoT Central offline command that was queued as a cloud-to-device message;
    /// such a command has no caller waiting for the answer.
    pub fn is_queued(&self) -> bool {
        matches!(self.origin, Origin::Queued)
    }

    /// The request payload bytes as received.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The request as JSON. Direct commands carry JSON (empty or white space means `null`),
    /// read exactly as [`Commands::parse`](crate::Commands::parse) reads it. Queued commands
    /// carry the raw value: `@` for no request, a JSON value, or bare text such as
    /// `sample string`, which becomes a JSON string.
    ///
    /// # Errors
    ///
    /// [`Error::Serialization`] when a direct command's payload is not JSON (invalid UTF-8
    /// included).
    pub fn request_value(&self) -> Result<Value> {
        match self.origin {
            // From the bytes, not a lossy string: invalid UTF-8 is not JSON and must not turn
            // into U+FFFD inside the request (found by fuzzing, fuzz/regressions/command_payload).
            Origin::Direct { .. } if self.payload.iter().all(u8::is_ascii_whitespace) => {
                Ok(Value::Null)
            }
            Origin::Direct { .. } => Ok(serde_json::from_slice(&self.payload)?),
            Origin::Queued => {
                let text = String::from_utf8_lossy(&self.payload);
                let trimmed = text.trim();
                if trimmed.is_empty() || trimmed == "@" {
                    return Ok(Value::Null);
                }
                Ok(serde_json::from_str(trimmed)
                    .unwrap_or_else(|_| Value::String(text.into_owned())))
            }
        }
    }

    /// The request deserialized into `T` (see [`request_value`](Command::request_value)).
    ///
    /// # Errors
    ///
    /// [`Error::Serialization`] when the request does not fit `T`.
    pub fn payload_json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_value(self.request_value()?)?)
    }

    /// Answers the command with `status` (200 for success) and `body` as JSON. For a queued
    /// command this does nothing and succeeds: nobody waits for its answer.
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
        let Origin::Direct { request_id } = &self.origin else {
            tracing::debug!(command = %self.name, status, "queued command handled; its answer goes nowhere");
            return Ok(());
        };
        let (reply, answer) = oneshot::channel();
        let request = Request::CommandResponse {
            request_id: request_id.clone(),
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
        if self.answered {
            return;
        }
        if let Origin::Direct { request_id } = &mut self.origin {
            tracing::warn!(command = %self.name, "command dropped without a response; answering 501");
            let _ = self.requests.try_send(Request::CommandResponse {
                request_id: std::mem::take(request_id),
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
    fn queued_commands_take_raw_values_and_never_answer() {
        let (tx, mut rx) = mpsc::channel(4);
        let c = Command::queued(tx.clone(), "GenerateDiagnostics", b"@".to_vec());
        assert!(c.is_queued());
        assert_eq!(c.request_value().unwrap(), Value::Null);
        let c = Command::queued(
            tx.clone(),
            "prefix:thermostat1*setMode",
            b"sample string".to_vec(),
        );
        assert_eq!((c.component(), c.name()), (Some("thermostat1"), "setMode"));
        assert_eq!(c.payload_json::<String>().unwrap(), "sample string");
        let c = Command::queued(tx.clone(), "x", b"1.23".to_vec());
        assert_eq!(c.payload_json::<f64>().unwrap(), 1.23);
        let c = Command::queued(
            tx,
            "x",
            br#"{"StartTime":"2021-01-05T08:00:00.000Z","Bank":2}"#.to_vec(),
        );
        assert_eq!(c.request_value().unwrap()["Bank"], 2);
        drop(c);
        assert!(rx.try_recv().is_err(), "queued commands are never answered");
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

    /// Fuzzing (fuzz/regressions/command_payload/invalid-utf8-in-json-string): a direct
    /// command's JSON string holding the byte 0x99 was read as `"2021-01-05T\u{FFFD}8:…"`
    /// instead of being refused as not JSON; white space JSON does not allow was trimmed away.
    #[test]
    fn direct_command_payload_with_invalid_utf8_is_not_json() {
        let (c, _rx) = command("thermostat1*getMa", b"\"2021-01-05T\x998:00:00.000Z\"");
        assert!(matches!(c.request_value(), Err(Error::Serialization(_))));
        assert!(c.payload_json::<String>().is_err());
        // Only JSON's own white space around the value, as `Commands::parse` reads it.
        let (c, _rx) = command("x", b"1\x0b");
        assert!(c.request_value().is_err());
        let (c, _rx) = command("x", "1\u{a0}".as_bytes());
        assert!(c.request_value().is_err());
        let (c, _rx) = command("x", b" \t\r\n1 \n");
        assert_eq!(c.request_value().unwrap(), Value::from(1));
        let (c, _rx) = command("x", b" \n\x0c");
        assert_eq!(c.request_value().unwrap(), Value::Null);
        // Queued commands keep carrying bare text, invalid UTF-8 included.
        let (tx, _rx) = mpsc::channel(1);
        let c = Command::queued(tx, "x", b"a\x99b".to_vec());
        assert_eq!(c.request_value().unwrap(), Value::from("a\u{FFFD}b"));
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
