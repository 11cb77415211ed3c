//! Fuzzing support: `iotc_sdk::__fuzz` exposes thin public wrappers around the crate-private
//! parsers of untrusted input, so that the cargo-fuzz targets in `fuzz/` can reach them. The
//! wrappers exist only with the cargo feature `__fuzz`; without it `__fuzz` is empty.
//!
//! Not public API: anything here may change or disappear in any release.

/// Thin public wrappers around crate-private parsers, for the cargo-fuzz targets in `fuzz/`
/// (see `docs/reliability.md`, section "Fuzzing"). Empty without the `__fuzz` feature. Not
/// public API.
#[doc(hidden)]
pub mod __fuzz {
    #[cfg(feature = "__fuzz")]
    pub use super::wrappers::*;
}

#[cfg(feature = "__fuzz")]
mod wrappers {
    use std::time::Duration;

    use serde_json::Value;
    use tokio::sync::mpsc;

    use crate::device::Command;
    use crate::message::{CloudMessage, Message};
    use crate::pnp::{Twin, WritableProperty, WritablePropertyUpdate};
    use crate::provisioning::{self, Registration};
    use crate::transport::mqtt::topics;
    use crate::Result;

    /// `topics::encode`: percent-encodes a property-bag key or value.
    pub fn encode(s: &str) -> String {
        topics::encode(s)
    }

    /// `topics::parse_property_bag`.
    pub fn parse_property_bag(bag: &str) -> Vec<(String, Option<String>)> {
        topics::parse_property_bag(bag)
    }

    /// `topics::telemetry_topic` after `topics::telemetry_prefix`.
    pub fn telemetry_topic(device_id: &str, module_id: Option<&str>, message: &Message) -> String {
        topics::telemetry_topic(&topics::telemetry_prefix(device_id, module_id), message)
    }

    /// `topics::parse_c2d`.
    pub fn parse_c2d(topic: &str, payload: &[u8]) -> Option<CloudMessage> {
        topics::parse_c2d(topic, payload)
    }

    /// `topics::parse_twin_response`: `(status, request_id, version)`.
    pub fn parse_twin_response(topic: &str) -> Option<(u16, String, Option<u64>)> {
        topics::parse_twin_response(topic).map(|r| (r.status, r.request_id, r.version))
    }

    /// `topics::parse_desired_patch`: the topic's `$version`, if the topic is a desired patch.
    pub fn parse_desired_patch(topic: &str) -> Option<Option<u64>> {
        topics::parse_desired_patch(topic)
    }

    /// `topics::parse_method_request`: `(name, request_id)`.
    pub fn parse_method_request(topic: &str) -> Option<(String, String)> {
        topics::parse_method_request(topic).map(|m| (m.name, m.request_id))
    }

    /// `topics::parse_dps_response`: `(status, request_id, retry_after)`.
    pub fn parse_dps_response(topic: &str) -> Option<(u16, String, Option<u64>)> {
        topics::parse_dps_response(topic).map(|r| (r.status, r.request_id, r.retry_after))
    }

    /// `topics::method_response_topic`.
    pub fn method_response_topic(status: u16, request_id: &str) -> String {
        topics::method_response_topic(status, request_id)
    }

    /// `transport::parse_endpoint`: `host` or `host:port` (IPv6 as `[addr]:port`).
    pub fn parse_endpoint(endpoint: &str, default_port: u16) -> Result<(String, u16)> {
        crate::transport::parse_endpoint(endpoint, default_port)
    }

    /// What the DPS client does after one answer (`provisioning::Next`).
    #[derive(Debug, PartialEq)]
    pub enum DpsNext {
        /// Registered.
        Done(Registration),
        /// Poll the operation after the delay.
        Poll {
            /// The operation to poll.
            operation_id: String,
            /// The delay.
            after: Duration,
        },
        /// Send the same request again after the delay.
        Retry {
            /// The delay.
            after: Duration,
        },
    }

    /// `provisioning::interpret`: one DPS answer (status, `retry-after`, JSON body).
    pub fn dps_interpret(status: u16, retry_after: Option<u64>, body: &[u8]) -> Result<DpsNext> {
        provisioning::interpret(status, retry_after, body).map(|next| match next {
            provisioning::Next::Done(r) => DpsNext::Done(r),
            provisioning::Next::Poll {
                operation_id,
                after,
            } => DpsNext::Poll {
                operation_id,
                after,
            },
            provisioning::Next::Retry { after } => DpsNext::Retry { after },
        })
    }

    /// `Twin::from_json`: a twin GET response body.
    pub fn twin_from_json(body: &[u8]) -> Result<Twin> {
        Twin::from_json(body)
    }

    /// `WritablePropertyUpdate::from_patch`.
    pub fn from_patch(patch: &Value, topic_version: Option<u64>) -> WritablePropertyUpdate {
        WritablePropertyUpdate::from_patch(patch, topic_version)
    }

    /// `WritablePropertyUpdate::pending_from_twin`.
    pub fn pending_from_twin(twin: &Twin) -> WritablePropertyUpdate {
        WritablePropertyUpdate::pending_from_twin(twin)
    }

    /// `pnp::ack_patch`: the reported patch acknowledging `property`.
    pub fn ack_patch(
        property: &WritableProperty,
        value: &Value,
        status: u16,
        description: Option<&str>,
    ) -> Result<Value> {
        crate::pnp::ack_patch(property, value, status, description)
    }

    /// A direct-method [`Command`] as the connection task builds it. Its request channel is
    /// already closed, so answering fails with `Error::Closed` and dropping it sends nothing.
    pub fn direct_command(name: &str, request_id: &str, payload: &[u8]) -> Command {
        let (requests, _) = mpsc::channel(1);
        Command::new(
            requests,
            name.to_owned(),
            request_id.to_owned(),
            payload.to_vec(),
        )
    }

    /// A queued (offline) [`Command`] from a cloud-to-device message whose `method-name` is
    /// `method_name`.
    pub fn queued_command(method_name: &str, payload: &[u8]) -> Command {
        let (requests, _) = mpsc::channel(1);
        Command::queued(requests, method_name, payload.to_vec())
    }
}
