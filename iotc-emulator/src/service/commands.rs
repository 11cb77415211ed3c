//! Direct methods (IoT Central commands) invoked on a device.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::state::{Outbound, PendingMethod};
use crate::types::MethodResponse;
use crate::{wire, Emulator, ServiceError};

/// Maximum direct-method payload (request and response).
const MAX_METHOD_PAYLOAD: usize = 128 * 1024;

/// Commands.
impl Emulator {
    /// Invokes a direct method (command) and waits up to `timeout` for the answer. The request
    /// is published on `$iothub/methods/POST/{method_name}/?$rid={hex id}`; an empty payload is
    /// sent for `Value::Null`.
    ///
    /// # Errors
    ///
    /// [`ServiceError::DeviceNotFound`]; [`ServiceError::DeviceNotOnline`] if the device is not
    /// connected or not subscribed to `$iothub/methods/POST/#`; [`ServiceError::Timeout`];
    /// [`ServiceError::InvalidRequest`] for an invalid method name or a payload over 128 KB.
    pub async fn invoke_command(
        &self,
        device_id: &str,
        method_name: &str,
        payload: Value,
        timeout: Duration,
    ) -> Result<MethodResponse, ServiceError> {
        if !wire::valid_method_name(method_name) {
            return Err(ServiceError::InvalidRequest(format!(
                "invalid method name {method_name:?}"
            )));
        }
        let body = match &payload {
            Value::Null => Vec::new(),
            v => v.to_string().into_bytes(),
        };
        if body.len() > MAX_METHOD_PAYLOAD {
            return Err(ServiceError::InvalidRequest(
                "method payload exceeds 128 KB".into(),
            ));
        }
        let rid = format!("{:x}", self.shared.next_id());
        let (reply_tx, reply_rx) = oneshot::channel();
        let tx = {
            let mut state = self.shared.lock();
            let device = state
                .devices
                .get(device_id)
                .ok_or_else(|| ServiceError::DeviceNotFound(device_id.to_owned()))?;
            let tx = device
                .conn
                .as_ref()
                .filter(|c| c.subs.methods)
                .map(|c| c.tx.clone())
                .ok_or_else(|| ServiceError::DeviceNotOnline(device_id.to_owned()))?;
            state.methods.insert(
                rid.clone(),
                PendingMethod {
                    device_id: device_id.to_owned(),
                    tx: reply_tx,
                },
            );
            tx
        };
        tracing::debug!(device_id, method_name, rid, "invoking direct method");
        let exchange = async {
            tx.send(Outbound::Method {
                rid: rid.clone(),
                name: method_name.to_owned(),
                payload: Bytes::from(body),
            })
            .await
            .map_err(|_| ServiceError::DeviceNotOnline(device_id.to_owned()))?;
            reply_rx
                .await
                .map_err(|_| ServiceError::DeviceNotOnline(device_id.to_owned()))
        };
        let result = match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(ServiceError::Timeout),
        };
        let mut state = self.shared.lock();
        state.methods.remove(&rid);
        if let Ok(response) = &result {
            let state = &mut *state;
            if let Some(device) = state.devices.get_mut(device_id) {
                let checker = crate::templates::Checker::new(
                    &state.templates,
                    device.model_id.as_deref(),
                    device_id,
                );
                if let Some(checker) = checker {
                    let items =
                        checker.command_response(method_name, response.status, &response.payload);
                    device.record_unmodeled(items);
                }
            }
        }
        result
    }
}
