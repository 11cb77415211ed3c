//! The SDK's fault matrices, each one table of scenarios run on every transport it applies to:
//!
//! - `service`: what the service side does to a device (throttling, refusals, early token
//!   expiry, lost and slow acknowledgements, calls nobody answers);
//! - `reprovision`: when a connected device goes back to DPS, and when it must not;
//! - `requested` (this file): every fault type IoT hub's fault-injection hook offers,
//!   requested by the device itself (telemetry with the `AzIoTHub_FaultOperation*`
//!   properties) against `iotc-emulator` over real loopback TLS. After each fault the device
//!   sends a burst of telemetry and reads its twin: nothing is lost, the reconnection attempts
//!   stay bounded by the retry policy, and every operation works again.
//!
//! The emulator side of every row is also covered by the emulator's own tests
//! (`iotc-emulator/tests/amqp_faults.rs`, `transport_faults.rs`). HTTPS keeps no connection to
//! kill: it meets throttling, quota and auth faults, and has no twin to read afterwards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod reprovision;
mod service;
mod support;

use iotc_sdk::transport::Protocol;

use support::run;

/// One row per (transport, fault): `row!(name, protocol, fault)`.
macro_rules! rows {
    ($($name:ident: $protocol:expr, $fault:literal;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                run($protocol, $fault).await;
            }
        )*
    };
}

mod mqtt {
    use super::*;
    rows! {
        kill_tcp: Protocol::Mqtt, "KillTcp";
        shut_down_mqtt: Protocol::Mqtt, "ShutDownMqtt";
        invoke_throttling: Protocol::Mqtt, "InvokeThrottling";
        invoke_max_message_quota: Protocol::Mqtt, "InvokeMaxMessageQuota";
        invoke_auth_error: Protocol::Mqtt, "InvokeAuthError";
    }
}

mod mqtt_ws {
    use super::*;
    rows! {
        kill_tcp: Protocol::MqttWs, "KillTcp";
        shut_down_mqtt: Protocol::MqttWs, "ShutDownMqtt";
        invoke_throttling: Protocol::MqttWs, "InvokeThrottling";
        invoke_max_message_quota: Protocol::MqttWs, "InvokeMaxMessageQuota";
        invoke_auth_error: Protocol::MqttWs, "InvokeAuthError";
    }
}

mod https {
    use super::*;
    rows! {
        invoke_throttling: Protocol::Https, "InvokeThrottling";
        invoke_max_message_quota: Protocol::Https, "InvokeMaxMessageQuota";
        invoke_auth_error: Protocol::Https, "InvokeAuthError";
    }
}

mod amqp {
    use super::*;
    rows! {
        kill_tcp: Protocol::Amqp, "KillTcp";
        kill_amqp_connection: Protocol::Amqp, "KillAmqpConnection";
        kill_amqp_session: Protocol::Amqp, "KillAmqpSession";
        shut_down_amqp: Protocol::Amqp, "ShutDownAmqp";
        kill_amqp_cbs_link_req: Protocol::Amqp, "KillAmqpCBSLinkReq";
        kill_amqp_cbs_link_resp: Protocol::Amqp, "KillAmqpCBSLinkResp";
        kill_amqp_d2c_link: Protocol::Amqp, "KillAmqpD2CLink";
        kill_amqp_c2d_link: Protocol::Amqp, "KillAmqpC2DLink";
        kill_amqp_twin_link_req: Protocol::Amqp, "KillAmqpTwinLinkReq";
        kill_amqp_twin_link_resp: Protocol::Amqp, "KillAmqpTwinLinkResp";
        kill_amqp_method_req_link: Protocol::Amqp, "KillAmqpMethodReqLink";
        kill_amqp_method_resp_link: Protocol::Amqp, "KillAmqpMethodRespLink";
        invoke_auth_error: Protocol::Amqp, "InvokeAuthError";
        invoke_throttling: Protocol::Amqp, "InvokeThrottling";
        invoke_max_message_quota: Protocol::Amqp, "InvokeMaxMessageQuota";
    }
}

mod amqp_ws {
    use super::*;
    rows! {
        kill_tcp: Protocol::AmqpWs, "KillTcp";
        kill_amqp_connection: Protocol::AmqpWs, "KillAmqpConnection";
        kill_amqp_session: Protocol::AmqpWs, "KillAmqpSession";
        shut_down_amqp: Protocol::AmqpWs, "ShutDownAmqp";
        kill_amqp_cbs_link_req: Protocol::AmqpWs, "KillAmqpCBSLinkReq";
        kill_amqp_cbs_link_resp: Protocol::AmqpWs, "KillAmqpCBSLinkResp";
        kill_amqp_d2c_link: Protocol::AmqpWs, "KillAmqpD2CLink";
        kill_amqp_c2d_link: Protocol::AmqpWs, "KillAmqpC2DLink";
        kill_amqp_twin_link_req: Protocol::AmqpWs, "KillAmqpTwinLinkReq";
        kill_amqp_twin_link_resp: Protocol::AmqpWs, "KillAmqpTwinLinkResp";
        kill_amqp_method_req_link: Protocol::AmqpWs, "KillAmqpMethodReqLink";
        kill_amqp_method_resp_link: Protocol::AmqpWs, "KillAmqpMethodRespLink";
        invoke_auth_error: Protocol::AmqpWs, "InvokeAuthError";
        invoke_throttling: Protocol::AmqpWs, "InvokeThrottling";
        invoke_max_message_quota: Protocol::AmqpWs, "InvokeMaxMessageQuota";
    }
}
