//! Derive macros that turn Rust types into IoT Central device-template capability models
//! (DTDL) for `iotc-sdk`.
//!
//! Not implemented yet: the crate exists so the workspace has its final shape. The derives
//! (`Telemetry`, `Properties`, `Commands`, `Schema`, `Interface`) come with the device-template
//! issue, and `iotc-sdk` will re-export them behind its `derive` feature.
