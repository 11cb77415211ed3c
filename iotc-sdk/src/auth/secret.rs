//! [`Secret`]: a string that is never printed.

use std::fmt;

/// A string that must never be printed (a key, a SAS token, a connection string).
///
/// `Debug` prints `Secret(***)` and there is no `Display`; call [`Secret::expose`] at the
/// one place that really needs the text (for example the MQTT password).
///
/// # Examples
///
/// ```
/// use iotc_sdk::auth::Secret;
///
/// let s = Secret::new("hunter2");
/// assert_eq!(format!("{s:?}"), "Secret(***)");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret string.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret text. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let s = Secret::new("very-secret-value");
        let dbg = format!("{s:?} {s:#?}");
        assert!(!dbg.contains("very-secret-value"));
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }

    #[test]
    fn expose_and_eq() {
        let a = Secret::new("abc");
        let b = Secret::from(String::from("abc"));
        assert_eq!(a, b);
        assert_eq!(a.expose(), "abc");
        assert_ne!(a, Secret::new("abd"));
    }
}
