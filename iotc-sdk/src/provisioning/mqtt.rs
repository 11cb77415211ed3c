//! DPS over MQTT, on TLS or WebSockets (protocol.md §2.5, the client state machine).

use std::time::Duration;

use rumqttc::{Event, Packet, QoS};
use serde_json::Value;
use tracing::{debug, info};

use super::{interpret_for, Next, ProvisioningClient, Registration};
use crate::auth::{dps_resource, SasToken};
use crate::transport::mqtt::{self as transport, topics};
use crate::{Error, Result};

use super::{DPS_TOKEN_TTL, MAX_RETRIES};

pub(super) async fn register(
    client: &ProvisioningClient,
    host: &str,
    port: u16,
    body: Value,
) -> Result<Registration> {
    let registration_id = &client.registration_id;
    let identity = client.credentials.x509_identity();
    let password = match identity {
        Some(_) => None,
        None => {
            let key = client
                .credentials
                .device_sas_key(registration_id)
                .ok_or_else(|| {
                    Error::Config("the credentials hold neither a key nor a certificate".into())
                })?;
            let resource = dps_resource(&client.id_scope, registration_id);
            let token = SasToken::with_ttl(&resource, &key, DPS_TOKEN_TTL, Some("registration"));
            Some(token.as_secret().clone())
        }
    };
    let transport = transport::MqttTransport::new(client.protocol, &client.tls, identity)?;
    debug!(%host, port, %registration_id, "connecting to DPS over MQTT");
    let (mqtt, mut eventloop) = transport::open(transport::ConnectParams {
        host: host.to_owned(),
        port,
        client_id: registration_id.clone(),
        username: topics::dps_username(&client.id_scope, registration_id),
        password,
        transport,
        keep_alive: Duration::from_secs(60),
        clean_session: true,
        timeout: client.timeout,
    })
    .await?;
    // DPS answers only requests, so nothing can arrive before the SUBACK.
    let _ = transport::subscribe(
        &mqtt,
        &mut eventloop,
        vec![transport::filter(
            topics::DPS_RESPONSE_FILTER,
            QoS::AtLeastOnce,
        )],
        client.timeout,
    )
    .await?;

    let register_body = serde_json::to_vec(&body)?;
    let mut rid: u64 = 0;
    let mut retries = 0;
    // The request to (re)send: the register itself, then polls of the operation.
    let mut operation_id: Option<String> = None;
    let result = loop {
        rid += 1;
        let (topic, payload) = match &operation_id {
            None => (
                topics::dps_register_topic(&rid.to_string()),
                register_body.clone(),
            ),
            Some(op) => (topics::dps_poll_topic(&rid.to_string(), op), Vec::new()),
        };
        mqtt.publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| Error::Connection(e.to_string()))?;
        let (status, retry_after, body) = loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    match topics::parse_dps_response(&p.topic) {
                        Some(r) if r.request_id == rid.to_string() => {
                            break (r.status, r.retry_after, p.payload)
                        }
                        _ => debug!(topic = %p.topic, "ignoring a DPS message for another request"),
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(transport::connection_error(e)),
            }
        };
        debug!(status, ?retry_after, "DPS answered");
        match interpret_for(client.protocol, status, retry_after, &body) {
            Ok(Next::Done(registration)) => break Ok(registration),
            Ok(Next::Poll {
                operation_id: op,
                after,
            }) => {
                operation_id = Some(op);
                tokio::time::sleep(after).await;
            }
            Ok(Next::Retry { after }) => {
                retries += 1;
                if retries > MAX_RETRIES {
                    break Err(if status == 429 {
                        Error::Throttled { retry_after: after }
                    } else {
                        Error::Rejected {
                            status,
                            message: String::from_utf8_lossy(&body).into_owned(),
                        }
                    });
                }
                tokio::time::sleep(after).await;
            }
            Err(e) => break Err(e),
        }
    };
    // DPS keeps no session: disconnect, best effort.
    let _ = mqtt.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_millis(500), eventloop.poll()).await;
    if let Ok(registration) = &result {
        info!(hub = %registration.assigned_hub, device_id = %registration.device_id, "device provisioned");
    }
    result
}
