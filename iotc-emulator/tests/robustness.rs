//! The listeners survive hostile or broken clients (garbage, half-open connections, slow-loris
//! CONNECTs) over real loopback TCP/TLS, while a normal device keeps working and new devices
//! still connect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{connected, hub_pass, hub_user, provision, send_acked, Client};
use iotc_emulator::{Emulator, EmulatorConfig};
use openssl::ssl::{SslConnector, SslMethod};
use openssl::x509::X509;
use rumqttc::mqttbytes::v4::{Connect, Login, Packet};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_openssl::SslStream;

const LIMIT: Duration = Duration::from_secs(60);
/// The handshake timeout these tests configure.
const HANDSHAKE: Duration = Duration::from_millis(300);
/// How late after the handshake timeout a connection may be closed.
const SLACK: Duration = Duration::from_secs(2);

async fn emulator(hub_listen: bool) -> Emulator {
    Emulator::start(EmulatorConfig {
        dps_retry_after: Duration::ZERO,
        handshake_timeout: HANDSHAKE,
        hub_listen: hub_listen.then(|| "127.0.0.1:0".parse().unwrap()),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

/// A TLS connection to `addr` trusting the emulator's CA.
async fn tls(emulator: &Emulator, addr: SocketAddr) -> SslStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut builder = SslConnector::builder(SslMethod::tls_client()).unwrap();
    builder
        .cert_store_mut()
        .add_cert(X509::from_pem(emulator.ca_cert_pem().as_bytes()).unwrap())
        .unwrap();
    let ssl = builder
        .build()
        .configure()
        .unwrap()
        .into_ssl("localhost")
        .unwrap();
    let mut stream = SslStream::new(ssl, tcp).unwrap();
    Pin::new(&mut stream).connect().await.unwrap();
    stream
}

/// Reads until the server closes the connection (EOF or error); returns how long it took.
/// Panics if it stays open for `within`.
async fn closed_within<S: AsyncRead + Unpin>(stream: &mut S, within: Duration) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match timeout(
            within.saturating_sub(start.elapsed()),
            stream.read(&mut buf),
        )
        .await
        {
            Err(_) => panic!("connection still open after {within:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The bytes of a CONNECT packet with a keep-alive of `keep_alive` seconds.
fn connect_bytes(client_id: &str, user: &str, pass: &str, keep_alive: u16) -> Vec<u8> {
    let mut c = Connect::new(client_id);
    c.keep_alive = keep_alive;
    c.login = Some(Login::new(user, pass));
    let mut buf = BytesMut::new();
    Packet::Connect(c).write(&mut buf, usize::MAX).unwrap();
    buf.to_vec()
}

/// Byte strings that are not a usable first MQTT packet.
fn garbage() -> Vec<Vec<u8>> {
    let mut bad_id = vec![0x10, 0x0C, 0, 4];
    bad_id.extend_from_slice(b"MQTT");
    bad_id.extend_from_slice(&[4, 2, 0, 60, 0xFF, 0xFF]);
    vec![
        noise(1, 4096),
        noise(2, 37),
        vec![0; 64],
        vec![0xFF; 64],
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        // Malformed remaining length.
        vec![0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        // CONNECT whose client id crosses the packet boundary.
        bad_id,
        // A PINGREQ, a PUBLISH before CONNECT.
        vec![0xC0, 0x00],
        vec![0x30, 0x05, 0x00, 0x01, b'a', b'h', b'i'],
        // A CONNECT announcing 200 KB and sending 10 bytes.
        vec![0x10, 0xC0, 0x9A, 0x0C, 0, 4, b'M', b'Q', b'T', b'T'],
        // MQTT 5 CONNECT (level 5).
        vec![
            0x10, 0x0D, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60, 0, 0, 0,
        ],
    ]
}

/// A normal device that must keep working during an attack.
struct Witness {
    dev: String,
    hub: Client,
}

impl Witness {
    async fn new(emulator: &Emulator) -> Witness {
        let dev = "witness".to_owned();
        let (_, hub) = connected(emulator, &dev).await;
        Witness { dev, hub }
    }

    /// Telemetry round-trip on the open connection, and a brand new device provisions and
    /// connects (the accept loops are not blocked).
    async fn still_works(&mut self, emulator: &Emulator, newcomer: &str) {
        send_acked(&mut self.hub, &self.dev, "alive").await;
        let (_, mut hub) = connected(emulator, newcomer).await;
        send_acked(&mut hub, newcomer, "hello").await;
    }
}

#[tokio::test]
async fn plain_tcp_garbage_is_closed() {
    timeout(LIMIT, async {
        let emulator = emulator(true).await;
        let mut witness = Witness::new(&emulator).await;
        let mut attackers = Vec::new();
        for addr in [emulator.dps_addr(), emulator.hub_addr()] {
            for g in garbage() {
                let mut tcp = TcpStream::connect(addr).await.unwrap();
                let _ = tcp.write_all(&g).await;
                attackers.push(tcp);
            }
            // A plaintext MQTT CONNECT (no TLS).
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(&connect_bytes("witness", "x", "y", 30))
                .await
                .unwrap();
            attackers.push(tcp);
        }
        witness.still_works(&emulator, "newcomer-1").await;
        for tcp in &mut attackers {
            closed_within(tcp, HANDSHAKE + SLACK).await;
        }
        witness.still_works(&emulator, "newcomer-2").await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn garbage_after_the_tls_handshake_is_closed() {
    timeout(LIMIT, async {
        let emulator = emulator(true).await;
        let mut witness = Witness::new(&emulator).await;
        let mut attackers = Vec::new();
        for addr in [emulator.dps_addr(), emulator.hub_addr()] {
            for (i, g) in garbage().into_iter().enumerate() {
                let mut s = tls(&emulator, addr).await;
                attackers.push(tokio::spawn(async move {
                    let _ = s.write_all(&g).await;
                    let _ = s.flush().await;
                    (i, closed_within(&mut s, HANDSHAKE + SLACK).await)
                }));
            }
        }
        witness.still_works(&emulator, "newcomer-1").await;
        for a in attackers {
            let (i, took) = a.await.unwrap();
            // All but the partial 200 KB CONNECT are refused at once, before the timeout.
            if i != 9 {
                assert!(took < HANDSHAKE, "garbage {i}: closed after {took:?}");
            }
        }
        witness.still_works(&emulator, "newcomer-2").await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn garbage_after_a_valid_connect_is_closed() {
    timeout(LIMIT, async {
        let emulator = emulator(false).await;
        let mut witness = Witness::new(&emulator).await;
        let dev = "vandal";
        let key = emulator.derive_device_key(dev);
        provision(&emulator, dev, &key).await;
        // Keep-alive 1 s: the hub closes a silent session after 1.5 s.
        let keep_alive = Duration::from_millis(1500);
        let connect = connect_bytes(
            dev,
            &hub_user(&emulator, dev),
            &hub_pass(&emulator, dev, &key, 3600),
            1,
        );
        for (i, g) in garbage().into_iter().enumerate() {
            let mut s = tls(&emulator, emulator.hub_addr()).await;
            s.write_all(&connect).await.unwrap();
            let mut connack = [0u8; 4];
            s.read_exact(&mut connack).await.unwrap();
            assert_eq!(connack, [0x20, 0x02, 0x00, 0x00], "garbage {i}");
            let _ = s.write_all(&g).await;
            let _ = s.flush().await;
            let took = closed_within(&mut s, keep_alive + SLACK).await;
            // Packets the parser or the hub rejects close the session at once; the others
            // (partial packets, a PINGREQ, a PUBACK) are ended by the keep-alive.
            if [2, 3, 5, 6, 8, 10].contains(&i) {
                assert!(
                    took < Duration::from_secs(1),
                    "garbage {i}: closed after {took:?}"
                );
            }
        }
        witness.still_works(&emulator, "newcomer").await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn half_open_connections_are_closed_after_the_handshake_timeout() {
    timeout(LIMIT, async {
        let emulator = emulator(false).await;
        let mut witness = Witness::new(&emulator).await;
        // TCP connect, then nothing; TLS handshake, then nothing.
        let mut silent_tcp = Vec::new();
        let mut silent_tls = Vec::new();
        for _ in 0..20 {
            silent_tcp.push(TcpStream::connect(emulator.hub_addr()).await.unwrap());
            silent_tls.push(tls(&emulator, emulator.hub_addr()).await);
        }
        let opened = Instant::now();
        // Meanwhile a device connects and works.
        witness.still_works(&emulator, "newcomer").await;
        for tcp in &mut silent_tcp {
            closed_within(tcp, HANDSHAKE + SLACK).await;
        }
        for s in &mut silent_tls {
            closed_within(s, HANDSHAKE + SLACK).await;
        }
        let open_for = opened.elapsed();
        assert!(open_for < HANDSHAKE + SLACK, "{open_for:?}");
        // Not closed before the timeout: a fresh half-open connection lives ~300 ms.
        let mut probe = tls(&emulator, emulator.hub_addr()).await;
        let lived = closed_within(&mut probe, HANDSHAKE + SLACK).await;
        assert!(lived >= HANDSHAKE / 2, "closed after {lived:?}");
        witness.still_works(&emulator, "newcomer-2").await;
    })
    .await
    .unwrap();
}

/// Sends `bytes` one per 100 ms until the server closes the connection; returns the time
/// from the first byte to the close and how many bytes were sent.
async fn slow_loris<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    bytes: &[u8],
) -> (Duration, usize) {
    let start = Instant::now();
    let mut buf = [0u8; 64];
    for (i, b) in bytes.iter().enumerate() {
        if s.write_all(&[*b]).await.is_err() || s.flush().await.is_err() {
            return (start.elapsed(), i);
        }
        match timeout(Duration::from_millis(100), s.read(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0)) | Ok(Err(_)) => return (start.elapsed(), i + 1),
            Ok(Ok(n)) => panic!("server answered {:?} to a partial CONNECT", &buf[..n]),
        }
    }
    panic!("the whole CONNECT went through slowly without being cut off");
}

#[tokio::test]
async fn slow_loris_connects_are_cut_off_without_blocking_others() {
    timeout(LIMIT, async {
        let emulator = emulator(false).await;
        let mut witness = Witness::new(&emulator).await;
        let dev = "loris";
        let key = emulator.derive_device_key(dev);
        provision(&emulator, dev, &key).await;
        let connect = connect_bytes(
            dev,
            &hub_user(&emulator, dev),
            &hub_pass(&emulator, dev, &key, 3600),
            30,
        );
        assert!(
            connect.len() > 40,
            "a CONNECT long enough to outlast the timeout"
        );
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let mut s = tls(&emulator, emulator.hub_addr()).await;
            let connect = connect.clone();
            tasks.push(tokio::spawn(
                async move { slow_loris(&mut s, &connect).await },
            ));
        }
        // Plain TCP too: a TLS ClientHello would be as slow; any bytes do.
        let mut tcp = TcpStream::connect(emulator.hub_addr()).await.unwrap();
        let plain = tokio::spawn(async move { slow_loris(&mut tcp, &noise(3, 200)).await });
        // The accept loop is not blocked.
        witness.still_works(&emulator, "newcomer").await;
        for t in tasks {
            let (took, sent) = t.await.unwrap();
            assert!(took < HANDSHAKE + SLACK, "cut after {took:?}");
            assert!(sent < connect.len(), "cut after {sent} bytes");
        }
        let (took, _) = plain.await.unwrap();
        assert!(took < HANDSHAKE + SLACK, "cut after {took:?}");
        assert!(!emulator.device(dev).unwrap().connected);
        witness.still_works(&emulator, "newcomer-2").await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn zero_handshake_timeout_is_refused() {
    let err = Emulator::start(EmulatorConfig {
        handshake_timeout: Duration::ZERO,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, iotc_emulator::EmulatorError::InvalidConfig(_)),
        "{err}"
    );
}
