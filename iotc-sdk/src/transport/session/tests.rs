//! The session engine driven through scenario tables with a fake clock: every row is a
//! situation, the events a transport adapter would report, and what the engine must decide.

use std::collections::VecDeque;
use std::time::Duration;

use super::admission::{admit, Admitted, WhenFull};
use super::engine::{Action, Ended, Engine, RenewBy, Settings};
use super::ledger::Ledger;
use super::limits::{check_size, MAX_MESSAGE_SIZE};
use super::reconnect::{ends_session, Next, Reconnect, AUTH_GRACE, UNREACHABLE_BUDGET};
use super::time::Timestamp;
use super::EndReason;
use crate::auth::renewal::{is_due, renew_after, renew_after_expiry};
use crate::retry::{ExponentialBackoff, NoRetry, RetryPolicy};
use crate::Error;

const FLUSH: Duration = Duration::from_secs(10);
const ACK: Duration = Duration::from_secs(5);

fn ms(t: u64) -> Timestamp {
    Timestamp::after_epoch(Duration::from_millis(t))
}

/// What the adapter reports, with the fake clock's time in milliseconds where it matters.
#[derive(Clone, Copy, Debug)]
enum Ev {
    /// Request `name` handed to the transport and not yet written.
    Queue(&'static str),
    /// The transport wrote its oldest queued request at `t`; it waits for acknowledgement `key`.
    Write { key: u64, t: u64 },
    /// Request `name` handed over and written at once at `t`, waiting for `key`.
    Send {
        name: &'static str,
        key: u64,
        t: u64,
    },
    /// Request `name` waits for the answer to request id `id`.
    Ask {
        name: &'static str,
        id: &'static str,
    },
    /// The answer to `id` arrived; `Some(name)` is the request it must take.
    Answer {
        id: &'static str,
        takes: Option<&'static str>,
    },
    /// Acknowledgement `key` arrived; `Some(name)` is the request it must take.
    Ack {
        key: u64,
        takes: Option<&'static str>,
    },
    /// The application asks to close at `t` (answer channel `reply`).
    Close { reply: u8, t: u64 },
    /// A close found in the backlog at `t`.
    CloseNow { reply: u8, t: u64 },
    /// Every handle dropped at `t`.
    Dropped { t: u64 },
    /// The application asks for a clean reconnection (new credentials) at `t`.
    Rotate { t: u64 },
    /// A turn of the loop at `t`; `backlog` says whether the offline backlog has requests.
    Step { t: u64, backlog: bool, then: Want },
    /// The timer fired at `t`.
    Timer { t: u64, then: Want },
    /// The token was renewed on the live connection; the next renewal at `next` ms.
    Renewed { next: Option<u64> },
    /// The engine's next deadline must be `at` ms.
    Deadline { at: Option<u64> },
    /// Whether new requests / the backlog are taken now.
    Accepts { requests: bool, backlog: bool },
    /// Whether the durable offline queue may be cleared (with an empty backlog).
    MayClearStore(bool),
}

/// An action the engine must answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    Nothing,
    Disconnect,
    RenewToken,
    /// The session is lost with a timeout.
    LostTimeout,
}

/// How the connection ended, as the adapter reports it.
#[derive(Clone, Copy, Debug)]
enum End {
    Disconnected,
    Lost,
}

/// The end the engine must decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Closed { reply: u8 },
    Renew,
    Dropped,
    Lost,
}

struct Scenario {
    name: &'static str,
    renew_at: Option<u64>,
    renew_by: RenewBy,
    events: &'static [Ev],
    end: End,
    outcome: Outcome,
    /// What goes back to the backlog, in the order it was asked for.
    unfinished: &'static [&'static str],
}

const fn row(
    name: &'static str,
    events: &'static [Ev],
    end: End,
    outcome: Outcome,
    unfinished: &'static [&'static str],
) -> Scenario {
    Scenario {
        name,
        renew_at: None,
        renew_by: RenewBy::Reconnect,
        events,
        end,
        outcome,
        unfinished,
    }
}

use Ev::*;

const SCENARIOS: &[Scenario] = &[
    row(
        "reconnection for new credentials: in flight acknowledged first, backlog left, Renew",
        &[
            Send { name: "a", key: 1, t: 0 },
            Rotate { t: 100 },
            Accepts { requests: false, backlog: false },
            Step { t: 100, backlog: true, then: Want::Nothing },
            Deadline { at: Some(5_000) },
            Ack { key: 1, takes: Some("a") },
            Step { t: 200, backlog: true, then: Want::Disconnect },
        ],
        End::Disconnected,
        Outcome::Renew,
        &[],
    ),
    row(
        "reconnection for new credentials with no acknowledgement: the message goes out again",
        &[
            Send { name: "a", key: 1, t: 0 },
            Rotate { t: 100 },
            Step { t: 10_100, backlog: false, then: Want::Disconnect },
        ],
        End::Disconnected,
        Outcome::Renew,
        &["a"],
    ),
    Scenario {
        name: "reconnection for new credentials on AMQP (renewal in place) also reconnects",
        renew_at: Some(60_000),
        renew_by: RenewBy::InPlace,
        events: &[
            Rotate { t: 0 },
            Step { t: 0, backlog: false, then: Want::Disconnect },
        ],
        end: End::Disconnected,
        outcome: Outcome::Renew,
        unfinished: &[],
    },
    row(
        "a close during a reconnection for new credentials: Closed",
        &[
            Rotate { t: 0 },
            Close { reply: 3, t: 10 },
            Accepts { requests: false, backlog: true },
        ],
        End::Disconnected,
        Outcome::Closed { reply: 3 },
        &[],
    ),
    row(
        "lost during close: Closed for every transport, the close answered, the message kept",
        &[
            Send { name: "a", key: 1, t: 0 },
            Close { reply: 7, t: 100 },
            Accepts { requests: false, backlog: true },
            Step { t: 100, backlog: false, then: Want::Nothing },
        ],
        End::Lost,
        Outcome::Closed { reply: 7 },
        &["a"],
    ),
    row(
        "close flushes: the disconnect waits for the acknowledgement",
        &[
            Send { name: "a", key: 1, t: 0 },
            Close { reply: 1, t: 10 },
            Step { t: 10, backlog: false, then: Want::Nothing },
            Ack { key: 1, takes: Some("a") },
            Step { t: 20, backlog: false, then: Want::Disconnect },
            Step { t: 30, backlog: false, then: Want::Nothing },
            Deadline { at: None },
        ],
        End::Disconnected,
        Outcome::Closed { reply: 1 },
        &[],
    ),
    row(
        "close flushes the backlog too",
        &[
            Close { reply: 1, t: 0 },
            Step { t: 0, backlog: true, then: Want::Nothing },
            Step { t: 5, backlog: false, then: Want::Disconnect },
        ],
        End::Disconnected,
        Outcome::Closed { reply: 1 },
        &[],
    ),
    row(
        "drain timeout: the close disconnects at the flush deadline with the message unacknowledged",
        &[
            Queue("a"),
            Close { reply: 2, t: 0 },
            Deadline { at: Some(10_000) },
            Step { t: 9_999, backlog: false, then: Want::Nothing },
            Timer { t: 10_000, then: Want::Nothing },
            Step { t: 10_000, backlog: false, then: Want::Disconnect },
        ],
        End::Disconnected,
        Outcome::Closed { reply: 2 },
        &["a"],
    ),
    row(
        "a close from the backlog closes once what is in flight is done",
        &[
            CloseNow { reply: 3, t: 50 },
            Accepts { requests: false, backlog: true },
            Step { t: 50, backlog: false, then: Want::Disconnect },
        ],
        End::Disconnected,
        Outcome::Closed { reply: 3 },
        &[],
    ),
    row(
        "a second close keeps the first one's answer channel",
        &[
            Close { reply: 1, t: 0 },
            Close { reply: 2, t: 1 },
            Step { t: 2, backlog: false, then: Want::Disconnect },
        ],
        End::Disconnected,
        Outcome::Closed { reply: 1 },
        &[],
    ),
    row(
        "handles dropped: end at once, what is in flight kept for the offline store",
        &[
            Send { name: "a", key: 1, t: 0 },
            Dropped { t: 10 },
            Accepts { requests: false, backlog: false },
            Step { t: 10, backlog: true, then: Want::Disconnect },
        ],
        End::Disconnected,
        Outcome::Dropped,
        &["a"],
    ),
    row(
        "lost after the handles dropped: still Dropped, no reconnection",
        &[Dropped { t: 0 }],
        End::Lost,
        Outcome::Dropped,
        &[],
    ),
    row(
        "the peer closed the connection: Lost",
        &[Send { name: "a", key: 1, t: 0 }],
        End::Disconnected,
        Outcome::Lost,
        &["a"],
    ),
    row(
        "acknowledgement timeout: lost, the message goes out again on the next connection",
        &[
            Send { name: "a", key: 1, t: 0 },
            Deadline { at: Some(5_000) },
            Timer { t: 4_999, then: Want::Nothing },
            Timer { t: 5_000, then: Want::LostTimeout },
        ],
        End::Lost,
        Outcome::Lost,
        &["a"],
    ),
    row(
        "the acknowledgement deadline follows the oldest unacknowledged message",
        &[
            Send { name: "a", key: 1, t: 0 },
            Send { name: "b", key: 2, t: 3_000 },
            Ack { key: 1, takes: Some("a") },
            Deadline { at: Some(8_000) },
            Timer { t: 5_000, then: Want::Nothing },
            Timer { t: 8_000, then: Want::LostTimeout },
        ],
        End::Lost,
        Outcome::Lost,
        &["b"],
    ),
    row(
        "acknowledgements out of order and unknown keys take only their own message",
        &[
            Send { name: "a", key: 1, t: 0 },
            Send { name: "b", key: 2, t: 0 },
            Send { name: "c", key: 3, t: 0 },
            Ack { key: 3, takes: Some("c") },
            Ack { key: 9, takes: None },
            Ack { key: 1, takes: Some("a") },
            Ack { key: 1, takes: None },
        ],
        End::Lost,
        Outcome::Lost,
        &["b"],
    ),
    row(
        "answers by request id; what is unfinished comes back in the order it was asked for",
        &[
            Send { name: "a", key: 1, t: 0 },
            Ask { name: "twin", id: "1" },
            Queue("b"),
            Ask { name: "patch", id: "2" },
            Answer { id: "9", takes: None },
            Answer { id: "2", takes: Some("patch") },
            Queue("c"),
            Write { key: 2, t: 10 },
        ],
        End::Lost,
        Outcome::Lost,
        &["a", "twin", "b", "c"],
    ),
    row(
        "the durable queue is cleared only when no telemetry is unconfirmed",
        &[
            MayClearStore(true),
            Queue("a"),
            MayClearStore(false),
            Write { key: 1, t: 0 },
            MayClearStore(false),
            Ack { key: 1, takes: Some("a") },
            Ask { name: "twin", id: "1" },
            MayClearStore(true),
        ],
        End::Lost,
        Outcome::Lost,
        &["twin"],
    ),
    Scenario {
        name: "renewal by reconnection with messages in flight: they are acknowledged first, the backlog waits",
        renew_at: Some(60_000),
        renew_by: RenewBy::Reconnect,
        events: &[
            Deadline { at: Some(60_000) },
            Send { name: "a", key: 1, t: 59_000 },
            Deadline { at: Some(60_000) },
            Timer { t: 60_000, then: Want::Nothing },
            Accepts { requests: false, backlog: false },
            Deadline { at: Some(64_000) },
            Step { t: 60_000, backlog: true, then: Want::Nothing },
            Ack { key: 1, takes: Some("a") },
            Step { t: 60_100, backlog: true, then: Want::Disconnect },
        ],
        end: End::Disconnected,
        outcome: Outcome::Renew,
        unfinished: &[],
    },
    Scenario {
        name: "renewal with a message never acknowledged: lost at the ack deadline, the message kept",
        renew_at: Some(60_000),
        renew_by: RenewBy::Reconnect,
        events: &[
            Send { name: "a", key: 1, t: 58_000 },
            Timer { t: 60_000, then: Want::Nothing },
            Timer { t: 63_000, then: Want::LostTimeout },
        ],
        end: End::Lost,
        outcome: Outcome::Lost,
        unfinished: &["a"],
    },
    Scenario {
        name: "renewal by reconnection lost while draining: Lost, not Renew",
        renew_at: Some(1_000),
        renew_by: RenewBy::Reconnect,
        events: &[Timer { t: 1_000, then: Want::Nothing }],
        end: End::Lost,
        outcome: Outcome::Lost,
        unfinished: &[],
    },
    Scenario {
        name: "a close during a renewal's drain replaces it",
        renew_at: Some(1_000),
        renew_by: RenewBy::Reconnect,
        events: &[
            Timer { t: 1_000, then: Want::Nothing },
            Close { reply: 4, t: 1_001 },
            Accepts { requests: false, backlog: true },
            Step { t: 1_002, backlog: false, then: Want::Disconnect },
        ],
        end: End::Disconnected,
        outcome: Outcome::Closed { reply: 4 },
        unfinished: &[],
    },
    Scenario {
        name: "renewal on the live connection (CBS): requests keep flowing, the next renewal is set",
        renew_at: Some(1_000),
        renew_by: RenewBy::InPlace,
        events: &[
            Send { name: "a", key: 1, t: 900 },
            Timer { t: 1_000, then: Want::RenewToken },
            Accepts { requests: true, backlog: true },
            Deadline { at: Some(5_900) },
            Timer { t: 1_500, then: Want::Nothing },
            Renewed { next: Some(9_000) },
            Ack { key: 1, takes: Some("a") },
            Deadline { at: Some(9_000) },
            Timer { t: 9_000, then: Want::RenewToken },
            Renewed { next: None },
            Deadline { at: None },
        ],
        end: End::Lost,
        outcome: Outcome::Lost,
        unfinished: &[],
    },
];

fn run(scenario: &Scenario) {
    let name = scenario.name;
    let mut engine: Engine<&'static str, u8> = Engine::new(Settings {
        flush_timeout: FLUSH,
        ack_timeout: ACK,
        ack_name: "an acknowledgement",
        renew_at: scenario.renew_at.map(ms),
        renew_by: scenario.renew_by,
    });
    let want = |action: Option<Action>| match action {
        None => Want::Nothing,
        Some(Action::Disconnect) => Want::Disconnect,
        Some(Action::RenewToken) => Want::RenewToken,
        Some(Action::Lost(Error::Timeout(d, _))) if d == ACK => Want::LostTimeout,
        Some(other) => panic!("{name}: unexpected action {other:?}"),
    };
    let mut lost = None;
    for (i, event) in scenario.events.iter().enumerate() {
        let at = format!("{name}: event {i} {event:?}");
        match *event {
            Queue(item) => {
                let entry = engine.ledger.track(item);
                engine.ledger.hand_over(Some(entry));
            }
            Write { key, t } => {
                let entry = engine.ledger.written().expect(&at);
                engine.written(key, ms(t), entry);
            }
            Send { name, key, t } => {
                let entry = engine.ledger.track(name);
                engine.ledger.hand_over(Some(entry));
                let entry = engine.ledger.written().expect(&at);
                engine.written(key, ms(t), entry);
            }
            Ask { name, id } => {
                let entry = engine.ledger.track(name);
                engine.ledger.await_answer(id.to_owned(), entry);
            }
            Answer { id, takes } => {
                assert_eq!(engine.ledger.answer(id).map(|e| e.item), takes, "{at}");
            }
            Ack { key, takes } => {
                assert_eq!(
                    engine.ledger.acknowledge(key).map(|e| e.item),
                    takes,
                    "{at}"
                );
            }
            Close { reply, t } => engine.close(reply, ms(t)),
            CloseNow { reply, t } => engine.close_now(reply, ms(t)),
            Dropped { t } => engine.handles_dropped(ms(t)),
            Rotate { t } => engine.reconnect(ms(t)),
            Step { t, backlog, then } => {
                assert_eq!(want(engine.step(ms(t), !backlog)), then, "{at}");
            }
            Timer { t, then } => {
                let action = engine.on_timer(ms(t));
                if then == Want::LostTimeout {
                    lost = Some(i);
                }
                assert_eq!(want(action), then, "{at}");
            }
            Renewed { next } => engine.renewed(next.map(ms)),
            Deadline { at: deadline } => {
                assert_eq!(engine.next_deadline(), deadline.map(ms), "{at}");
            }
            Accepts { requests, backlog } => {
                assert_eq!(
                    (engine.accepts_requests(), engine.accepts_backlog()),
                    (requests, backlog),
                    "{at}"
                );
            }
            MayClearStore(may) => assert_eq!(engine.may_clear_store(true), may, "{at}"),
        }
    }
    if lost.is_some() {
        assert!(
            matches!(scenario.end, End::Lost),
            "{name}: a timeout ends as lost"
        );
    }
    let ended = match scenario.end {
        End::Disconnected => Ended::Disconnected,
        End::Lost => Ended::Lost(Error::connection("reset")),
    };
    let (reason, reply) = engine.finish(ended);
    let outcome = match (reason, reply) {
        (EndReason::Closed, Some(reply)) => Outcome::Closed { reply },
        (EndReason::Renew, None) => Outcome::Renew,
        (EndReason::Dropped, None) => Outcome::Dropped,
        (EndReason::Lost(_), None) => Outcome::Lost,
        (_, reply) => panic!("{name}: an end with a stray close answer {reply:?}"),
    };
    assert_eq!(outcome, scenario.outcome, "{name}");
    assert_eq!(
        engine.ledger.take_unfinished(),
        scenario.unfinished,
        "{name}: unfinished"
    );
    assert!(
        !engine.ledger.in_flight(),
        "{name}: the ledger is left empty"
    );
}

#[test]
fn engine_scenarios() {
    for scenario in SCENARIOS {
        run(scenario);
    }
}

#[test]
fn oversized_messages_are_refused_by_one_limit() {
    let rows = [
        (0, true),
        (MAX_MESSAGE_SIZE - 1, true),
        (MAX_MESSAGE_SIZE, true),
        (MAX_MESSAGE_SIZE + 1, false),
    ];
    for (size, fits) in rows {
        match check_size(size) {
            Ok(()) => assert!(fits, "{size}"),
            Err(Error::TooLarge { size: s, limit }) => {
                assert!(!fits, "{size}");
                assert_eq!((s, limit), (size, 256 * 1024));
            }
            Err(other) => panic!("{size}: {other}"),
        }
    }
}

#[test]
fn the_renewal_rule_is_eighty_percent() {
    let hour = Duration::from_secs(3600);
    assert_eq!(renew_after(hour), Duration::from_secs(2880));
    assert_eq!(renew_after(Duration::ZERO), Duration::ZERO);
    let now = Duration::from_secs(1_000_000);
    // A fresh one-hour token; an expired one is renewed at once.
    assert_eq!(
        renew_after_expiry(now, 1_003_600),
        Duration::from_secs(2880)
    );
    assert_eq!(renew_after_expiry(now, 999_000), Duration::ZERO);
    // The same point as a schedule: due once 20 % or less of the lifetime is left.
    let expiry = 1_003_600;
    for (elapsed, due) in [
        (0, false),
        (2879, false),
        (2880, true),
        (3600, true),
        (4000, true),
    ] {
        let at = now + Duration::from_secs(elapsed);
        assert_eq!(is_due(at, expiry, hour), due, "{elapsed}");
    }
}

/// A policy without jitter: 1 s, 2 s, 4 s... never shorter than a `retry-after`.
fn backoff() -> ExponentialBackoff {
    ExponentialBackoff {
        jitter: 0.0,
        ..ExponentialBackoff::default()
    }
}

fn secs(s: u64) -> Timestamp {
    Timestamp::after_epoch(Duration::from_secs(s))
}

#[test]
fn reconnection_decisions() {
    let retry = |attempt, delay: u64, reprovision| Next::Retry {
        attempt,
        delay: Duration::from_secs(delay),
        reprovision,
    };
    let refused = || Error::Unauthorized("refused".into());
    let lost = || Error::connection("reset");
    let not_found = || Error::NotFound("device".into());
    let status = |status| Error::Rejected {
        status,
        message: String::new(),
    };
    let throttled = || Error::Throttled {
        retry_after: Duration::from_secs(5),
    };
    let budget = |periods: u64| UNREACHABLE_BUDGET.as_secs() * (periods + 1);
    // (situation, came through DPS, policy, [(error, at second, decision)])
    type Row = (
        &'static str,
        bool,
        Box<dyn RetryPolicy>,
        Vec<(Error, u64, Next)>,
    );
    let rows: Vec<Row> = vec![
        (
            "a lost connection backs off exponentially",
            true,
            Box::new(backoff()),
            vec![
                (lost(), 0, retry(1, 1, false)),
                (lost(), 1, retry(2, 2, false)),
                (lost(), 3, retry(3, 4, false)),
            ],
        ),
        (
            "throttling waits at least the retry-after the service asked for",
            false,
            Box::new(backoff()),
            vec![
                (
                    Error::Throttled {
                        retry_after: Duration::from_secs(30),
                    },
                    0,
                    retry(1, 30, false),
                ),
                (
                    Error::Throttled {
                        retry_after: Duration::from_millis(10),
                    },
                    30,
                    retry(2, 2, false),
                ),
            ],
        ),
        (
            "a refused device goes back to DPS once, retries within the grace, then gives up",
            true,
            Box::new(backoff()),
            vec![
                (refused(), 100, retry(1, 1, true)),
                (refused(), 101, retry(2, 2, false)),
                (lost(), 110, retry(3, 4, false)),
                (refused(), 129, retry(4, 8, false)),
                (refused(), 100 + AUTH_GRACE.as_secs(), Next::GiveUp),
            ],
        ),
        (
            "a refused device without DPS retries without provisioning",
            false,
            Box::new(backoff()),
            vec![(refused(), 0, retry(1, 1, false))],
        ),
        (
            "an error retrying cannot cure gives up",
            true,
            Box::new(backoff()),
            vec![(Error::Config("bad".into()), 0, Next::GiveUp)],
        ),
        (
            "a hub that no longer knows a DPS device sends it back to DPS once",
            true,
            Box::new(backoff()),
            vec![
                (not_found(), 0, retry(1, 1, true)),
                (not_found(), 1, retry(2, 2, false)),
                (not_found(), AUTH_GRACE.as_secs(), Next::GiveUp),
            ],
        ),
        (
            "an unknown device without DPS gives up",
            false,
            Box::new(backoff()),
            vec![(not_found(), 0, Next::GiveUp)],
        ),
        (
            "throttling and 5xx are waited out, never sent back to DPS, however long",
            true,
            Box::new(backoff()),
            vec![
                (status(503), 0, retry(1, 1, false)),
                (throttled(), 1, retry(2, 5, false)),
                (status(500), 200, retry(3, 4, false)),
                (throttled(), 400, retry(4, 8, false)),
                (status(503), 1000, retry(5, 16, false)),
            ],
        ),
        (
            "an unreachable hub sends a DPS device back to DPS after each budget",
            true,
            Box::new(backoff()),
            vec![
                (lost(), 0, retry(1, 1, false)),
                (lost(), 60, retry(2, 2, false)),
                (Error::Timeout(ACK, "connect"), budget(0), retry(3, 4, true)),
                (lost(), budget(0) + 10, retry(4, 8, false)),
                (lost(), budget(1), retry(5, 16, true)),
            ],
        ),
        (
            "throttling in between restarts the unreachable clock",
            true,
            Box::new(backoff()),
            vec![
                (lost(), 0, retry(1, 1, false)),
                (throttled(), 100, retry(2, 5, false)),
                (lost(), budget(0), retry(3, 4, false)),
                (lost(), budget(1) - 1, retry(4, 8, false)),
                (lost(), budget(1), retry(5, 16, true)),
            ],
        ),
        (
            "an unreachable hub without DPS is the policy's alone",
            false,
            Box::new(backoff()),
            vec![
                (lost(), 0, retry(1, 1, false)),
                (lost(), budget(5), retry(2, 2, false)),
            ],
        ),
        (
            "past a bounded policy's budget a DPS device asks DPS once, then gives up",
            true,
            Box::new(ExponentialBackoff {
                max_attempts: Some(2),
                ..backoff()
            }),
            vec![
                (lost(), 0, retry(1, 1, false)),
                (lost(), 1, retry(2, 2, false)),
                (lost(), 3, retry(3, 1, true)),
                (lost(), 4, Next::GiveUp),
            ],
        ),
        (
            "the NoRetry policy gives up at once",
            true,
            Box::new(NoRetry),
            vec![(lost(), 0, Next::GiveUp)],
        ),
    ];
    for (name, dps, policy, steps) in rows {
        let mut decisions = Reconnect::new(dps);
        for (i, (error, at, next)) in steps.into_iter().enumerate() {
            assert_eq!(
                decisions.after(&error, secs(at), &*policy),
                next,
                "{name}: step {i}"
            );
        }
    }
}

#[test]
fn which_failures_end_the_session() {
    let rows = [
        (Error::connection("reset"), true),
        (Error::Timeout(ACK, "x"), true),
        (Error::Unauthorized("x".into()), true),
        (
            Error::Throttled {
                retry_after: Duration::from_secs(1),
            },
            true,
        ),
        (
            Error::Rejected {
                status: 503,
                message: String::new(),
            },
            true,
        ),
        (
            Error::Rejected {
                status: 400,
                message: String::new(),
            },
            false,
        ),
        (
            Error::TooLarge {
                size: MAX_MESSAGE_SIZE + 1,
                limit: MAX_MESSAGE_SIZE,
            },
            false,
        ),
    ];
    for (error, ends) in rows {
        assert_eq!(ends_session(&error), ends, "{error}");
    }
}

#[test]
fn offline_queue_admission() {
    // (situation, backlog before: (name, is telemetry), capacity, when full, new, outcome, after)
    type Item = (&'static str, bool);
    let t = |name| (name, true);
    let other = |name| (name, false);
    type Row = (
        &'static str,
        Vec<Item>,
        usize,
        WhenFull,
        Item,
        Admitted<Item>,
        Vec<&'static str>,
    );
    let rows: Vec<Row> = vec![
        (
            "room left",
            vec![t("a")],
            2,
            WhenFull::Refuse,
            t("b"),
            Admitted::Queued,
            vec!["a", "b"],
        ),
        (
            "full, refuse",
            vec![t("a"), t("b")],
            2,
            WhenFull::Refuse,
            t("c"),
            Admitted::Refused(t("c")),
            vec!["a", "b"],
        ),
        (
            "full, drop the oldest telemetry (not the twin request before it)",
            vec![other("twin"), t("a"), t("b")],
            3,
            WhenFull::DropOldest,
            t("c"),
            Admitted::Evicted(t("a")),
            vec!["twin", "b", "c"],
        ),
        (
            "full of what may not be dropped: refuse",
            vec![other("twin"), other("patch")],
            2,
            WhenFull::DropOldest,
            t("c"),
            Admitted::Refused(t("c")),
            vec!["twin", "patch"],
        ),
    ];
    for (name, before, capacity, when_full, new, outcome, after) in rows {
        let mut backlog: VecDeque<Item> = before.into();
        assert_eq!(
            admit(&mut backlog, new, capacity, when_full, |i| i.1),
            outcome,
            "{name}"
        );
        let names: Vec<&str> = backlog.iter().map(|i| i.0).collect();
        assert_eq!(names, after, "{name}");
    }
}

/// PUBACKs (or dispositions) in order, out of order, and for keys the transport reused: each
/// takes its own request, the oldest waiting one stays at the front, and nothing is left behind.
#[test]
fn an_acknowledgement_takes_its_own_request() {
    let mut ledger: Ledger<()> = Ledger::default();
    let send = |ledger: &mut Ledger<()>, key: u64, t: u64| {
        let entry = ledger.track(());
        let seq = entry.seq;
        ledger.await_ack(key, ms(t), entry);
        seq
    };
    for round in 0..3 {
        let seqs: Vec<u64> = (1..=10).map(|key| send(&mut ledger, key, round)).collect();
        for (key, seq) in (1..=10).zip(&seqs) {
            assert_eq!(ledger.acknowledge(key).map(|e| e.seq), Some(*seq));
        }
        assert!(!ledger.in_flight());
    }
    let first = send(&mut ledger, 1, 100);
    let later: Vec<u64> = (2..=5).map(|key| send(&mut ledger, key, 200)).collect();
    for (key, seq) in (2..=5).rev().zip(later.iter().rev()) {
        assert_eq!(ledger.acknowledge(key).map(|e| e.seq), Some(*seq));
        assert_eq!(
            ledger.first_ack_due(),
            Some(ms(100)),
            "the oldest is still waiting"
        );
    }
    assert!(
        ledger.acknowledge(7).is_none(),
        "an unknown key takes nothing"
    );
    assert_eq!(ledger.acknowledge(1).map(|e| e.seq), Some(first));
    assert_eq!(ledger.first_ack_due(), None);
}

/// A twin request whose write failed is found by its place in the order of requests (AMQP
/// reports write outcomes by that number), and only once.
#[test]
fn a_failed_write_takes_its_request_waiting_for_an_answer() {
    let mut ledger: Ledger<&str> = Ledger::default();
    let twin = ledger.track("twin");
    let seq = twin.seq;
    ledger.await_answer("id-1".into(), twin);
    let patch = ledger.track("patch");
    ledger.await_answer("id-2".into(), patch);
    assert_eq!(ledger.take_answer_by_seq(seq).map(|e| e.item), Some("twin"));
    assert!(ledger.take_answer_by_seq(seq).is_none());
    assert!(ledger.answer("id-1").is_none());
    assert_eq!(ledger.answer("id-2").map(|e| e.item), Some("patch"));
    assert_eq!(ledger.len(), 0);
}
