//! The optional durable offline queue: telemetry waiting for a connection is mirrored to a
//! file, so that a process restart does not lose it.
//!
//! The file holds one JSON object per line (the message's payload in base64 and its
//! properties). It is rewritten (to a temporary file, then renamed over the old one) whenever the
//! queue changes while the device is disconnected, and removed once everything it held was
//! acknowledged by the hub. A message in the file may have reached the hub just before a crash:
//! delivery stays at least once, and the message id (kept in the file) tells duplicates apart.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::message::Message;
use crate::transport::Request;
use crate::{Error, Result};

/// One stored message.
#[derive(Serialize, Deserialize)]
struct Stored {
    payload: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    component: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlation_id: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    creation_time: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    properties: Vec<(String, String)>,
}

impl From<&Message> for Stored {
    fn from(m: &Message) -> Self {
        Stored {
            payload: STANDARD.encode(m.payload()),
            content_type: m.content_type().map(str::to_owned),
            content_encoding: m.content_encoding().map(str::to_owned),
            component: m.component().map(str::to_owned),
            message_id: m.message_id().map(str::to_owned),
            correlation_id: m.correlation_id().map(str::to_owned),
            creation_time: m.creation_time(),
            properties: m.properties().to_vec(),
        }
    }
}

impl Stored {
    fn into_message(self) -> Option<Message> {
        let mut m = Message::new(STANDARD.decode(self.payload).ok()?);
        if let Some(v) = self.content_type {
            m = m.with_content_type(v);
        }
        if let Some(v) = self.content_encoding {
            m = m.with_content_encoding(v);
        }
        if let Some(v) = self.component {
            m = m.with_component(v);
        }
        if let Some(v) = self.message_id {
            m = m.with_message_id(v);
        }
        if let Some(v) = self.correlation_id {
            m = m.with_correlation_id(v);
        }
        if let Some(v) = self.creation_time {
            m = m.with_creation_time(v);
        }
        for (k, v) in self.properties {
            m = m.with_property(k, v);
        }
        Some(m)
    }
}

/// The file behind a durable offline queue.
#[derive(Debug)]
pub(crate) struct Store {
    path: PathBuf,
    /// Whether the file may hold messages.
    dirty: bool,
}

impl Store {
    /// Opens the store and returns the messages a previous run left in it, oldest first.
    /// Unreadable lines are skipped with a warning.
    pub(crate) fn open(path: &Path) -> Result<(Store, Vec<Message>)> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot read the offline queue {}: {e}",
                    path.display()
                )))
            }
        };
        let mut messages = Vec::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            match serde_json::from_str::<Stored>(line)
                .ok()
                .and_then(Stored::into_message)
            {
                Some(m) => messages.push(m),
                None => {
                    tracing::warn!(path = %path.display(), line = n + 1, "skipping an unreadable line of the offline queue")
                }
            }
        }
        if !messages.is_empty() {
            tracing::info!(path = %path.display(), messages = messages.len(), "offline queue restored from disk");
        }
        Ok((
            Store {
                path: path.to_owned(),
                dirty: !messages.is_empty(),
            },
            messages,
        ))
    }

    /// Mirrors the telemetry in `backlog` to the file (or removes the file when there is none).
    pub(crate) fn save(&mut self, backlog: &VecDeque<Request>) {
        let lines: Vec<String> = backlog
            .iter()
            .flat_map(|r| match r {
                Request::Telemetry { message, .. } => std::slice::from_ref(&**message),
                Request::TelemetryBatch { messages, .. } => messages.as_slice(),
                _ => &[],
            })
            .filter_map(|message| serde_json::to_string(&Stored::from(message)).ok())
            .collect();
        if lines.is_empty() {
            return self.clear();
        }
        let tmp = self.path.with_extension("tmp");
        let written = std::fs::File::create(&tmp).and_then(|mut f| {
            for line in &lines {
                writeln!(f, "{line}")?;
            }
            f.sync_all()
        });
        match written.and_then(|()| std::fs::rename(&tmp, &self.path)) {
            Ok(()) => self.dirty = true,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "could not write the offline queue")
            }
        }
    }

    /// Removes the file: everything it held was delivered.
    pub(crate) fn clear(&mut self) {
        if self.dirty {
            match std::fs::remove_file(&self.path) {
                Ok(()) => self.dirty = false,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.dirty = false,
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "could not remove the offline queue")
                }
            }
        }
    }

    /// Whether the file may hold messages.
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty
    }
}

impl crate::transport::session::OfflineStore for Store {
    fn is_dirty(&self) -> bool {
        Store::is_dirty(self)
    }

    fn clear(&mut self) {
        Store::clear(self);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn telemetry(message: Message) -> Request {
        Request::Telemetry {
            message: Box::new(message),
            reply: tokio::sync::oneshot::channel().0,
        }
    }

    #[test]
    fn round_trips_messages_and_clears() {
        let dir = std::env::temp_dir().join(format!("iotc-durable-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("queue.jsonl");
        let (mut store, restored) = Store::open(&path).unwrap();
        assert!(restored.is_empty() && !store.is_dirty());

        let rich = Message::json(&serde_json::json!({"t": 1}))
            .unwrap()
            .with_component("c")
            .with_message_id("m1")
            .with_correlation_id("c1")
            .with_creation_time(OffsetDateTime::UNIX_EPOCH)
            .with_property("k", "v");
        let backlog: VecDeque<_> = vec![
            telemetry(rich.clone()),
            telemetry(Message::new(vec![0, 255])),
        ]
        .into();
        store.save(&backlog);
        assert!(store.is_dirty());
        let (_, restored) = Store::open(&path).unwrap();
        assert_eq!(restored, vec![rich, Message::new(vec![0, 255])]);

        store.clear();
        assert!(!path.exists());
        std::fs::write(&path, "not json\n{\"payload\":\"AAE=\"}\n").unwrap();
        let (_, restored) = Store::open(&path).unwrap();
        assert_eq!(
            restored,
            vec![Message::new(vec![0, 1])],
            "bad lines are skipped"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
