//! Schema markers: types that only name a DTDL schema, for a field whose Rust type does not
//! say it (`#[iotc(schema = iotc_sdk::model::marker::Duration)]` on a `String` that holds an
//! ISO 8601 duration). `iotc-codegen` uses them for the temporal, geospatial and IoT Central
//! schemas, whose values it keeps as strings or JSON values.

use super::traits::DtdlSchema;
use super::Schema;

macro_rules! markers {
    ($($(#[$doc:meta])* $name:ident => $schema:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
            pub struct $name;

            impl DtdlSchema for $name {
                fn schema() -> Schema {
                    Schema::$schema
                }
            }
        )*
    };
}

markers! {
    /// `date` (RFC 3339 full date, `"2020-05-17"`).
    Date => Date,
    /// `time` (RFC 3339 partial time, `"13:45:00"`).
    Time => Time,
    /// `dateTime` (RFC 3339 date-time).
    DateTime => DateTime,
    /// `duration` (ISO 8601, `"PT10H24M6.5S"`).
    Duration => Duration,
    /// `point` (GeoJSON).
    Point => Point,
    /// `lineString` (GeoJSON).
    LineString => LineString,
    /// `polygon` (GeoJSON).
    Polygon => Polygon,
    /// `multiPoint` (GeoJSON).
    MultiPoint => MultiPoint,
    /// `multiLineString` (GeoJSON).
    MultiLineString => MultiLineString,
    /// `multiPolygon` (GeoJSON).
    MultiPolygon => MultiPolygon,
    /// `geopoint` (IoT Central: `{"lat", "lon", "alt"}`).
    GeoPoint => GeoPoint,
    /// `vector` (IoT Central: `{"x", "y", "z"}`).
    Vector => Vector,
}
