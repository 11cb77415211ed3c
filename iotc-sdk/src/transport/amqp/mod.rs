//! AMQP 1.0 over TLS (and over WebSockets), on `fe2o3-amqp`, for IoT hub ([`hub`]) and DPS
//! ([`crate::provisioning`]).
//!
//! The connection runs over the SDK's own TLS stream (the shared native-tls connector, so pinned
//! roots and client certificates work the same as for MQTT); fe2o3-amqp speaks AMQP on top of
//! it. Protocol facts: protocol.md §3.2 (DPS) and §5 (IoT hub).

pub(crate) mod cbs;
pub(crate) mod corked;
pub(crate) mod hub;
pub(crate) mod message;
pub(crate) mod shared;
pub(crate) mod stream;

use std::future::Future;
use std::time::Duration;

use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::sasl_profile::SaslProfile;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::definitions::{self, AmqpError, ErrorCondition, Fields};
use fe2o3_amqp::types::primitives::{Symbol, Value};
use fe2o3_amqp::{Connection, Session};

use crate::{Error, Result};

pub(crate) use stream::AmqpStream;

/// The hub API version sent as the `com.microsoft:api-version` link property (protocol.md §0.1).
pub(crate) const HUB_API_VERSION: &str = "2021-04-12";

/// The user agent sent as `com.microsoft:client-version`.
pub(crate) const CLIENT_VERSION: &str = concat!("iotc-sdk/", env!("CARGO_PKG_VERSION"));

/// Largest frame accepted or sent.
const MAX_FRAME_SIZE: u32 = 64 * 1024;

/// How the AMQP connection authenticates itself.
pub(crate) enum Sasl {
    /// No SASL layer: the TLS client certificate is the identity (X.509, protocol.md §5.2).
    None,
    /// SASL ANONYMOUS, then CBS put-token for each identity.
    Anonymous,
    /// SASL PLAIN (DPS with a SAS token, protocol.md §3.2).
    Plain { username: String, password: String },
}

/// Opens the AMQP connection on an established stream: protocol header, SASL, OPEN.
pub(crate) async fn open_connection(
    stream: AmqpStream,
    hostname: &str,
    sasl: Sasl,
    idle_timeout: Duration,
    timeout: Duration,
) -> Result<ConnectionHandle<()>> {
    let builder = Connection::builder()
        .container_id(new_uuid())
        .hostname(hostname)
        .scheme("amqp")
        .max_frame_size(MAX_FRAME_SIZE)
        .channel_max(shared::CHANNEL_MAX)
        .idle_time_out(u32::try_from(idle_timeout.as_millis()).unwrap_or(u32::MAX));
    let builder = match sasl {
        Sasl::None => builder,
        Sasl::Anonymous => builder.sasl_profile(SaslProfile::Anonymous),
        Sasl::Plain { username, password } => {
            builder.sasl_profile(SaslProfile::Plain { username, password })
        }
    };
    match tokio::time::timeout(timeout, builder.open_with_stream(stream)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(open_error(e)),
        Err(_) => Err(Error::Timeout(timeout, "the AMQP connection to open")),
    }
}

/// How long a connection that failed to set up is given to exchange CLOSE frames: the peer
/// may be the reason it failed, and may never answer.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Finishes setting up a freshly opened `connection`: begins its first session and runs `work`
/// on it (CBS, links), all within `timeout`. When that fails or runs out of time (then the
/// error is [`Error::Timeout`] for `what`), the connection is closed, waiting at most
/// [`CLOSE_GRACE`] for the peer.
pub(crate) async fn set_up<T, F>(
    connection: &mut ConnectionHandle<()>,
    timeout: Duration,
    what: &'static str,
    work: impl FnOnce(SessionHandle<()>) -> F,
) -> Result<T>
where
    F: Future<Output = Result<T>>,
{
    let attempt = async {
        let session = Session::begin(connection)
            .await
            .map_err(|e| Error::connection_caused("AMQP session refused", e))?;
        work(session).await
    };
    let error = match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(built)) => return Ok(built),
        Ok(Err(e)) => e,
        Err(_) => Error::Timeout(timeout, what),
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, connection.close()).await;
    Err(error)
}

fn open_error(error: fe2o3_amqp::connection::OpenError) -> Error {
    use fe2o3_amqp::connection::OpenError;
    match error {
        OpenError::SaslError { code, .. } => Error::Unauthorized(format!(
            "the service refused the SASL authentication ({code:?})"
        )),
        OpenError::RemoteClosedWithError(e) => condition_error(&e),
        OpenError::Io(e) => Error::connection_caused("I/O", e),
        other => Error::connection_caused("AMQP open", other),
    }
}

/// Link attach properties: `com.microsoft:*` names with string values.
pub(crate) fn link_properties(pairs: &[(&str, &str)]) -> Fields {
    let mut fields = Fields::default();
    for (name, value) in pairs {
        fields.insert(Symbol::from(*name), Value::String((*value).to_owned()));
    }
    fields
}

/// The symbol of an AMQP error condition, such as `amqp:unauthorized-access`.
pub(crate) fn condition_name(condition: &ErrorCondition) -> String {
    match condition {
        ErrorCondition::AmqpError(e) => Symbol::from(e).0,
        ErrorCondition::ConnectionError(e) => Symbol::from(e).0,
        ErrorCondition::SessionError(e) => Symbol::from(e).0,
        ErrorCondition::LinkError(e) => Symbol::from(e).0,
        ErrorCondition::Custom(s) => s.0.clone(),
        #[allow(unreachable_patterns)]
        _ => "unknown".to_owned(),
    }
}

/// Sorts an AMQP error the service sent into the SDK's typed errors.
pub(crate) fn condition_error(error: &definitions::Error) -> Error {
    let description = error.description.clone().unwrap_or_default();
    let name = condition_name(&error.condition);
    match &error.condition {
        ErrorCondition::AmqpError(AmqpError::UnauthorizedAccess) => {
            Error::Unauthorized(format!("{name}: {description}"))
        }
        ErrorCondition::AmqpError(AmqpError::NotFound) => {
            Error::NotFound(format!("{name}: {description}"))
        }
        ErrorCondition::AmqpError(AmqpError::ResourceLimitExceeded) => Error::Throttled {
            retry_after: retry_after(error).unwrap_or(Duration::from_secs(1)),
        },
        // IoT hub's `com.microsoft:device-container-throttled`, and its
        // `com.microsoft:quota-exceeded` (the hub's daily message quota, 403002 over HTTPS):
        // both refuse for now, to be tried again later.
        _ if name.contains("throttl") || name.contains("quota-exceeded") => Error::Throttled {
            retry_after: retry_after(error).unwrap_or(Duration::from_secs(1)),
        },
        _ => Error::connection(format!("{name}: {description}")),
    }
}

/// The `retry-after` (seconds) in an error's `info`, if any.
fn retry_after(error: &definitions::Error) -> Option<Duration> {
    let info = error.info.as_ref()?;
    let value = info.get(&Symbol::from("retry-after"))?;
    message::value_as_u64(value).map(Duration::from_secs)
}

/// A random (version 4) UUID in its hyphenated text form.
pub(crate) fn new_uuid() -> String {
    let a = fastrand::u64(..);
    let b = fastrand::u64(..);
    let a = (a & 0xffff_ffff_ffff_0fff) | 0x4000;
    let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4() {
        let id = new_uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(new_uuid(), id);
    }

    #[test]
    fn conditions_map_to_typed_errors() {
        let e = |condition| definitions::Error::new(condition, None, None);
        assert!(matches!(
            condition_error(&e(ErrorCondition::AmqpError(AmqpError::UnauthorizedAccess))),
            Error::Unauthorized(_)
        ));
        assert!(matches!(
            condition_error(&e(ErrorCondition::AmqpError(
                AmqpError::ResourceLimitExceeded
            ))),
            Error::Throttled { .. }
        ));
        assert!(matches!(
            condition_error(&e(ErrorCondition::Custom(Symbol::from(
                "com.microsoft:device-container-throttled"
            )))),
            Error::Throttled { .. }
        ));
        assert!(matches!(
            condition_error(&e(ErrorCondition::Custom(Symbol::from(
                "com.microsoft:quota-exceeded"
            )))),
            Error::Throttled { .. }
        ));
        assert!(matches!(
            condition_error(&e(ErrorCondition::AmqpError(AmqpError::InternalError))),
            Error::Connection { .. }
        ));
    }
}
