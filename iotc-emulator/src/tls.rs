//! TLS server setup (generated CA + server certificate), the accept loop of the TLS listeners
//! (MQTT, HTTPS, AMQP), and client-certificate checks.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::ssl::{Ssl, SslAcceptor, SslMethod, SslVerifyMode, SslVersion};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509StoreContext, X509};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_openssl::SslStream;

use crate::state::Shared;
use crate::EmulatorError;

/// The TLS acceptor shared by all listeners and the CA that signed its certificate.
pub(crate) struct ServerTls {
    pub(crate) acceptor: SslAcceptor,
    pub(crate) ca_pem: String,
}

fn cert_err(e: impl std::fmt::Display) -> EmulatorError {
    EmulatorError::Certificate(e.to_string())
}

fn tls_err(e: impl std::fmt::Display) -> EmulatorError {
    EmulatorError::Tls(e.to_string())
}

/// Generates a CA and a server certificate for `names` (DNS names or IP addresses) and builds
/// the acceptor: TLS 1.2+, requests (but does not require) a client certificate and accepts any
/// at handshake time; chains are checked after the handshake against enrollment CAs.
pub(crate) fn generate(names: &[String]) -> Result<ServerTls, EmulatorError> {
    let now = time::OffsetDateTime::now_utc();
    let not_before = now - time::Duration::days(1);

    let ca_key = KeyPair::generate().map_err(cert_err)?;
    let mut ca_params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "iotc-emulator test CA");
    dn.push(DnType::OrganizationName, "iotc-emulator");
    ca_params.distinguished_name = dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = not_before;
    ca_params.not_after = now + time::Duration::days(3650);
    let ca_cert = ca_params.self_signed(&ca_key).map_err(cert_err)?;
    let ca_pem = ca_cert.pem();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut sans: Vec<String> = Vec::new();
    for n in names {
        if !n.is_empty() && !sans.iter().any(|s| s.eq_ignore_ascii_case(n)) {
            sans.push(n.clone());
        }
    }
    let server_key = KeyPair::generate().map_err(cert_err)?;
    let mut params = CertificateParams::new(sans).map_err(cert_err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "iotc-emulator");
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = not_before;
    params.not_after = now + time::Duration::days(365);
    let server_cert = params.signed_by(&server_key, &issuer).map_err(cert_err)?;

    let cert = X509::from_der(server_cert.der()).map_err(cert_err)?;
    let ca_x509 = X509::from_pem(ca_pem.as_bytes()).map_err(cert_err)?;
    let key = PKey::private_key_from_der(&server_key.serialize_der()).map_err(cert_err)?;

    let mut builder =
        SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(tls_err)?;
    builder
        .set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(tls_err)?;
    builder.set_private_key(&key).map_err(tls_err)?;
    builder.set_certificate(&cert).map_err(tls_err)?;
    builder.add_extra_chain_cert(ca_x509).map_err(tls_err)?;
    builder.check_private_key().map_err(tls_err)?;
    builder
        .set_session_id_context(b"iotc-emulator")
        .map_err(tls_err)?;
    // Ask for a client certificate but accept its absence (SAS devices) and any chain: X.509
    // devices are checked after the handshake against the enrollment CAs.
    builder.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
    Ok(ServerTls {
        acceptor: builder.build(),
        ca_pem,
    })
}

/// A device connection whose TLS handshake is done.
pub(crate) struct Accepted {
    /// The TLS stream.
    pub(crate) stream: SslStream<TcpStream>,
    /// The client certificate the peer presented, if any.
    pub(crate) cert: Option<PeerCert>,
    /// The peer's address.
    pub(crate) peer: SocketAddr,
    /// The handshake timeout after the TCP accept: the protocol's own opening (MQTT CONNECT,
    /// AMQP OPEN) must be complete by then too.
    pub(crate) deadline: Instant,
}

/// Why a TLS handshake failed (for logs).
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    /// The TLS session could not be set up.
    #[error("tls: {0}")]
    Setup(#[from] openssl::error::ErrorStack),
    /// The handshake itself failed.
    #[error("TLS handshake: {0}")]
    Handshake(#[from] openssl::ssl::Error),
}

/// Runs the accept loop of one TLS listener until shutdown. Each TCP connection gets a task of
/// its own: the TLS handshake, which must end within the handshake timeout, then `handler`,
/// until it returns or the emulator shuts down. `listener_name` names the listener in logs.
pub(crate) async fn serve<H, F>(
    shared: Arc<Shared>,
    listener: TcpListener,
    listener_name: &'static str,
    handler: H,
) where
    H: Fn(Arc<Shared>, Accepted) -> F + Clone + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let mut shutdown = shared.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => break,
        };
        match accepted {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                let shared = shared.clone();
                let handler = handler.clone();
                tokio::spawn(async move {
                    let mut shutdown = shared.shutdown.clone();
                    tokio::select! {
                        _ = handshake(shared, tcp, peer, listener_name, handler) => {}
                        _ = shutdown.changed() => {}
                    }
                });
            }
            Err(e) => {
                tracing::warn!(listener = listener_name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The TLS handshake of one connection within the handshake timeout, then `handler`.
async fn handshake<H, F>(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    listener_name: &'static str,
    handler: H,
) where
    H: Fn(Arc<Shared>, Accepted) -> F,
    F: Future<Output = ()>,
{
    let timeout = shared.settings.handshake_timeout;
    let deadline = Instant::now() + timeout;
    match tokio::time::timeout_at(deadline, accept(&shared, tcp)).await {
        Ok(Ok((stream, cert))) => {
            let accepted = Accepted {
                stream,
                cert,
                peer,
                deadline,
            };
            handler(shared, accepted).await;
        }
        Ok(Err(e)) => {
            tracing::debug!(listener = listener_name, %peer, error = %e, "TLS handshake failed");
        }
        Err(_) => {
            tracing::info!(listener = listener_name, %peer, ?timeout, "no TLS handshake within the handshake timeout; closing");
        }
    }
}

/// The server side of the TLS handshake, and the client certificate the peer presented.
async fn accept(
    shared: &Shared,
    tcp: TcpStream,
) -> Result<(SslStream<TcpStream>, Option<PeerCert>), HandshakeError> {
    let ssl = Ssl::new(shared.acceptor.context())?;
    let mut stream = SslStream::new(ssl, tcp)?;
    Pin::new(&mut stream).accept().await?;
    let cert = stream.ssl().peer_certificate().map(|leaf| PeerCert {
        leaf,
        chain: stream
            .ssl()
            .peer_cert_chain()
            .map(|s| s.iter().map(|c| c.to_owned()).collect())
            .unwrap_or_default(),
    });
    Ok((stream, cert))
}

/// The client certificate presented during the handshake.
#[derive(Clone)]
pub(crate) struct PeerCert {
    pub(crate) leaf: X509,
    pub(crate) chain: Vec<X509>,
}

impl std::fmt::Debug for PeerCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerCert")
            .field("cn", &common_name(&self.leaf))
            .finish()
    }
}

/// The leaf's subject common name.
pub(crate) fn common_name(cert: &X509) -> Option<String> {
    cert.subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok())
}

/// Parses one or more PEM certificates.
pub(crate) fn parse_pem_certs(pem: &str) -> Result<Vec<X509>, EmulatorError> {
    let certs = X509::stack_from_pem(pem.as_bytes()).map_err(cert_err)?;
    if certs.is_empty() {
        return Err(EmulatorError::Certificate(
            "no certificate in PEM".to_owned(),
        ));
    }
    Ok(certs)
}

/// True when `peer` chains to one of `trusted` (intermediates allowed as trust anchors) and is
/// currently valid.
pub(crate) fn chains_to(peer: &PeerCert, trusted: &[X509]) -> bool {
    let check = || -> Result<bool, openssl::error::ErrorStack> {
        let mut store = X509StoreBuilder::new()?;
        for ca in trusted {
            store.add_cert(ca.clone())?;
        }
        store.set_flags(X509VerifyFlags::PARTIAL_CHAIN)?;
        let store = store.build();
        let mut untrusted = Stack::new()?;
        for c in &peer.chain {
            untrusted.push(c.clone())?;
        }
        let mut ctx = X509StoreContext::new()?;
        ctx.init(&store, &peer.leaf, &untrusted, |c| c.verify_cert())
    };
    check().unwrap_or(false)
}

/// Which services a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// DPS only.
    Dps,
    /// The hub only.
    Hub,
    /// DPS and the hub on one listener.
    Both,
}

/// A device's byte stream after TLS: the TLS stream itself, or a WebSocket carried in it.
pub(crate) trait DeviceIo: AsyncRead + AsyncWrite + Unpin + Send {
    /// Prepares an abortive close: dropping the stream then sends a TCP reset (no TLS
    /// close_notify, no FIN), like a connection cut by the network. Streams that cannot reach
    /// their socket close gracefully instead.
    fn prepare_abort(&self) {}

    /// Whether the stream is a WebSocket (the device list's protocol column).
    fn is_websocket(&self) -> bool {
        false
    }
}

impl std::fmt::Debug for dyn DeviceIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceIo")
    }
}

impl DeviceIo for SslStream<TcpStream> {
    fn prepare_abort(&self) {
        // A zero linger does not block on close (the reason `set_linger` is deprecated).
        #[allow(deprecated)]
        let _ = self.get_ref().set_linger(Some(Duration::ZERO));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn make_ca(cn: &str) -> (String, Issuer<'static, KeyPair>) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        p.distinguished_name = dn;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = p.self_signed(&key).unwrap();
        (cert.pem(), Issuer::new(p, key))
    }

    fn make_leaf(cn: &str, issuer: &Issuer<'static, KeyPair>) -> X509 {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        p.distinguished_name = dn;
        let cert = p.signed_by(&key, issuer).unwrap();
        X509::from_der(cert.der()).unwrap()
    }

    #[test]
    fn server_tls_generates() {
        let tls = generate(&["localhost".into(), "127.0.0.1".into(), "::1".into()]).unwrap();
        assert!(tls.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn chain_verification() {
        let (ca_pem, issuer) = make_ca("group CA");
        let (other_pem, _) = make_ca("other CA");
        let leaf = make_leaf("device-01", &issuer);
        let peer = PeerCert {
            leaf,
            chain: vec![],
        };
        assert_eq!(common_name(&peer.leaf).as_deref(), Some("device-01"));
        assert!(chains_to(&peer, &parse_pem_certs(&ca_pem).unwrap()));
        assert!(!chains_to(&peer, &parse_pem_certs(&other_pem).unwrap()));
        assert!(parse_pem_certs("garbage").is_err());
    }
}
