//! The size limit every transport applies to a device-to-cloud message.

use crate::{Error, Result};

/// IoT hub's limit for one device-to-cloud message or batch: body plus properties
/// (protocol.md §4.4, §6.2). Every transport measures a message its own way (MQTT: topic and
/// payload; AMQP: payload and application properties; HTTPS: body and headers) and checks it
/// against this one limit with [`check_size`].
pub(crate) const MAX_MESSAGE_SIZE: usize = 256 * 1024;

/// `Ok` when a message of `size` bytes fits IoT hub's limit; [`Error::TooLarge`] otherwise.
pub(crate) fn check_size(size: usize) -> Result<()> {
    if size > MAX_MESSAGE_SIZE {
        Err(Error::TooLarge {
            size,
            limit: MAX_MESSAGE_SIZE,
        })
    } else {
        Ok(())
    }
}
