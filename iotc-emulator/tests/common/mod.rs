//! Helpers shared by the integration tests: raw rumqttc clients, SAS tokens, DPS flow.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
        Client::connect_to(
            emulator,
            "localhost",
            client_id,
            port,
            user,
            pass,
            client_auth,
        )
    }

    /// As [`connect_with`](Self::connect_with), to `host` (the TCP connection's and the TLS
    /// server name: a hub of several, by its host name).
    pub fn connect_to(
        emulator: &Emulator,
        host: &str,
        client_id: &str,
        port: u16,
        user: &str,
        pass: Option<&str>,
        client_auth: Option<(Vec<u8>, String)>,
    ) -> Client {
        let mut opts = MqttOptions::new(client_id, host, port);
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

    /// On a DPS connection: subscribes to the responses, sends a register request with `body`
    /// under `rid` at `qos`, and returns the response.
    pub async fn dps_register(&mut self, rid: &str, body: Value, qos: QoS) -> rumqttc::Publish {
        self.client
            .subscribe("$dps/registrations/res/#", qos)
            .await
            .unwrap();
        self.client
            .publish(
                format!("$dps/registrations/PUT/iotdps-register/?$rid={rid}"),
                qos,
                false,
                body.to_string(),
            )
            .await
            .unwrap();
        self.publish_on("$dps/registrations/res/").await
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
        self.closed_with().await;
    }

    /// Waits until the connection fails; returns the error (`None` if the event loop ended
    /// without one).
    pub async fn closed_with(&mut self) -> Option<ConnectionError> {
        loop {
            match timeout(T, self.events.recv()).await.unwrap() {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Some(e),
                None => return None,
            }
        }
    }

    /// Waits until the connection fails; panics if a PUBACK arrives first.
    pub async fn closed_without_puback(&mut self) -> Option<ConnectionError> {
        loop {
            match timeout(T, self.events.recv()).await.unwrap() {
                Some(Ok(Event::Incoming(Packet::PubAck(a)))) => {
                    panic!("unexpected PUBACK {a:?} before the connection closed")
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Some(e),
                None => return None,
            }
        }
    }

    /// Waits for the next PUBACK; returns its packet id.
    pub async fn puback(&mut self) -> u16 {
        loop {
            match timeout(T, self.events.recv()).await.unwrap().unwrap() {
                Ok(Event::Incoming(Packet::PubAck(a))) => return a.pkid,
                Ok(_) => {}
                Err(e) => panic!("connection error while waiting for PUBACK: {e}"),
            }
        }
    }

    /// Collects the incoming packets of the next `d` (the connection must stay up).
    pub async fn incoming_for(&mut self, d: Duration) -> Vec<Packet> {
        let end = tokio::time::Instant::now() + d;
        let mut out = Vec::new();
        loop {
            match tokio::time::timeout_at(end, self.events.recv()).await {
                Err(_) => return out,
                Ok(Some(Ok(Event::Incoming(p)))) => out.push(p),
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => panic!("connection error: {e}"),
                Ok(None) => panic!("event loop ended"),
            }
        }
    }
}

/// The CONNACK refusal code of a connection error, if it is one.
pub fn refused_with(e: &ConnectionError) -> Option<rumqttc::ConnectReturnCode> {
    match e {
        ConnectionError::ConnectionRefused(code) => Some(*code),
        _ => None,
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
    let body =
        json!({"registrationId": reg, "payload": {"modelId": "dtmi:com:example:Thermostat;1"}});
    let p = dps.dps_register("1", body, QoS::AtLeastOnce).await;
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
    let pass = hub_pass(emulator, dev, key, ttl);
    hub_client_with_pass(emulator, dev, &pass)
}

/// The hub username of `dev`.
pub fn hub_user(emulator: &Emulator, dev: &str) -> String {
    format!(
        "{}/{dev}/?api-version=2021-04-12&model-id={}&DeviceClientType=test",
        emulator.hub_hostname(),
        enc("dtmi:com:example:Thermostat;1")
    )
}

/// A hub SAS token of `dev` valid for `ttl` seconds.
pub fn hub_pass(emulator: &Emulator, dev: &str, key: &str, ttl: i64) -> String {
    let host = emulator.hub_hostname();
    sas_token(&format!("{host}/devices/{dev}"), key, None, ttl)
}

/// A hub client presenting exactly `pass`.
pub fn hub_client_with_pass(emulator: &Emulator, dev: &str, pass: &str) -> Client {
    let user = hub_user(emulator, dev);
    Client::connect(emulator, dev, emulator.hub_addr().port(), &user, pass)
}

/// Starts an emulator with `config` (DPS `retry-after` 0 unless set).
pub async fn start_with(config: EmulatorConfig) -> Emulator {
    Emulator::start(config).await.unwrap()
}

/// Provisions `dev`, connects it to the hub and waits for the CONNACK; returns its key and
/// the client.
pub async fn connected(emulator: &Emulator, dev: &str) -> (String, Client) {
    let key = emulator.derive_device_key(dev);
    provision(emulator, dev, &key).await;
    let mut hub = hub_client(emulator, dev, &key, 3600);
    hub.connack().await.unwrap();
    (key, hub)
}

/// Subscribes to the twin responses and waits for the SUBACK.
pub async fn subscribe_twin(hub: &mut Client) {
    hub.client
        .subscribe("$iothub/twin/res/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    hub.suback().await;
}

/// Sends a twin GET with `rid` and returns the response topic status.
pub async fn twin_get_status(hub: &mut Client, rid: &str) -> String {
    hub.client
        .publish(
            format!("$iothub/twin/GET/?$rid={rid}"),
            QoS::AtMostOnce,
            false,
            "",
        )
        .await
        .unwrap();
    let p = hub.publish_on("$iothub/twin/res/").await;
    assert!(p.topic.ends_with(&format!("?$rid={rid}")), "{}", p.topic);
    p.topic.split('/').nth(3).unwrap().to_owned()
}

/// Sends a QoS 1 telemetry message and waits for its PUBACK.
pub async fn send_acked(hub: &mut Client, dev: &str, body: &str) {
    hub.client
        .publish(
            format!("devices/{dev}/messages/events/"),
            QoS::AtLeastOnce,
            false,
            body.to_owned(),
        )
        .await
        .unwrap();
    hub.puback().await;
}

/// The telemetry topic of a fault-injection request (fault-injection.md).
pub fn fault_topic(dev: &str, kind: &str, reason: &str, delay: &str, duration: &str) -> String {
    format!(
        "devices/{dev}/messages/events/AzIoTHub_FaultOperationType={kind}&AzIoTHub_FaultOperationCloseReason={reason}&AzIoTHub_FaultOperationDelayInSecs={delay}&AzIoTHub_FaultOperationDurationInSecs={duration}"
    )
}

/// Minimal HTTP/1.1 client: returns (status, body).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A CA for the X.509 tests (rcgen), and the device certificates it signs.
pub struct TestCa {
    /// The CA certificate, PEM.
    pub pem: String,
    /// The CA certificate, DER.
    pub der: Vec<u8>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A device certificate signed by a [`TestCa`].
pub struct Leaf {
    /// Its PKCS#12 (DER) and the password, the MQTT client's TLS identity.
    pub p12: (Vec<u8>, String),
    /// The certificate, DER.
    pub der: Vec<u8>,
}

impl TestCa {
    /// A self-signed CA named `cn`.
    pub fn new(cn: &str) -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = p.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            issuer: rcgen::Issuer::new(p, key),
        }
    }

    /// A device certificate with common name `cn` (the registration and device id).
    pub fn leaf(&self, cn: &str) -> Leaf {
        use openssl::pkcs12::Pkcs12;
        use openssl::pkey::PKey;
        use openssl::x509::X509;
        use rcgen::{CertificateParams, DnType, KeyPair};
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, cn);
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        let pkey = PKey::private_key_from_der(&key.serialize_der()).unwrap();
        let x509 = X509::from_der(cert.der()).unwrap();
        let p12 = Pkcs12::builder()
            .name(cn)
            .pkey(&pkey)
            .cert(&x509)
            .build2("pw")
            .unwrap();
        Leaf {
            p12: (p12.to_der().unwrap(), "pw".to_owned()),
            der: cert.der().to_vec(),
        }
    }
}

/// The IoT Central API (`/api`, api-version 2022-07-31) of a service HTTP server.
pub struct Api {
    pub addr: SocketAddr,
    pub token: String,
}

impl Api {
    /// A call with the server's token: the status and the JSON body (`Null` when empty).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let path = format!("{path}{sep}api-version=2022-07-31");
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, out) = http(
            self.addr,
            method,
            &path,
            &[
                ("authorization", &self.token),
                ("content-type", "application/json"),
            ],
            &text,
        )
        .await;
        let json = if out.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{out:?}: {e}"))
        };
        (status, json)
    }
}

/// An emulator with its service HTTP server on a loopback port (it runs while the returned
/// server is kept) and that server's IoT Central API.
pub async fn start_with_api() -> (Emulator, iotc_emulator::service_http::ServiceServer, Api) {
    let emulator = start().await;
    let server =
        iotc_emulator::service_http::serve(emulator.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
    let api = Api {
        addr: server.local_addr(),
        token: server.api_token().to_owned(),
    };
    (emulator, server, api)
}
