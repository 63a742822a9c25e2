//! Reading columns the same way from sqlx rows (both engines) and rusqlite rows (the SQLite hot
//! path), so each row → record mapper is one generic function.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::store::{StoreError, StoreResult};

/// A column type every way of reading a row decodes (text, optional text, integers, booleans,
/// bytes).
pub trait Column:
    Sized
    + rusqlite::types::FromSql
    + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
    + sqlx::Type<sqlx::Sqlite>
    + for<'r> sqlx::Decode<'r, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
{
}

impl<T> Column for T where
    T: rusqlite::types::FromSql
        + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
{
}

/// A result row, read by column name.
pub trait Row {
    /// The value of `column`.
    fn try_get<T: Column>(&self, column: &str) -> StoreResult<T>;
}

/// sqlx rows of both engines read alike.
macro_rules! sqlx_row {
    ($($row:ty),+) => {
        $(impl Row for $row {
            fn try_get<T: Column>(&self, column: &str) -> StoreResult<T> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
        })+
    };
}

sqlx_row!(SqliteRow, PgRow);

impl Row for rusqlite::Row<'_> {
    fn try_get<T: Column>(&self, column: &str) -> StoreResult<T> {
        Ok(self.get(column)?)
    }
}

/// Lists stored as space-separated words (scope, ACR values).
pub fn split_words(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A stored enum name, or a corrupt record.
pub fn parse_stored<T>(text: String, parse: fn(&str) -> Option<T>, what: &str) -> StoreResult<T> {
    parse(&text).ok_or_else(|| StoreError::Corrupt(format!("{what} {text:?}")))
}
