//! DPS over MQTT, on TLS or WebSockets (protocol.md §2.5, the client state machine).

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};
use serde_json::Value;
use tracing::{debug, info};

use super::{
    register_over, Answer, Exchange, ProvisioningClient, Registration, Request, DPS_TOKEN_TTL,
};
use crate::auth::{dps_resource, SasToken};
use crate::transport::mqtt::{self as transport, topics};
use crate::{Error, Result};

/// Registers over MQTT: connects with the DPS username, subscribes to the answers, runs the
/// state machine, and disconnects.
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
        proxy: client.proxy.clone(),
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

    let mut exchange = Mqtt {
        mqtt: &mqtt,
        eventloop: &mut eventloop,
        rid: 0,
        failed: false,
    };
    let result = register_over(client.protocol, &body, &mut exchange).await;
    if exchange.failed {
        return result;
    }
    // DPS keeps no session: disconnect, best effort.
    let _ = mqtt.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_millis(500), eventloop.poll()).await;
    if let Ok(registration) = &result {
        info!(hub = %registration.assigned_hub, device_id = %registration.device_id, "device provisioned");
    }
    result
}

/// Requests on `$dps/registrations/…` with `$rid` 1, 2, …; answers on `$dps/registrations/res/…`.
struct Mqtt<'a> {
    mqtt: &'a AsyncClient,
    eventloop: &'a mut EventLoop,
    /// The last request id sent.
    rid: u64,
    /// Set when the connection failed: polling the event loop again to disconnect would make
    /// rumqttc reconnect, so the registration ends without disconnecting.
    failed: bool,
}

impl Exchange for Mqtt<'_> {
    async fn send(&mut self, request: Request<'_>) -> Result<Answer> {
        self.rid += 1;
        let rid = self.rid.to_string();
        let (topic, payload) = match request {
            Request::Register(body) => (topics::dps_register_topic(&rid), body.to_vec()),
            Request::Poll(op) => (topics::dps_poll_topic(&rid, op), Vec::new()),
        };
        if let Err(e) = self
            .mqtt
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
        {
            self.failed = true;
            return Err(Error::connection_caused("the MQTT request queue", e));
        }
        loop {
            match self.eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    match topics::parse_dps_response(&p.topic) {
                        Some(r) if r.request_id == rid => {
                            return Ok(Answer {
                                status: r.status,
                                retry_after: r.retry_after,
                                body: p.payload,
                            })
                        }
                        _ => debug!(topic = %p.topic, "ignoring a DPS message for another request"),
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    self.failed = true;
                    return Err(transport::connection_error(e));
                }
            }
        }
    }
}
