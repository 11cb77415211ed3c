//! IoT Edge routes: the subset of edgeHub's route language the emulator understands, parsed
//! into [`Route`]s, and matching a message against them (protocol.md 8.4, 8.5).
//!
//! Accepted forms (keywords case-insensitive, any amount of white space between tokens):
//!
//! ```text
//! FROM /messages/* [WHERE NOT IS_DEFINED($connectionModuleId)] INTO <sink>
//! FROM /messages/modules/{module}/* INTO <sink>
//! FROM /messages/modules/{module}/outputs/{output | *} INTO <sink>
//! <sink> = $upstream | BrokeredEndpoint("/modules/{module}/inputs/{input}")
//! ```
//!
//! Anything else (other conditions, other sources or sinks) is refused with a
//! [`RouteError`] that says what was not understood.

use std::fmt;

/// A route that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route {route:?}: {reason}")]
pub struct RouteError {
    /// The route text as given.
    pub route: String,
    /// What is wrong or not supported.
    pub reason: String,
}

/// Where a route takes messages from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// `/messages/*`: every message of a module or leaf device; with `leaf_only`
    /// (`WHERE NOT IS_DEFINED($connectionModuleId)`) only those of leaf devices.
    All { leaf_only: bool },
    /// `/messages/modules/{module}/*` (`output: None, any_output: false`), or
    /// `/messages/modules/{module}/outputs/{output}` (`*` for any output).
    Module {
        module: String,
        output: Option<String>,
        /// `outputs/*`: any named output (a message without an output name does not match).
        any_output: bool,
    },
}

/// Where a route delivers messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Sink {
    /// `$upstream`: to IoT hub (the service-side telemetry).
    Upstream,
    /// `BrokeredEndpoint("/modules/{module}/inputs/{input}")`.
    ModuleInput { module: String, input: String },
}

impl fmt::Display for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sink::Upstream => f.write_str("$upstream"),
            Sink::ModuleInput { module, input } => {
                write!(f, "BrokeredEndpoint(\"/modules/{module}/inputs/{input}\")")
            }
        }
    }
}

/// A parsed route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) source: Source,
    pub(crate) sink: Sink,
}

/// Who sent a message, as routes see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin<'a> {
    /// The sending module of the edge device, `None` for a leaf device.
    pub(crate) module: Option<&'a str>,
    /// The output the module sent on (`$.on`), if any.
    pub(crate) output: Option<&'a str>,
}

impl Route {
    /// Parses one route.
    pub(crate) fn parse(text: &str) -> Result<Route, RouteError> {
        let fail = |reason: &str| RouteError {
            route: text.to_owned(),
            reason: reason.to_owned(),
        };
        let rest =
            strip_keyword(text.trim(), "FROM").ok_or_else(|| fail("must start with FROM"))?;
        let (source_text, rest) = split_token(rest);
        let (condition, sink_text) = match find_keyword(rest, "INTO") {
            Some(at) => (rest[..at].trim(), rest[at + 4..].trim()),
            None => return Err(fail("INTO {sink} is missing")),
        };
        let leaf_only = if condition.is_empty() {
            false
        } else {
            let cond = strip_keyword(condition, "WHERE")
                .ok_or_else(|| fail("only WHERE may stand between the source and INTO"))?;
            let normalized: String = cond.split_whitespace().collect::<Vec<_>>().join(" ");
            if normalized.eq_ignore_ascii_case("NOT IS_DEFINED($connectionModuleId)") {
                true
            } else {
                return Err(fail(
                    "the only supported condition is NOT IS_DEFINED($connectionModuleId)",
                ));
            }
        };
        let source = parse_source(source_text).ok_or_else(|| {
            fail("the source must be /messages/*, /messages/modules/{m}/* or /messages/modules/{m}/outputs/{o|*}")
        })?;
        if leaf_only && source != (Source::All { leaf_only: false }) {
            return Err(fail("the condition is only supported on /messages/*"));
        }
        let source = match source {
            Source::All { .. } => Source::All { leaf_only },
            other => other,
        };
        let sink = parse_sink(sink_text).ok_or_else(|| {
            fail("the sink must be $upstream or BrokeredEndpoint(\"/modules/{m}/inputs/{i}\")")
        })?;
        Ok(Route { source, sink })
    }

    /// Whether a message from `origin` takes this route.
    pub(crate) fn matches(&self, origin: Origin<'_>) -> bool {
        match &self.source {
            Source::All { leaf_only } => !leaf_only || origin.module.is_none(),
            Source::Module {
                module,
                output,
                any_output,
            } => {
                origin.module == Some(module.as_str())
                    && match (output, any_output) {
                        (Some(o), _) => origin.output == Some(o.as_str()),
                        (None, true) => origin.output.is_some(),
                        (None, false) => true,
                    }
            }
        }
    }
}

/// The sinks a message from `origin` goes to: each at most once, in route order. With no
/// routes at all everything goes upstream (edgeHub's default deployment).
pub(crate) fn sinks(routes: &[Route], origin: Origin<'_>) -> Vec<Sink> {
    if routes.is_empty() {
        return vec![Sink::Upstream];
    }
    let mut out: Vec<Sink> = Vec::new();
    for route in routes.iter().filter(|r| r.matches(origin)) {
        if !out.contains(&route.sink) {
            out.push(route.sink.clone());
        }
    }
    out
}

/// `text` after a leading keyword (case-insensitive) followed by white space.
fn strip_keyword<'a>(text: &'a str, keyword: &str) -> Option<&'a str> {
    let head = text.get(..keyword.len())?;
    let rest = &text[keyword.len()..];
    (head.eq_ignore_ascii_case(keyword) && rest.starts_with(char::is_whitespace))
        .then(|| rest.trim_start())
}

/// The first white-space separated token and what follows it.
fn split_token(text: &str) -> (&str, &str) {
    match text.find(char::is_whitespace) {
        Some(at) => (&text[..at], text[at..].trim_start()),
        None => (text, ""),
    }
}

/// The byte offset of `keyword` as a whole word (case-insensitive), outside quotes.
fn find_keyword(text: &str, keyword: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut quoted = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'"' {
            quoted = !quoted;
        }
        if quoted {
            continue;
        }
        let before_ok = i == 0 || bytes[i - 1].is_ascii_whitespace();
        let end = i + keyword.len();
        let after_ok = end == bytes.len() || bytes.get(end).is_some_and(u8::is_ascii_whitespace);
        if before_ok
            && after_ok
            && text
                .get(i..end)
                .is_some_and(|w| w.eq_ignore_ascii_case(keyword))
        {
            return Some(i);
        }
    }
    None
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '"', '*']) && !s.contains(char::is_whitespace)
}

fn parse_source(text: &str) -> Option<Source> {
    if text == "/messages/*" {
        return Some(Source::All { leaf_only: false });
    }
    let rest = text.strip_prefix("/messages/modules/")?;
    let (module, rest) = rest.split_once('/')?;
    if !is_name(module) {
        return None;
    }
    let module = module.to_owned();
    if rest == "*" {
        return Some(Source::Module {
            module,
            output: None,
            any_output: false,
        });
    }
    let output = rest.strip_prefix("outputs/")?;
    if output == "*" {
        return Some(Source::Module {
            module,
            output: None,
            any_output: true,
        });
    }
    is_name(output).then(|| Source::Module {
        module,
        output: Some(output.to_owned()),
        any_output: false,
    })
}

fn parse_sink(text: &str) -> Option<Sink> {
    if text.eq_ignore_ascii_case("$upstream") {
        return Some(Sink::Upstream);
    }
    let open = text.find('(')?;
    if !text[..open].trim().eq_ignore_ascii_case("BrokeredEndpoint") {
        return None;
    }
    let inner = text[open + 1..].strip_suffix(')')?.trim();
    let path = inner.strip_prefix('"')?.strip_suffix('"')?;
    let rest = path.strip_prefix("/modules/")?;
    let (module, input) = rest.split_once("/inputs/")?;
    (is_name(module) && is_name(input)).then(|| Sink::ModuleInput {
        module: module.to_owned(),
        input: input.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(module: &str, input: &str) -> Sink {
        Sink::ModuleInput {
            module: module.into(),
            input: input.into(),
        }
    }

    #[test]
    fn parses_the_supported_forms() {
        assert_eq!(
            Route::parse("FROM /messages/* INTO $upstream"),
            Ok(Route {
                source: Source::All { leaf_only: false },
                sink: Sink::Upstream
            })
        );
        assert_eq!(
            Route::parse(
                "from  /messages/*   WHERE NOT IS_DEFINED($connectionModuleId) into BrokeredEndpoint(\"/modules/agg/inputs/leaf\")"
            ),
            Ok(Route {
                source: Source::All { leaf_only: true },
                sink: input("agg", "leaf")
            })
        );
        assert_eq!(
            Route::parse("FROM /messages/modules/agg/outputs/avg INTO $upstream"),
            Ok(Route {
                source: Source::Module {
                    module: "agg".into(),
                    output: Some("avg".into()),
                    any_output: false
                },
                sink: Sink::Upstream
            })
        );
        assert_eq!(
            Route::parse("FROM /messages/modules/agg/outputs/* INTO $UPSTREAM").map(|r| r.source),
            Ok(Source::Module {
                module: "agg".into(),
                output: None,
                any_output: true
            })
        );
        assert_eq!(
            Route::parse(
                "FROM /messages/modules/agg/* INTO BrokeredEndpoint( \"/modules/b/inputs/in1\" )"
            )
            .map(|r| (r.source, r.sink)),
            Ok((
                Source::Module {
                    module: "agg".into(),
                    output: None,
                    any_output: false
                },
                input("b", "in1")
            ))
        );
    }

    #[test]
    fn refuses_what_is_not_supported() {
        for bad in [
            "",
            "SELECT * INTO $upstream",
            "FROM /messages/*",
            "FROM /messages/* INTO",
            "FROM /messages/* INTO $downstream",
            "FROM /messages/* WHERE temperature > 30 INTO $upstream",
            "FROM /messages/modules/agg/outputs/avg WHERE NOT IS_DEFINED($connectionModuleId) INTO $upstream",
            "FROM /twinChangeNotifications INTO $upstream",
            "FROM /messages/modules//outputs/x INTO $upstream",
            "FROM /messages/modules/a/outputs/ INTO $upstream",
            "FROM /messages/* INTO BrokeredEndpoint(\"/modules/a/outputs/b\")",
            "FROM /messages/* INTO BrokeredEndpoint(/modules/a/inputs/b)",
            "FROM /messages/* INTO BrokeredEndpoint(\"/modules/a/inputs/b\"",
            "FROMX /messages/* INTO $upstream",
        ] {
            let err = Route::parse(bad).expect_err(bad);
            assert_eq!(err.route, bad);
            assert!(!err.reason.is_empty());
        }
    }

    #[test]
    fn matching_and_sinks() {
        let routes: Vec<Route> = [
            "FROM /messages/* WHERE NOT IS_DEFINED($connectionModuleId) INTO BrokeredEndpoint(\"/modules/agg/inputs/leaf\")",
            "FROM /messages/modules/agg/outputs/avg INTO $upstream",
            "FROM /messages/modules/agg/outputs/* INTO $upstream",
            "FROM /messages/modules/filter/* INTO BrokeredEndpoint(\"/modules/agg/inputs/filtered\")",
        ]
        .iter()
        .map(|r| Route::parse(r).expect("parses"))
        .collect();
        let leaf = Origin {
            module: None,
            output: None,
        };
        assert_eq!(sinks(&routes, leaf), vec![input("agg", "leaf")]);
        let avg = Origin {
            module: Some("agg"),
            output: Some("avg"),
        };
        // Two routes to $upstream: delivered once.
        assert_eq!(sinks(&routes, avg), vec![Sink::Upstream]);
        let plain = Origin {
            module: Some("agg"),
            output: None,
        };
        assert!(sinks(&routes, plain).is_empty());
        let filter = Origin {
            module: Some("filter"),
            output: None,
        };
        assert_eq!(sinks(&routes, filter), vec![input("agg", "filtered")]);
        assert_eq!(sinks(&[], plain), vec![Sink::Upstream]);
    }
}
