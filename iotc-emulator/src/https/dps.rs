//! DPS over REST (protocol.md 3.1): `PUT /{scope}/registrations/{id}/register` and
//! `GET /{scope}/registrations/{id}/operations/{operationId}`, answered by the same
//! [`DpsClient`] as MQTT; devices registering here are assigned the hub's HTTPS endpoint.

use hyper::{Method, StatusCode};

use super::call::{json, plain, set, Call, Reply};
use crate::device::dps::{authenticate, error_body, DpsClient, DpsRequest};

/// Serves `/{scope}/registrations/{registration_id}/{rest…}`.
pub(super) fn handle(call: Call<'_>, scope: &str, registration_id: &str, rest: &[&str]) -> Reply {
    let request = match (call.method, rest) {
        (&Method::PUT, ["register"]) => DpsRequest::Register(&call.body),
        (&Method::GET, ["operations", operation_id]) => DpsRequest::Poll(operation_id),
        _ => return plain(StatusCode::NOT_FOUND, "no such DPS resource"),
    };
    if !call.has_api_version() {
        return reply(400, None, &error_body(400_001, "api-version is required"));
    }
    let shared = &call.ctx.shared;
    if matches!(request, DpsRequest::Register(_)) {
        shared.lock().faults.count_dps_attempt(registration_id);
    }
    let auth = if scope.eq_ignore_ascii_case(&shared.settings.id_scope) {
        let password = call.header("authorization").unwrap_or("");
        match authenticate(
            shared,
            scope,
            registration_id,
            password,
            call.ctx.cert.as_ref(),
        ) {
            Some(a) => Some(a),
            None => {
                tracing::info!(peer = %call.ctx.peer, registration_id, "DPS request refused");
                return reply(
                    401,
                    None,
                    &error_body(401_002, "Invalid certificate or token."),
                );
            }
        }
    } else {
        None
    };
    let client = DpsClient {
        scope: scope.to_owned(),
        registration_id: registration_id.to_owned(),
        auth,
    };
    let answer = client
        .handle(shared, request)
        .announcing(shared, &shared.settings.https_assigned_hub);
    reply(answer.status, answer.retry_after, &answer.body)
}

/// A DPS answer: JSON body, `Retry-After`, and `x-ms-error-code` on errors.
fn reply(status: u16, retry_after: Option<u64>, body: &serde_json::Value) -> Reply {
    let mut response = json(status, body);
    if let Some(secs) = retry_after {
        set(&mut response, "retry-after", &secs.to_string());
    }
    if status >= 300 {
        if let Some(code) = body.get("errorCode") {
            set(&mut response, "x-ms-error-code", &code.to_string());
        }
    }
    response
}
