//! What differs between the two databases the store runs on: how to connect, how the
//! schema version is kept, the DDL's types, and row locks. The queries themselves are
//! shared (numbered `$n` parameters, which SQLite also reads).

use std::path::Path;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Executor};

use super::StoreResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// PostgreSQL's `group_concat(text)`, as SQLite has it: values joined by commas, in the
/// order the inner query gives them.
const PG_GROUP_CONCAT: &str = r#"
CREATE FUNCTION voxline_concat(acc TEXT, value TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS
    $$ SELECT CASE WHEN acc IS NULL THEN value WHEN value IS NULL THEN acc ELSE acc || ',' || value END $$;
CREATE AGGREGATE group_concat(TEXT) (SFUNC = voxline_concat, STYPE = TEXT);
CREATE TABLE schema_version (version BIGINT NOT NULL);
INSERT INTO schema_version VALUES (0);
"#;

impl Dialect {
    pub fn of(db: &AnyConnection) -> Dialect {
        if db.backend_name() == "PostgreSQL" {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }

    /// A SQLite file (created if missing; WAL, foreign keys, a 64 MiB page cache per
    /// connection: the default 2 MiB rereads a large campaign's tables on every decision).
    pub async fn sqlite(path: &Path) -> StoreResult<AnyPool> {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Ok(AnyPoolOptions::new()
            .max_connections(4)
            .after_connect(|db, _| {
                Box::pin(async move {
                    db.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                         PRAGMA busy_timeout = 5000; PRAGMA cache_size = -65536;",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?)
    }

    /// A PostgreSQL database (`postgres://...`; `?host=/dir` for a Unix socket).
    pub async fn postgres(url: &str) -> StoreResult<AnyPool> {
        sqlx::any::install_default_drivers();
        Ok(AnyPoolOptions::new().max_connections(8).acquire_timeout(Duration::from_secs(10)).connect(url).await?)
    }

    /// A migration step's DDL for this database. The steps are written for SQLite; on
    /// PostgreSQL integers are 64-bit and text compares byte by byte (as in SQLite, so
    /// stored timestamps order as times whatever the database's locale).
    pub fn ddl(self, step: &str) -> String {
        match self {
            Dialect::Sqlite => step.to_string(),
            Dialect::Postgres => {
                let integers = replace_word(step, "INTEGER", "BIGINT");
                replace_word(&integers, "TEXT", "TEXT COLLATE \"C\"")
            }
        }
    }

    /// How many migration steps have run.
    pub async fn version(self, db: &mut AnyConnection) -> StoreResult<usize> {
        let version: i64 = match self {
            Dialect::Sqlite => sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *db).await?,
            Dialect::Postgres => {
                let exists: bool =
                    sqlx::query_scalar("SELECT to_regclass('schema_version') IS NOT NULL").fetch_one(&mut *db).await?;
                if !exists {
                    sqlx::raw_sql(PG_GROUP_CONCAT).execute(&mut *db).await?;
                }
                sqlx::query_scalar("SELECT version FROM schema_version").fetch_one(&mut *db).await?
            }
        };
        Ok(version as usize)
    }

    pub async fn set_version(self, db: &mut AnyConnection, version: usize) -> StoreResult<()> {
        match self {
            Dialect::Sqlite => sqlx::raw_sql(&format!("PRAGMA user_version = {version}")).execute(&mut *db).await?,
            Dialect::Postgres => {
                sqlx::query("UPDATE schema_version SET version = $1").bind(version as i64).execute(&mut *db).await?
            }
        };
        Ok(())
    }

    /// Serialises schema migration between nodes starting together (PostgreSQL; a
    /// SQLite write transaction already holds the file).
    pub async fn lock_schema(self, db: &mut AnyConnection) -> StoreResult<()> {
        if self == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7100500)").execute(&mut *db).await?;
        }
        Ok(())
    }

    /// The clause that locks the rows a `SELECT` reads for the rest of the transaction,
    /// skipping those another node holds (PostgreSQL; SQLite has one writer at a time).
    pub fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        }
    }

    /// The clause that locks the rows a `SELECT` reads, waiting for another node's lock.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => "FOR UPDATE",
        }
    }
}

/// Replaces the whole word `word` (upper case, as the DDL writes types) by `with`.
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(word) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + word.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        out.push_str(&rest[..i]);
        out.push_str(if boundary(before) && boundary(after) { with } else { word });
        rest = &rest[i + word.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_ddl_has_64_bit_integers_and_byte_ordered_text() {
        let ddl = Dialect::Postgres.ddl("CREATE TABLE t (id TEXT PRIMARY KEY, context TEXT, n INTEGER, INTEGERS x)");
        assert_eq!(
            ddl,
            "CREATE TABLE t (id TEXT COLLATE \"C\" PRIMARY KEY, context TEXT COLLATE \"C\", n BIGINT, INTEGERS x)"
        );
        assert_eq!(Dialect::Sqlite.ddl("n INTEGER"), "n INTEGER");
    }
}
