//! `provisioning::interpret` (protocol.md §2.4): one DPS answer, as the registration loop sees
//! it after `parse_dps_response`.
//!
//! Input: a first line `STATUS[ RETRY_AFTER]`, then the JSON body. Invariants: no panic; only a
//! 2xx answer registers or polls, only 429 and 5xx retry; a registration names a non-empty hub
//! host (no white space, control characters or `/`) and a port other than 0; a poll has an
//! operation id; the delay is `retry-after` seconds, or 2 s without it.
#![no_main]

use std::time::Duration;

use iotc_sdk::__fuzz::{dps_interpret, DpsNext};
use iotc_sdk::Error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(head) = std::str::from_utf8(head) else {
        return;
    };
    let mut words = head.split(' ');
    let Some(Ok(status)) = words.next().map(str::parse::<u16>) else {
        return;
    };
    let retry_after = match words.next() {
        Some(w) => match w.parse::<u64>() {
            Ok(v) => Some(v),
            Err(_) => return,
        },
        None => None,
    };
    let after = retry_after
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(2));

    match dps_interpret(status, retry_after, body) {
        Ok(DpsNext::Done(registration)) => {
            assert!((200..=299).contains(&status));
            let hub = registration.assigned_hub();
            assert!(
                !hub.is_empty(),
                "empty assigned hub from {:?}",
                String::from_utf8_lossy(body)
            );
            assert!(
                !hub.contains(|c: char| c.is_whitespace() || c.is_control() || c == '/'),
                "assigned hub {hub:?}"
            );
            assert_ne!(
                registration.hub_port,
                0,
                "port 0 from {:?}",
                String::from_utf8_lossy(body)
            );
        }
        Ok(DpsNext::Poll {
            operation_id,
            after: a,
        }) => {
            assert!((200..=299).contains(&status));
            assert!(!operation_id.is_empty());
            assert_eq!(a, after);
        }
        Ok(DpsNext::Retry { after: a }) => {
            assert!(
                status == 429 || (500..=599).contains(&status),
                "retry on {status}"
            );
            assert_eq!(a, after);
        }
        Err(e) => {
            if (200..=299).contains(&status) {
                assert!(
                    matches!(
                        e,
                        Error::Serialization(_)
                            | Error::Config(_)
                            | Error::RegistrationFailed { .. }
                    ),
                    "{e:?}"
                );
            } else {
                assert!(status != 429 && !(500..=599).contains(&status));
                match status {
                    401 | 403 => assert!(matches!(e, Error::Unauthorized(_)), "{e:?}"),
                    404 => assert!(matches!(e, Error::NotFound(_)), "{e:?}"),
                    _ => assert!(
                        matches!(e, Error::Rejected { status: s, .. } if s == status),
                        "{e:?}"
                    ),
                }
            }
        }
    }
});
