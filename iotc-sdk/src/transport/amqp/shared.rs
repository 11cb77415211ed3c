//! One AMQP connection shared by several devices: a gateway and its downstream devices
//! (protocol.md §5.1, multiplexing as the official C SDK does).
//!
//! Each device keeps its own links and SAS token; the connection carries one `$cbs` link pair
//! in a session of its own, through which every device puts (and renews) its token. The
//! devices' links share a few sessions ([`SESSIONS`]), as the official C SDK shares one: a
//! session costs a task and three channels, about 22 KB, on top of each device's links. Losing
//! or closing one device detaches its links and leaves the others untouched. A connection
//! carries at most [`max_devices`] devices; the next one opens another connection. The last
//! device to leave closes the connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};

use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::Session;
use tokio::sync::{Mutex, OwnedMutexGuard};
use tracing::{debug, info};

use super::cbs::{Cbs, CbsHandle};
use super::{open_connection, set_up, Sasl};
use crate::transport::{HubConfig, Protocol};
use crate::{Error, Result};

/// Devices one connection carries at most. The official Java SDK's `MultiplexingClient`
/// documents 1,000 over AMQP and 500 over AMQP over WebSockets (IoT hub closes a WebSocket
/// connection with more); its check runs before adding, so it admits one more, which is what a
/// gateway with 1,000 downstream devices needs. This SDK admits the same numbers.
pub(crate) fn max_devices(protocol: Protocol) -> usize {
    match protocol {
        Protocol::AmqpWs => 501,
        _ => 1001,
    }
}

/// The AMQP channel-max the SDK offers (a device's own connection uses two channels, a shared
/// one at most [`SESSIONS`] and the CBS session).
pub(crate) const CHANNEL_MAX: u16 = 1023;

/// Sessions a shared connection spreads its devices' links over, about (two devices finding
/// every session busy at once may each begin one more). Attaching a link takes a session to
/// itself for one round trip, so devices being added at once attach on different sessions; a
/// session ends only with its connection.
pub(crate) const SESSIONS: usize = 8;

/// A shared session, held by one device while it attaches its links.
pub(crate) type SessionGuard = OwnedMutexGuard<SessionHandle<()>>;

/// The shared connections of one gateway (cloning shares them).
#[derive(Clone, Default)]
pub(crate) struct SharedConnections {
    live: Arc<Mutex<Vec<Arc<Live>>>>,
}

impl std::fmt::Debug for SharedConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedConnections").finish_non_exhaustive()
    }
}

/// One open connection, its CBS links and the sessions its devices' links attach on.
struct Live {
    connection: Mutex<ConnectionHandle<()>>,
    cbs: CbsHandle,
    /// Devices holding a [`Lease`] on it.
    users: AtomicUsize,
    /// The sessions devices attach their links on (see [`SESSIONS`]).
    sessions: std::sync::Mutex<Vec<Arc<Mutex<SessionHandle<()>>>>>,
    /// Which busy session the next device waits for, when all are busy.
    next: AtomicUsize,
}

/// A device's place on a shared connection: the connection's CBS links and sessions. Dropping
/// it leaves the connection; the last one closes it.
pub(crate) struct Lease {
    live: Arc<Live>,
    pool: SharedConnections,
}

impl Lease {
    /// The connection's CBS task, for this device's put-token and renewals.
    pub(crate) fn cbs(&self) -> &CbsHandle {
        &self.live.cbs
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.live.users.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        // The last device left: close the connection unless another device joins meanwhile.
        let pool = self.pool.clone();
        let live = self.live.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let mut all = pool.live.lock().await;
                if live.users.load(Ordering::Acquire) != 0 {
                    return;
                }
                all.retain(|l| !Arc::ptr_eq(l, &live));
                drop(all);
                let _ = live.connection.lock().await.close().await;
                info!("shared AMQP connection closed: no device left on it");
            });
        }
    }
}

impl SharedConnections {
    /// A place for the device of `config` on a shared connection, opening one when none is
    /// open or all are full, and a session of it to attach the device's links on (released
    /// when the guard drops). The device puts its token through [`Lease::cbs`].
    pub(crate) async fn session(&self, config: &HubConfig) -> Result<(SessionGuard, Lease)> {
        let mut all = self.live.lock().await;
        all.retain(|l| {
            let closed = l.connection.try_lock().is_ok_and(|c| c.is_closed());
            if closed {
                debug!("shared AMQP connection found closed; dropping it");
            }
            !closed
        });
        let max = max_devices(config.protocol);
        let live = match all.iter().find(|l| l.users.load(Ordering::Acquire) < max) {
            Some(live) => live.clone(),
            None => {
                let live = Arc::new(open(config).await?);
                all.push(live.clone());
                live
            }
        };
        live.users.fetch_add(1, Ordering::AcqRel);
        let lease = Lease {
            live: live.clone(),
            pool: self.clone(),
        };
        drop(all);
        match tokio::time::timeout(config.connect_timeout, lease.live.session()).await {
            Ok(Ok(session)) => Ok((session, lease)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Timeout(
                config.connect_timeout,
                "a shared AMQP session to attach on",
            )),
        }
    }
}

impl Live {
    /// A session to attach on: a free one, a new one while there are fewer than
    /// [`SESSIONS`], else the next busy one once it is free. Ended sessions (the hub ended
    /// one) are dropped from the list here.
    async fn session(&self) -> Result<SessionGuard> {
        let busy = {
            let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
            sessions.retain(|s| s.try_lock().map_or(true, |s| !s.is_ended()));
            if let Some(free) = sessions
                .iter()
                .find_map(|s| s.clone().try_lock_owned().ok())
            {
                return Ok(free);
            }
            (sessions.len() >= SESSIONS).then(|| {
                sessions[self.next.fetch_add(1, Ordering::Relaxed) % sessions.len()].clone()
            })
        };
        if let Some(busy) = busy {
            let session = busy.lock_owned().await;
            if session.is_ended() {
                return Err(Error::connection("the shared AMQP session ended"));
            }
            return Ok(session);
        }
        let session = Session::begin(&mut *self.connection.lock().await)
            .await
            .map_err(|e| Error::connection_caused("AMQP session refused", e))?;
        debug!("began a shared AMQP session");
        let session = Arc::new(Mutex::new(session));
        let guard = session.clone().lock_owned().await;
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(session);
        Ok(guard)
    }
}

/// Opens a connection with SASL ANONYMOUS (every device authenticates through CBS) and attaches
/// its CBS links in a session of their own.
async fn open(config: &HubConfig) -> Result<Live> {
    debug!(host = %config.connect_host, port = config.port, "opening a shared AMQP connection");
    let stream = super::stream::connect(
        &config.connect_host,
        config.port,
        config.tls.connector()?,
        config.protocol == Protocol::AmqpWs,
        config.proxy.as_ref(),
        config.connect_timeout,
    )
    .await?;
    let mut connection = open_connection(
        stream,
        &config.hub_host,
        Sasl::Anonymous,
        config.keep_alive,
        config.connect_timeout,
    )
    .await?;
    let cbs = set_up(
        &mut connection,
        config.connect_timeout,
        "the CBS links to attach",
        |mut session| async move {
            let cbs = Cbs::attach(&mut session).await?;
            Ok(cbs.spawn_in(session, config.connect_timeout))
        },
    )
    .await?;
    info!(hub = %config.hub_host, "shared AMQP connection open");
    Ok(Live {
        connection: Mutex::new(connection),
        cbs,
        users: AtomicUsize::new(0),
        sessions: std::sync::Mutex::new(Vec::new()),
        next: AtomicUsize::new(0),
    })
}
