//! Endpoints as the SDK's settings give them: `host` or `host:port`.

use crate::{Error, Result};

/// Splits `host` or `host:port` (IPv6 as `[addr]:port`) and applies `default_port`.
pub(crate) fn parse_endpoint(endpoint: &str, default_port: u16) -> Result<(String, u16)> {
    let endpoint = endpoint.trim();
    let bad = || {
        Error::Config(format!(
            "invalid endpoint `{endpoint}`: expected HOST or HOST:PORT"
        ))
    };
    if endpoint.is_empty() || endpoint.contains('/') {
        return Err(bad());
    }
    if let Some(rest) = endpoint.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => default_port,
            None => return Err(bad()),
        };
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        return Ok((host.to_owned(), port));
    }
    match endpoint.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && !host.is_empty() => match port.parse() {
            Ok(0) | Err(_) => Err(bad()),
            Ok(port) => Ok((host.to_owned(), port)),
        },
        Some(_) => Err(bad()),
        None => Ok((endpoint.to_owned(), default_port)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("h.example", 8883).unwrap(),
            ("h.example".into(), 8883)
        );
        assert_eq!(
            parse_endpoint("localhost:1234", 8883).unwrap(),
            ("localhost".into(), 1234)
        );
        assert_eq!(
            parse_endpoint("[::1]:99", 8883).unwrap(),
            ("::1".into(), 99)
        );
        assert_eq!(parse_endpoint("[::1]", 8883).unwrap(), ("::1".into(), 8883));
        for bad in [
            "[]",
            "[]:1",
            "h:0",
            "[::1]:0",
            "",
            "h:",
            "h:x",
            "h:99999",
            "a:b:c",
            "mqtts://h",
            ":1",
            "[::1",
        ] {
            assert!(parse_endpoint(bad, 8883).is_err(), "{bad}");
        }
    }
}
