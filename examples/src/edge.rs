//! The edge aggregator module of the `edge_aggregator` example: it reads leaf-device
//! telemetry on an input, averages it over a window and sends one aggregate upstream per
//! window on an output, so IoT Central receives (and bills) one message instead of many.

use std::time::Duration;

use iotc_sdk::{Device, Event, Message};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::BoxError;

/// Where and how the aggregator works.
#[derive(Clone, Debug)]
pub struct AggregatorConfig {
    /// The input leaf-device telemetry is routed to.
    pub input: String,
    /// The output the aggregates go out on (routed `$upstream`).
    pub output: String,
    /// The numeric telemetry field to average (`temperature`).
    pub field: String,
    /// Send an aggregate after this many readings.
    pub window: usize,
    /// Send an aggregate of what arrived after this long, even when the window is not full.
    pub max_wait: Option<Duration>,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        AggregatorConfig {
            input: "telemetry".into(),
            output: "aggregate".into(),
            field: "temperature".into(),
            window: 10,
            max_wait: None,
        }
    }
}

/// One aggregate, as sent upstream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Aggregate {
    /// The field averaged.
    pub field: String,
    /// The mean of the readings.
    pub average: f64,
    /// The smallest reading.
    pub min: f64,
    /// The largest reading.
    pub max: f64,
    /// How many readings.
    pub count: usize,
    /// How many distinct leaf devices sent them.
    pub devices: usize,
}

/// Readings of the current window.
#[derive(Debug, Default)]
pub struct Window {
    values: Vec<f64>,
    devices: std::collections::BTreeSet<String>,
}

impl Window {
    /// Adds a reading from `device`.
    pub fn push(&mut self, device: &str, value: f64) {
        self.values.push(value);
        self.devices.insert(device.to_owned());
    }

    /// How many readings the window holds.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The aggregate of the window, which starts over; `None` when it is empty.
    pub fn take(&mut self, field: &str) -> Option<Aggregate> {
        if self.values.is_empty() {
            return None;
        }
        let values = std::mem::take(&mut self.values);
        let devices = std::mem::take(&mut self.devices).len();
        let sum: f64 = values.iter().sum();
        Some(Aggregate {
            field: field.to_owned(),
            average: sum / values.len() as f64,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            count: values.len(),
            devices,
        })
    }
}

/// Runs the aggregator on `module` until its connection ends. Messages on other inputs and
/// readings without a numeric `field` are skipped (and logged); commands are answered 404.
///
/// # Errors
///
/// Sending an aggregate failed.
pub async fn run_aggregator(module: Device, config: AggregatorConfig) -> Result<(), BoxError> {
    let mut window = Window::default();
    let far = Duration::from_secs(365 * 24 * 3600);
    let mut deadline = Instant::now() + config.max_wait.unwrap_or(far);
    loop {
        let event = tokio::select! {
            event = module.next_event() => event,
            _ = tokio::time::sleep_until(deadline) => {
                flush(&module, &config, &mut window).await?;
                deadline = Instant::now() + config.max_wait.unwrap_or(far);
                continue;
            }
        };
        let Some(event) = event else {
            return Ok(());
        };
        match event {
            Event::InputMessage { input, message } if input == config.input => {
                let sender = message
                    .system_properties()
                    .iter()
                    .find(|(k, _)| k == "cdid")
                    .map_or("unknown", |(_, v)| v.as_str())
                    .to_owned();
                let value = message
                    .body_json::<serde_json::Value>()
                    .ok()
                    .and_then(|v| v.get(&config.field)?.as_f64());
                match value {
                    Some(value) => window.push(&sender, value),
                    None => {
                        tracing::warn!(sender, field = %config.field, "reading without a numeric field; skipped")
                    }
                }
                if window.len() >= config.window {
                    flush(&module, &config, &mut window).await?;
                    deadline = Instant::now() + config.max_wait.unwrap_or(far);
                }
            }
            Event::InputMessage { input, .. } => {
                tracing::warn!(input, "message on an unexpected input; skipped")
            }
            Event::Command(command) => {
                command
                    .respond(404, &serde_json::json!({"error": "no such command"}))
                    .await?
            }
            Event::Disconnected(reason) => return Err(reason.into()),
            _ => {}
        }
    }
}

async fn flush(
    module: &Device,
    config: &AggregatorConfig,
    window: &mut Window,
) -> Result<(), BoxError> {
    if let Some(aggregate) = window.take(&config.field) {
        module
            .send_to_output(&config.output, Message::json(&aggregate)?)
            .await?;
        tracing::info!(
            average = aggregate.average,
            count = aggregate.count,
            "aggregate sent"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_averages_and_starts_over() {
        let mut w = Window::default();
        assert!(w.take("t").is_none());
        for (i, v) in [1.0, 2.0, 6.0].into_iter().enumerate() {
            w.push(if i == 0 { "a" } else { "b" }, v);
        }
        assert_eq!(
            w.take("t"),
            Some(Aggregate {
                field: "t".into(),
                average: 3.0,
                min: 1.0,
                max: 6.0,
                count: 3,
                devices: 2
            })
        );
        assert!(w.is_empty());
    }
}
