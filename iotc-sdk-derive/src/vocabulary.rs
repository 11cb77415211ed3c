//! The DTDL v2 semantic types and their units (dtdl.md §5): the whitelist the derive checks
//! `semantic_type` and `unit` against, since DTDL v2 parsers accept a misspelt semantic type as
//! an undefined co-type.

const ACCELERATION: &[&str] = &[
    "centimetrePerSecondSquared",
    "gForce",
    "metrePerSecondSquared",
];
const ANGLE: &[&str] = &[
    "degreeOfArc",
    "minuteOfArc",
    "radian",
    "secondOfArc",
    "turn",
];
const ANGULAR_ACCELERATION: &[&str] = &["radianPerSecondSquared"];
const ANGULAR_VELOCITY: &[&str] = &[
    "degreePerSecond",
    "radianPerSecond",
    "revolutionPerMinute",
    "revolutionPerSecond",
];
const AREA: &[&str] = &[
    "acre",
    "hectare",
    "squareCentimetre",
    "squareFoot",
    "squareInch",
    "squareKilometre",
    "squareMetre",
    "squareMillimetre",
];
const CAPACITANCE: &[&str] = &[
    "farad",
    "microfarad",
    "millifarad",
    "nanofarad",
    "picofarad",
];
const CURRENT: &[&str] = &["ampere", "microampere", "milliampere"];
const DATA_RATE: &[&str] = &[
    "bitPerSecond",
    "bytePerSecond",
    "kibibitPerSecond",
    "kibibytePerSecond",
    "mebibitPerSecond",
    "mebibytePerSecond",
    "gibibitPerSecond",
    "gibibytePerSecond",
    "tebibitPerSecond",
    "tebibytePerSecond",
    "exbibitPerSecond",
    "exbibytePerSecond",
    "zebibitPerSecond",
    "zebibytePerSecond",
    "yobibitPerSecond",
    "yobibytePerSecond",
];
const DATA_SIZE: &[&str] = &[
    "bit", "byte", "kibibit", "kibibyte", "mebibit", "mebibyte", "gibibit", "gibibyte", "tebibit",
    "tebibyte", "exbibit", "exbibyte", "zebibit", "zebibyte", "yobibit", "yobibyte",
];
const DENSITY: &[&str] = &["gramPerCubicMetre", "kilogramPerCubicMetre"];
const ELECTRIC_CHARGE: &[&str] = &["coulomb"];
const ENERGY: &[&str] = &[
    "electronvolt",
    "gigajoule",
    "joule",
    "kilojoule",
    "kilowattHour",
    "megaelectronvolt",
    "megajoule",
];
const FORCE: &[&str] = &["newton", "ounce", "pound", "ton"];
const FREQUENCY: &[&str] = &["gigahertz", "hertz", "kilohertz", "megahertz"];
const ILLUMINANCE: &[&str] = &["footcandle", "lux"];
const INDUCTANCE: &[&str] = &["henry", "microhenry", "millihenry"];
const LENGTH: &[&str] = &[
    "astronomicalUnit",
    "centimetre",
    "foot",
    "inch",
    "kilometre",
    "metre",
    "micrometre",
    "mile",
    "millimetre",
    "nanometre",
    "nauticalMile",
];
const LUMINANCE: &[&str] = &["candelaPerSquareMetre"];
const LUMINOUS_FLUX: &[&str] = &["lumen"];
const LUMINOUS_INTENSITY: &[&str] = &["candela"];
const MAGNETIC_FLUX: &[&str] = &["maxwell", "weber"];
const MAGNETIC_INDUCTION: &[&str] = &["tesla"];
const MASS: &[&str] = &[
    "gram",
    "kilogram",
    "microgram",
    "milligram",
    "slug",
    "tonne",
];
const MASS_FLOW_RATE: &[&str] = &[
    "gramPerHour",
    "gramPerSecond",
    "kilogramPerHour",
    "kilogramPerSecond",
];
const POWER: &[&str] = &[
    "gigawatt",
    "horsepower",
    "kilowatt",
    "kilowattHourPerYear",
    "megawatt",
    "microwatt",
    "milliwatt",
    "watt",
];
const PRESSURE: &[&str] = &[
    "bar",
    "inchesOfMercury",
    "inchesOfWater",
    "kilopascal",
    "millibar",
    "millimetresOfMercury",
    "pascal",
    "poundPerSquareInch",
];
const UNITLESS: &[&str] = &["percent", "unity"];
const RESISTANCE: &[&str] = &["kiloohm", "megaohm", "milliohm", "ohm"];
const SOUND_PRESSURE: &[&str] = &["bel", "decibel"];
const TEMPERATURE: &[&str] = &["degreeCelsius", "degreeFahrenheit", "kelvin"];
const TIME: &[&str] = &[
    "day",
    "hour",
    "microsecond",
    "millisecond",
    "minute",
    "nanosecond",
    "second",
    "year",
];
const TORQUE: &[&str] = &["newtonMetre"];
const VELOCITY: &[&str] = &[
    "centimetrePerSecond",
    "kilometrePerHour",
    "kilometrePerSecond",
    "knot",
    "metrePerHour",
    "metrePerSecond",
    "milePerHour",
    "milePerSecond",
];
const VOLTAGE: &[&str] = &["kilovolt", "megavolt", "microvolt", "millivolt", "volt"];
const VOLUME: &[&str] = &[
    "cubicCentimetre",
    "cubicFoot",
    "cubicInch",
    "cubicMetre",
    "fluidOunce",
    "gallon",
    "litre",
    "millilitre",
];
const VOLUME_FLOW_RATE: &[&str] = &[
    "litrePerHour",
    "litrePerSecond",
    "millilitrePerHour",
    "millilitrePerSecond",
];

/// The 42 DTDL v2 semantic types with the units of their unit type.
pub(crate) const SEMANTIC_TYPES: &[(&str, &[&str])] = &[
    ("Acceleration", ACCELERATION),
    ("Angle", ANGLE),
    ("AngularAcceleration", ANGULAR_ACCELERATION),
    ("AngularVelocity", ANGULAR_VELOCITY),
    ("Area", AREA),
    ("Capacitance", CAPACITANCE),
    ("Current", CURRENT),
    ("DataRate", DATA_RATE),
    ("DataSize", DATA_SIZE),
    ("Density", DENSITY),
    ("Distance", LENGTH),
    ("ElectricCharge", ELECTRIC_CHARGE),
    ("Energy", ENERGY),
    ("Force", FORCE),
    ("Frequency", FREQUENCY),
    ("Humidity", DENSITY),
    ("Illuminance", ILLUMINANCE),
    ("Inductance", INDUCTANCE),
    ("Latitude", ANGLE),
    ("Length", LENGTH),
    ("Longitude", ANGLE),
    ("Luminance", LUMINANCE),
    ("Luminosity", POWER),
    ("LuminousFlux", LUMINOUS_FLUX),
    ("LuminousIntensity", LUMINOUS_INTENSITY),
    ("MagneticFlux", MAGNETIC_FLUX),
    ("MagneticInduction", MAGNETIC_INDUCTION),
    ("Mass", MASS),
    ("MassFlowRate", MASS_FLOW_RATE),
    ("Power", POWER),
    ("Pressure", PRESSURE),
    ("RelativeHumidity", UNITLESS),
    ("Resistance", RESISTANCE),
    ("SoundPressure", SOUND_PRESSURE),
    ("Temperature", TEMPERATURE),
    ("Thrust", FORCE),
    ("TimeSpan", TIME),
    ("Torque", TORQUE),
    ("Velocity", VELOCITY),
    ("Voltage", VOLTAGE),
    ("Volume", VOLUME),
    ("VolumeFlowRate", VOLUME_FLOW_RATE),
];

/// Semantic types DTDL v3 (QuantitativeTypes) added; a DTDL v2 parser takes them for undefined
/// co-types.
const V3_ONLY: &[&str] = &[
    "ApparentEnergy",
    "ApparentPower",
    "Concentration",
    "EnergyRate",
    "IonizingRadiationDose",
    "Irradiance",
    "Radioactivity",
    "ReactiveEnergy",
    "ReactivePower",
    "RelativeDensity",
];

/// Whether `name` is a semantic type of DTDL v3 only.
pub(crate) fn is_v3_semantic_type(name: &str) -> bool {
    V3_ONLY.contains(&name)
}

/// The units of a semantic type, or `None` for an unknown semantic type.
pub(crate) fn units_of(semantic_type: &str) -> Option<&'static [&'static str]> {
    SEMANTIC_TYPES
        .iter()
        .find(|(name, _)| *name == semantic_type)
        .map(|(_, units)| *units)
}

/// Whether `unit` is a DTDL v2 unit of any semantic type.
pub(crate) fn is_unit(unit: &str) -> bool {
    SEMANTIC_TYPES
        .iter()
        .any(|(_, units)| units.contains(&unit))
}

/// The semantic types that `unit` belongs to.
pub(crate) fn semantic_types_of(unit: &str) -> Vec<&'static str> {
    SEMANTIC_TYPES
        .iter()
        .filter(|(_, units)| units.contains(&unit))
        .map(|(name, _)| *name)
        .collect()
}

/// All units, each once.
fn all_units() -> Vec<&'static str> {
    let mut units: Vec<&'static str> = SEMANTIC_TYPES
        .iter()
        .flat_map(|(_, units)| units.iter().copied())
        .collect();
    units.sort_unstable();
    units.dedup();
    units
}

/// The closest of `candidates` to `word` if it is close enough to be a likely typo (or the same
/// up to case).
fn closest(word: &str, candidates: impl IntoIterator<Item = &'static str>) -> Option<&'static str> {
    let lower = word.to_ascii_lowercase();
    let mut best: Option<(usize, &'static str)> = None;
    for candidate in candidates {
        let distance = edit_distance(&lower, &candidate.to_ascii_lowercase());
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    let limit = (word.len() / 3).max(2);
    best.filter(|(d, _)| *d <= limit).map(|(_, c)| c)
}

/// The likely intended semantic type.
pub(crate) fn suggest_semantic_type(word: &str) -> Option<&'static str> {
    closest(word, SEMANTIC_TYPES.iter().map(|(name, _)| *name))
}

/// The likely intended unit.
pub(crate) fn suggest_unit(word: &str) -> Option<&'static str> {
    closest(word, all_units())
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_42_v2_semantic_types() {
        assert_eq!(SEMANTIC_TYPES.len(), 42);
        assert_eq!(units_of("Temperature"), Some(TEMPERATURE));
        assert_eq!(units_of("Humidity"), Some(DENSITY));
        assert_eq!(units_of("Concentration"), None);
    }

    #[test]
    fn v3_only_units_are_not_units() {
        for unit in ["hectopascal", "wattHour", "kiloampere"] {
            assert!(!is_unit(unit), "{unit}");
        }
        assert!(is_unit("kibibyte"));
        assert_eq!(semantic_types_of("percent"), ["RelativeHumidity"]);
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(suggest_semantic_type("Temprature"), Some("Temperature"));
        assert_eq!(suggest_semantic_type("temperature"), Some("Temperature"));
        assert_eq!(suggest_unit("degreeCelcius"), Some("degreeCelsius"));
        assert_eq!(suggest_unit("meter"), Some("metre"));
        assert_eq!(suggest_unit("xyzzy"), None);
    }
}
