//! [`DtdlSchema`] for standard library and `time` types.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use super::traits::DtdlSchema;
use super::Schema;

macro_rules! primitive {
    ($schema:ident, $numeric:expr => $($ty:ty),+) => {
        $(
            impl DtdlSchema for $ty {
                fn schema() -> Schema {
                    Schema::$schema
                }
                const NUMERIC: bool = $numeric;
            }
        )+
    };
}

primitive!(Boolean, false => bool);
primitive!(Integer, true => i8, i16, i32, u8, u16);
primitive!(Long, true => u32, i64);
primitive!(Float, true => f32);
primitive!(Double, true => f64);
primitive!(String, false => String, str, char);
primitive!(DateTime, false => time::OffsetDateTime);
primitive!(Date, false => time::Date);
primitive!(Time, false => time::Time);
primitive!(Duration, false => time::Duration);

/// The schema of the wrapped type.
macro_rules! transparent {
    ($($ty:ty),+) => {
        $(
            impl<T: DtdlSchema + ?Sized> DtdlSchema for $ty {
                fn schema() -> Schema {
                    T::schema()
                }
                const NUMERIC: bool = T::NUMERIC;
                const HAS_ARRAY: bool = T::HAS_ARRAY;
            }
        )+
    };
}

transparent!(&T, &mut T, Box<T>, Rc<T>, Arc<T>);

impl<T: DtdlSchema> DtdlSchema for Option<T> {
    fn schema() -> Schema {
        T::schema()
    }
    const NUMERIC: bool = T::NUMERIC;
    const HAS_ARRAY: bool = T::HAS_ARRAY;
}

impl<T: DtdlSchema + ToOwned + ?Sized> DtdlSchema for Cow<'_, T> {
    fn schema() -> Schema {
        T::schema()
    }
    const NUMERIC: bool = T::NUMERIC;
    const HAS_ARRAY: bool = T::HAS_ARRAY;
}

/// `Array` of the element type.
macro_rules! array {
    ($($ty:ty),+) => {
        $(
            impl<T: DtdlSchema> DtdlSchema for $ty {
                fn schema() -> Schema {
                    Schema::array(T::schema())
                }
                const HAS_ARRAY: bool = true;
            }
        )+
    };
}

array!(Vec<T>, VecDeque<T>, [T]);

impl<T: DtdlSchema, const N: usize> DtdlSchema for [T; N] {
    fn schema() -> Schema {
        Schema::array(T::schema())
    }
    const HAS_ARRAY: bool = true;
}

impl<T: DtdlSchema, S> DtdlSchema for HashMap<String, T, S> {
    fn schema() -> Schema {
        Schema::map(T::schema())
    }
    const HAS_ARRAY: bool = T::HAS_ARRAY;
}

impl<T: DtdlSchema> DtdlSchema for BTreeMap<String, T> {
    fn schema() -> Schema {
        Schema::map(T::schema())
    }
    const HAS_ARRAY: bool = T::HAS_ARRAY;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: DtdlSchema + ?Sized>(schema: Schema, numeric: bool, has_array: bool) {
        let name = std::any::type_name::<T>();
        assert_eq!(T::schema(), schema, "{name}");
        assert_eq!(T::NUMERIC, numeric, "{name} NUMERIC");
        assert_eq!(T::HAS_ARRAY, has_array, "{name} HAS_ARRAY");
    }

    #[test]
    fn primitives() {
        check::<bool>(Schema::Boolean, false, false);
        check::<i8>(Schema::Integer, true, false);
        check::<i16>(Schema::Integer, true, false);
        check::<i32>(Schema::Integer, true, false);
        check::<u8>(Schema::Integer, true, false);
        check::<u16>(Schema::Integer, true, false);
        check::<u32>(Schema::Long, true, false);
        check::<i64>(Schema::Long, true, false);
        check::<f32>(Schema::Float, true, false);
        check::<f64>(Schema::Double, true, false);
        check::<String>(Schema::String, false, false);
        check::<str>(Schema::String, false, false);
        check::<char>(Schema::String, false, false);
    }

    #[test]
    fn time_types() {
        check::<time::OffsetDateTime>(Schema::DateTime, false, false);
        check::<time::Date>(Schema::Date, false, false);
        check::<time::Time>(Schema::Time, false, false);
        check::<time::Duration>(Schema::Duration, false, false);
    }

    #[test]
    fn wrappers_take_the_inner_schema() {
        check::<Option<f64>>(Schema::Double, true, false);
        check::<Box<i32>>(Schema::Integer, true, false);
        check::<&str>(Schema::String, false, false);
        check::<&mut u8>(Schema::Integer, true, false);
        check::<Rc<str>>(Schema::String, false, false);
        check::<Arc<f32>>(Schema::Float, true, false);
        check::<Cow<'static, str>>(Schema::String, false, false);
        check::<Option<Vec<bool>>>(Schema::array(Schema::Boolean), false, true);
    }

    #[test]
    fn arrays() {
        check::<Vec<f64>>(Schema::array(Schema::Double), false, true);
        check::<[i64; 3]>(Schema::array(Schema::Long), false, true);
        check::<[bool]>(Schema::array(Schema::Boolean), false, true);
        check::<VecDeque<String>>(Schema::array(Schema::String), false, true);
        check::<Vec<u8>>(Schema::array(Schema::Integer), false, true);
        check::<Vec<Vec<u8>>>(Schema::array(Schema::array(Schema::Integer)), false, true);
    }

    #[test]
    fn maps() {
        check::<HashMap<String, f64>>(Schema::map(Schema::Double), false, false);
        check::<BTreeMap<String, String>>(Schema::map(Schema::String), false, false);
        check::<BTreeMap<String, Vec<i32>>>(
            Schema::map(Schema::array(Schema::Integer)),
            false,
            true,
        );
    }
}
