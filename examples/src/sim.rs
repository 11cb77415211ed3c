//! A simulated thermostat: the device-side state behind the Thermostat model, shared by the
//! `thermostat` and `temperature_controller` examples.

use time::OffsetDateTime;

use crate::models::MaxMinReport;

/// Temperature readings moving toward a target.
#[derive(Debug)]
pub struct ThermostatSim {
    temperature: f64,
    target: Option<f64>,
    readings: Vec<(OffsetDateTime, f64)>,
}

impl ThermostatSim {
    /// A thermostat at `temperature` °C with no target.
    pub fn new(temperature: f64) -> Self {
        ThermostatSim {
            temperature,
            target: None,
            readings: Vec::new(),
        }
    }

    /// Sets the target temperature (the writable `targetTemperature`).
    pub fn set_target(&mut self, target: f64) {
        self.target = Some(target);
    }

    /// Takes one reading: half a degree toward the target, or a small wander without one.
    pub fn step(&mut self) -> f64 {
        self.temperature = match self.target {
            Some(target) if (target - self.temperature).abs() > 0.5 => {
                self.temperature + 0.5 * (target - self.temperature).signum()
            }
            Some(target) => target,
            None => self.temperature + 0.1 * ((self.readings.len() % 7) as f64 - 3.0),
        };
        self.readings
            .push((OffsetDateTime::now_utc(), self.temperature));
        self.temperature
    }

    /// The highest reading so far (`maxTempSinceLastReboot`).
    pub fn max(&self) -> f64 {
        self.readings.iter().map(|r| r.1).fold(f64::MIN, f64::max)
    }

    /// How many readings were taken.
    pub fn readings(&self) -> usize {
        self.readings.len()
    }

    /// The `getMaxMinReport` answer for readings since `since`; `None` when there are none.
    pub fn report(&self, since: OffsetDateTime) -> Option<MaxMinReport> {
        let values: Vec<_> = self.readings.iter().filter(|r| r.0 >= since).collect();
        let (first, last) = (values.first()?, values.last()?);
        let temps = values.iter().map(|r| r.1);
        Some(MaxMinReport {
            max_temp: temps.clone().fold(f64::MIN, f64::max),
            min_temp: temps.clone().fold(f64::MAX, f64::min),
            avg_temp: temps.sum::<f64>() / values.len() as f64,
            start_time: first.0,
            end_time: last.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_toward_the_target_and_reports() {
        let mut sim = ThermostatSim::new(20.0);
        sim.set_target(21.0);
        assert_eq!(sim.step(), 20.5);
        assert_eq!(sim.step(), 21.0);
        assert_eq!(sim.step(), 21.0);
        assert_eq!(sim.max(), 21.0);
        let report = sim
            .report(OffsetDateTime::UNIX_EPOCH)
            .expect("readings exist");
        assert_eq!((report.min_temp, report.max_temp), (20.5, 21.0));
        assert!((report.avg_temp - 62.5 / 3.0).abs() < 1e-9);
        assert!(sim
            .report(OffsetDateTime::now_utc() + time::Duration::hours(1))
            .is_none());
    }
}
