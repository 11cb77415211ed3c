//! Helpers shared by the integration tests: raw rumqttc clients, SAS tokens, DPS flow.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use iotc_emulator::{Emulator, EmulatorConfig};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rumqttc::{
    AsyncClient, ConnectionError, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport,
};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::mpsc;
use tokio::time::timeout;

pub const T: Duration = Duration::from_secs(10);

pub fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

pub fn hmac_b64(key_b64: &str, msg: &str) -> String {
    let key = B64.decode(key_b64).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(msg.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

pub fn sas_token(resource: &str, key_b64: &str, skn: Option<&str>, ttl: i64) -> String {
    let se = time::OffsetDateTime::now_utc().unix_timestamp() + ttl;
    let sr = enc(resource);
    let sig = hmac_b64(key_b64, &format!("{sr}\n{se}"));
    let mut t = format!("SharedAccessSignature sr={sr}&sig={}&se={se}", enc(&sig));
    if let Some(skn) = skn {
        t.push_str(&format!("&skn={skn}"));
    }
    t
}

pub struct Client {
    pub client: AsyncClient,
    pub events: mpsc::UnboundedReceiver<Result<Event, ConnectionError>>,
}

impl Client {
    pub fn connect(
        emulator: &Emulator,
        client_id: &str,
        port: u16,
        user: &str,
        pass: &str,
    ) -> Client {
        Client::connect_with(emulator, client_id, port, user, Some(pass), None)
    }

    /// `pass: None` sends no password (X.509); `client_auth` is a PKCS#12 DER + password.
    pub fn connect_with(
        emulator: &Emulator,
        client_id: &str,
        port: u16,
        user: &str,
        pass: Option<&str>,
        client_auth: Option<(Vec<u8>, String)>,
    ) -> Client {
        let mut opts = MqttOptions::new(client_id, "localhost", port);
        opts.set_credentials(user, pass.unwrap_or(""));
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_transport(Transport::Tls(TlsConfiguration::SimpleNative {
            ca: emulator.ca_cert_pem().as_bytes().to_vec(),
            client_auth,
        }));
        let (client, mut eventloop) = AsyncClient::new(opts, 32);
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let ev = eventloop.poll().await;
                let stop = ev.is_err();
                if tx.send(ev).is_err() || stop {
                    break;
                }
            }
        });
        Client { client, events }
    }

    pub async fn connack(&mut self) -> Result<(), ConnectionError> {
        loop {
            match timeout(T, self.events.recv()).await.unwrap().unwrap() {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    }

    pub async fn publish_on(&mut self, prefix: &str) -> rumqttc::Publish {
        loop {
            match timeout(T, self.events.recv()).await.unwrap().unwrap() {
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic.starts_with(prefix) => return p,
                Ok(_) => {}
                Err(e) => panic!("connection error while waiting for {prefix}: {e}"),
            }
        }
    }

    pub async fn suback(&mut self) -> rumqttc::SubAck {
        loop {
            match timeout(T, self.events.recv()).await.unwrap().unwrap() {
                Ok(Event::Incoming(Packet::SubAck(s))) => return s,
                Ok(_) => {}
                Err(e) => panic!("connection error while waiting for SUBACK: {e}"),
            }
        }
    }

    /// Waits until the connection fails.
    pub async fn closed(&mut self) {
        loop {
            match timeout(T, self.events.recv()).await.unwrap() {
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            }
        }
    }
}

/// Provisions `reg` through DPS with a SAS token of `key`; returns the final `200` body.
pub async fn provision(emulator: &Emulator, reg: &str, key: &str) -> Value {
    let scope = emulator.id_scope();
    let pass = sas_token(
        &format!("{scope}/registrations/{reg}"),
        key,
        Some("registration"),
        3600,
    );
    provision_with(emulator, reg, Some(&pass), None).await
}

/// Provisions `reg` through DPS with the given password and client certificate.
pub async fn provision_with(
    emulator: &Emulator,
    reg: &str,
    pass: Option<&str>,
    client_auth: Option<(Vec<u8>, String)>,
) -> Value {
    let scope = emulator.id_scope();
    let user =
        format!("{scope}/registrations/{reg}/api-version=2021-06-01&ClientVersion=test%2F1.0");
    let mut dps = Client::connect_with(
        emulator,
        reg,
        emulator.dps_addr().port(),
        &user,
        pass,
        client_auth,
    );
    dps.connack().await.unwrap();
    dps.client
        .subscribe("$dps/registrations/res/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    dps.client
        .publish(
            "$dps/registrations/PUT/iotdps-register/?$rid=1",
            QoS::AtLeastOnce,
            false,
            json!({"registrationId": reg, "payload": {"modelId": "dtmi:com:example:Thermostat;1"}})
                .to_string(),
        )
        .await
        .unwrap();
    let p = dps.publish_on("$dps/registrations/res/").await;
    assert_eq!(p.topic, "$dps/registrations/res/202/?$rid=1&retry-after=0");
    let body: Value = serde_json::from_slice(&p.payload).unwrap();
    assert_eq!(body["status"], "assigning");
    let op = body["operationId"].as_str().unwrap().to_owned();
    dps.client
        .publish(
            format!("$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId={op}"),
            QoS::AtMostOnce,
            false,
            " ",
        )
        .await
        .unwrap();
    let p = dps.publish_on("$dps/registrations/res/").await;
    assert_eq!(p.topic, "$dps/registrations/res/200/?$rid=2");
    let body: Value = serde_json::from_slice(&p.payload).unwrap();
    let _ = dps.client.disconnect().await;
    body
}

pub async fn start() -> Emulator {
    Emulator::start(EmulatorConfig {
        dps_retry_after: Duration::ZERO,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

pub fn hub_client(emulator: &Emulator, dev: &str, key: &str, ttl: i64) -> Client {
    let host = emulator.hub_hostname().to_owned();
    let user = format!(
        "{host}/{dev}/?api-version=2021-04-12&model-id={}&DeviceClientType=test",
        enc("dtmi:com:example:Thermostat;1")
    );
    let pass = sas_token(&format!("{host}/devices/{dev}"), key, None, ttl);
    Client::connect(emulator, dev, emulator.hub_addr().port(), &user, &pass)
}
