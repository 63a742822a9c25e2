//! Engine-neutral statements: SQL with `$N` placeholders and the values bound to them, in
//! placeholder order. Both sqlx drivers and the SQLite hot path's rusqlite connections bind `$N`
//! by its number, so one list of values serves every way a statement is run.

use std::borrow::Cow;

/// A value bound to a placeholder. Typed, so PostgreSQL gets a typed `NULL` for a missing
/// optional text or integer (an untyped one would not infer in `CAST($1 AS TEXT) IS NULL`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `TEXT`.
    Text(Cow<'a, str>),
    /// `TEXT` or `NULL`.
    OptText(Option<&'a str>),
    /// `BIGINT`.
    Int(i64),
    /// `BIGINT` or `NULL`.
    OptInt(Option<i64>),
    /// `BOOLEAN` (an integer on SQLite).
    Bool(bool),
    /// `BOOLEAN` or `NULL`.
    OptBool(Option<bool>),
    /// `BYTEA` / `BLOB`.
    Bytes(&'a [u8]),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Self::Text(Cow::Borrowed(v))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Self::Text(Cow::Borrowed(v))
    }
}

impl From<String> for Value<'_> {
    fn from(v: String) -> Self {
        Self::Text(Cow::Owned(v))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Self::OptText(v)
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Self::OptText(v.as_deref())
    }
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(v: Option<i64>) -> Self {
        Self::OptInt(v)
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

impl<'a> From<&'a Vec<u8>> for Value<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Self::Bytes(v)
    }
}

/// A statement and its values, run through an engine's pool or transaction.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    pub(crate) sql: Cow<'static, str>,
    pub(crate) values: Vec<Value<'a>>,
}

impl<'a> Query<'a> {
    /// A statement with no values bound yet.
    pub fn new(sql: &'static str) -> Self {
        Self {
            sql: Cow::Borrowed(sql),
            values: Vec::new(),
        }
    }

    /// A statement assembled at run time (an engine-specific clause in it).
    pub fn assembled(sql: String) -> Self {
        Self {
            sql: Cow::Owned(sql),
            values: Vec::new(),
        }
    }

    /// A statement with all its values, as the hot path binds them too.
    pub fn with_values<const N: usize>(sql: &'static str, values: [Value<'a>; N]) -> Self {
        Self {
            sql: Cow::Borrowed(sql),
            values: Vec::from(values),
        }
    }

    /// Binds the next placeholder (`$1`, then `$2`, …).
    pub fn bind(mut self, value: impl Into<Value<'a>>) -> Self {
        self.values.push(value.into());
        self
    }
}
