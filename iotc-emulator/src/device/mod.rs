//! The device core: what IoT hub and DPS do for a device, whatever the transport. The MQTT,
//! AMQP and HTTPS front ends ([`crate::mqtt`], [`crate::amqp`], [`crate::https`]) translate
//! their wire formats to these calls and map the answers back, so the service side sees one
//! hub and one DPS.
//!
//! - [`hub`]: authentication, the connection registry, telemetry, the twin, direct-method
//!   answers, cloud-to-device settlement.
//! - [`dps`]: DPS authentication, register and poll.
//! - [`faults`]: every fault decision (service-side faults and the faults devices ask for).

pub(crate) mod dps;
pub(crate) mod faults;
pub(crate) mod hub;
