//! The Device Provisioning Service over MQTT (protocol.md 2).

use std::net::SocketAddr;
use std::sync::Arc;

use rumqttc::mqttbytes::v4::{
    ConnAck, Connect, ConnectReturnCode, Packet, PubAck, Publish, SubAck, SubscribeReasonCode,
    UnsubAck,
};
use rumqttc::mqttbytes::QoS;
use serde_json::Value;

use super::io::{keep_alive_timeout, password, refuse, ConnError, TlsIo};
use crate::device::dps::{authenticate, DpsClient, DpsRequest};
use crate::state::Shared;
use crate::tls::PeerCert;
use crate::wire;

const RES_FILTER: &str = "$dps/registrations/res/#";
const REGISTER_TOPIC: &str = "$dps/registrations/PUT/iotdps-register";
const POLL_TOPIC: &str = "$dps/registrations/GET/iotdps-get-operationstatus";

/// Serves one DPS connection after its CONNECT.
pub(crate) async fn run(
    shared: &Arc<Shared>,
    io: &mut TlsIo,
    connect: Connect,
    cert: Option<PeerCert>,
    peer: SocketAddr,
    assigned_hub: &str,
) -> Result<(), ConnError> {
    let username = connect
        .login
        .as_ref()
        .and_then(|l| wire::parse_dps_username(&l.username));
    let Some(username) = username else {
        refuse(io, ConnectReturnCode::BadUserNamePassword).await;
        return Ok(());
    };
    let reg = username.registration_id.clone();
    shared.lock().faults.count_dps_attempt(&reg);
    if connect.client_id != reg {
        tracing::info!(%peer, registration_id = %reg, "DPS ClientId does not match the username");
        refuse(io, ConnectReturnCode::BadClientId).await;
        return Ok(());
    }
    let known_scope = username
        .id_scope
        .eq_ignore_ascii_case(&shared.settings.id_scope);
    let auth = if known_scope {
        match authenticate(
            shared,
            &username.id_scope,
            &reg,
            password(&connect),
            cert.as_ref(),
        ) {
            Some(a) => Some(a),
            None => {
                refuse(io, ConnectReturnCode::NotAuthorized).await;
                return Ok(());
            }
        }
    } else {
        tracing::info!(%peer, id_scope = %username.id_scope, "DPS connect for unknown ID scope");
        None
    };
    tracing::info!(%peer, registration_id = %reg, api_version = %username.api_version, "DPS client connected");
    io.write_packet(&Packet::ConnAck(ConnAck::new(
        ConnectReturnCode::Success,
        false,
    )))
    .await?;

    let mut conn = DpsConn {
        shared: shared.clone(),
        client: DpsClient {
            scope: username.id_scope.clone(),
            registration_id: reg,
            auth,
        },
        subscribed: false,
        assigned_hub: assigned_hub.to_owned(),
    };
    let timeout = keep_alive_timeout(connect.keep_alive);
    loop {
        let packet = match timeout {
            Some(t) => match tokio::time::timeout(t, io.read_packet()).await {
                Ok(p) => p?,
                Err(_) => return Err(ConnError::Protocol("keep-alive timeout".into())),
            },
            None => io.read_packet().await?,
        };
        match packet {
            Packet::Subscribe(sub) => {
                let codes = sub
                    .filters
                    .iter()
                    .map(|f| {
                        if f.path == RES_FILTER {
                            conn.subscribed = true;
                            SubscribeReasonCode::Success(min_qos1(f.qos))
                        } else {
                            SubscribeReasonCode::Failure
                        }
                    })
                    .collect();
                io.write_packet(&Packet::SubAck(SubAck::new(sub.pkid, codes)))
                    .await?;
            }
            Packet::Unsubscribe(u) => {
                if u.topics.iter().any(|t| t == RES_FILTER) {
                    conn.subscribed = false;
                }
                io.write_packet(&Packet::UnsubAck(UnsubAck::new(u.pkid)))
                    .await?;
            }
            Packet::PingReq => io.write_packet(&Packet::PingResp).await?,
            Packet::Disconnect => return Ok(()),
            Packet::PubAck(_) => {}
            Packet::Publish(p) => {
                if p.qos == QoS::ExactlyOnce {
                    return Err(ConnError::Protocol("QoS 2 publish".into()));
                }
                let response = conn.handle_publish(&p)?;
                if p.qos == QoS::AtLeastOnce {
                    io.write_packet(&Packet::PubAck(PubAck::new(p.pkid)))
                        .await?;
                }
                if let Some(r) = response {
                    if conn.subscribed {
                        io.write_packet(&Packet::Publish(r)).await?;
                    } else {
                        tracing::warn!(registration_id = %conn.client.registration_id, "DPS response dropped: client did not subscribe to {RES_FILTER}");
                    }
                }
            }
            other => return Err(ConnError::Protocol(format!("unexpected packet {other:?}"))),
        }
    }
}

/// Grants at most QoS 1.
pub(crate) fn min_qos1(q: QoS) -> QoS {
    match q {
        QoS::AtMostOnce => QoS::AtMostOnce,
        _ => QoS::AtLeastOnce,
    }
}

struct DpsConn {
    shared: Arc<Shared>,
    client: DpsClient,
    subscribed: bool,
    /// The hub endpoint to announce: the one of the listener this connection came in on.
    assigned_hub: String,
}

fn response(status: u16, rid: &str, retry_after: Option<u64>, body: &Value) -> Publish {
    let mut topic = format!(
        "$dps/registrations/res/{status}/?$rid={}",
        wire::encode(rid)
    );
    if let Some(secs) = retry_after {
        topic.push_str(&format!("&retry-after={secs}"));
    }
    Publish::new(topic, QoS::AtMostOnce, body.to_string().into_bytes())
}

impl DpsConn {
    fn handle_publish(&mut self, p: &Publish) -> Result<Option<Publish>, ConnError> {
        let (path, query) = wire::split_topic_query(&p.topic);
        let query = wire::parse_query(query);
        let rid = wire::query_value(&query, "$rid").unwrap_or_default();
        tracing::debug!(registration_id = %self.client.registration_id, topic = path, "DPS publish");
        let is_register = path == REGISTER_TOPIC;
        let op;
        if !is_register && path != POLL_TOPIC {
            return Err(ConnError::Protocol(format!("unknown DPS topic {path}")));
        }
        let request = if is_register {
            DpsRequest::Register(&p.payload)
        } else {
            op = wire::query_value(&query, "operationId").unwrap_or_default();
            DpsRequest::Poll(&op)
        };
        let reply = self
            .client
            .handle(&self.shared, request)
            .announcing(&self.shared, &self.assigned_hub);
        Ok(Some(response(
            reply.status,
            &rid,
            reply.retry_after,
            &reply.body,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_topics() {
        let p = response(202, "a b", Some(3), &serde_json::json!({}));
        assert_eq!(
            p.topic,
            "$dps/registrations/res/202/?$rid=a%20b&retry-after=3"
        );
        assert_eq!(p.qos, QoS::AtMostOnce);
    }
}
