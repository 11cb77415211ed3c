//! Digital Twin Model Identifiers (`dtmi:com:example:Thermostat;1`), the ids of device models.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A validated DTMI: `dtmi:<segment>(:<segment>)*;<version>`.
///
/// Segments start with a letter, hold letters, digits and `_`, and do not end with `_`; the
/// version is 1 to 999999999 (an optional minor `.1`–`.999999` is accepted); at most 128
/// characters, the limit for an interface id. Models a device announces must carry a version.
///
/// ```
/// use iotc_sdk::Dtmi;
/// let id: Dtmi = "dtmi:com:example:Thermostat;1".parse()?;
/// assert_eq!(id.version(), 1);
/// assert_eq!(id.repository_path(), "dtmi/com/example/thermostat-1.json");
/// assert!("dtmi:com:example:Thermostat".parse::<Dtmi>().is_err());
/// # Ok::<(), iotc_sdk::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dtmi {
    text: String,
    version: u32,
}

/// Interface ids may be at most this long.
const MAX_LEN: usize = 128;

impl Dtmi {
    /// The DTMI text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The major version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The file path of this model in a Device Models Repository:
    /// `dtmi:com:example:Thermostat;1` → `dtmi/com/example/thermostat-1.json`.
    pub fn repository_path(&self) -> String {
        let lower = self.text.to_ascii_lowercase();
        format!("{}.json", lower.replace(':', "/").replace(';', "-"))
    }
}

impl fmt::Display for Dtmi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl AsRef<str> for Dtmi {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl FromStr for Dtmi {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |why: &str| Error::Config(format!("invalid model id `{text}`: {why}"));
        if text.len() > MAX_LEN {
            return Err(invalid("longer than 128 characters"));
        }
        let rest = text
            .strip_prefix("dtmi:")
            .ok_or_else(|| invalid("must start with `dtmi:`"))?;
        let (path, version) = rest.split_once(';').ok_or_else(|| {
            invalid("missing `;<version>`, as in `dtmi:com:example:Thermostat;1`")
        })?;
        for segment in path.split(':') {
            let mut chars = segment.chars();
            let first_is_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
            let rest_ok = segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !first_is_letter || !rest_ok || segment.ends_with('_') {
                return Err(invalid(
                    "each segment must start with a letter, hold only letters, digits and `_`, and not end with `_`",
                ));
            }
        }
        let (major, minor) = match version.split_once('.') {
            Some((major, minor)) => (major, Some(minor)),
            None => (version, None),
        };
        let number = |s: &str, max_digits: usize| {
            (!s.is_empty()
                && s.len() <= max_digits
                && !s.starts_with('0')
                && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
        };
        let version = number(major, 9)
            .ok_or_else(|| invalid("the version must be a number from 1 to 999999999"))?;
        if let Some(minor) = minor {
            number(minor, 6)
                .ok_or_else(|| invalid("the minor version must be a number from 1 to 999999"))?;
        }
        Ok(Dtmi {
            text: text.to_owned(),
            version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_ids() {
        for ok in [
            "dtmi:com:example:Thermostat;1",
            "dtmi:azure:DeviceManagement:DeviceInformation;1",
            "dtmi:com:example:TemperatureController;2",
            "dtmi:a;999999999",
            "dtmi:a_b:c9;1.5",
        ] {
            assert!(ok.parse::<Dtmi>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_invalid_ids() {
        let long = format!("dtmi:{};1", "a".repeat(130));
        for bad in [
            "",
            "dtmi:com:example:Thermostat",
            "DTMI:com:example:Thermostat;1",
            "dtmi:com:example:_T;1",
            "dtmi:com:example:T_;1",
            "dtmi:com::T;1",
            "dtmi:com:9x;1",
            "dtmi:com:ex-ample;1",
            "dtmi:com:example;0",
            "dtmi:com:example;01",
            "dtmi:com:example;1234567890",
            "dtmi:com:example;1.0",
            "dtmi:com:example;x",
            "dtmi:;1",
            long.as_str(),
        ] {
            assert!(
                matches!(bad.parse::<Dtmi>(), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }
}
