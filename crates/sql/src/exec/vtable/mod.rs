//! Virtual tables: `pg_catalog`, `information_schema` and `crdb_internal`, materialised when a
//! statement reads them (enough for psql's `\l`, `\dt`, `\d t` and common drivers and ORMs).
//!
//! Each table is defined once, as a [`VirtualTable`] in its schema's file (`pg_catalog.rs`,
//! `information_schema.rs`, `crdb_internal.rs`): its name, its columns and the function that
//! makes its rows. [`SCHEMAS`] lists the virtual schemas with their tables; name lookup
//! ([`lookup`]), the columns and the rows all come from there, so a table cannot be known by
//! name without a definition, and a name a virtual schema does not have is no table (42P01
//! where a table is read), never another table with a fallback schema.
//!
//! OIDs: a table's oid is its descriptor id, a schema's its descriptor id; an index is
//! `INDEX_OID_BASE + table id * 100 + index id`, a constraint `CONSTRAINT_OID_BASE + table id
//! * 100 + n`; types use PostgreSQL's OIDs (enums `100000 + id`); the virtual schemas use
//! PostgreSQL's own numbers (`pg_catalog` is 11).
//!
//! `pg_get_indexdef` and `pg_get_constraintdef` need the definitions by oid; building
//! `pg_index`/`pg_constraint` records them in the statement's `EvalEnv::defs`.

mod crdb_internal;
mod information_schema;
mod pg_catalog;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jobs::JobRecord;
use parking_lot::Mutex;

use super::StmtCtx;
use super::compile::Resolved;
use super::plan::ScopeCol;
use crate::catalog::{Descriptor, IndexId, TableDesc, TypeDesc};
use crate::encoding::Row;
use crate::error::{Result, SqlError};
use crate::types::{Datum, Type};

/// OID of the `pg_catalog` schema.
pub const PG_CATALOG_OID: i64 = 11;
/// OID of `information_schema`.
pub const INFORMATION_SCHEMA_OID: i64 = 12;
/// OID of `crdb_internal`.
pub const CRDB_INTERNAL_OID: i64 = 13;
/// OID of the `pg_extension` schema.
pub const PG_EXTENSION_OID: i64 = 14;
/// First index OID.
pub const INDEX_OID_BASE: i64 = 1 << 31;
/// First constraint OID.
pub const CONSTRAINT_OID_BASE: i64 = 3 << 30;

/// A virtual schema and its tables.
#[derive(Debug)]
pub struct VirtualSchema {
    /// Its name.
    pub name: &'static str,
    /// Its oid.
    pub oid: i64,
    /// Its tables.
    pub tables: &'static [VirtualTable],
}

/// A virtual table: its name, its columns, and how its rows are made.
#[derive(Debug)]
pub struct VirtualTable {
    /// Its name in its schema.
    pub name: &'static str,
    /// Its columns, in order: every row has one value per column.
    pub columns: &'static [(&'static str, Col)],
    /// Its rows.
    pub rows: Rows,
}

/// The type of a virtual table's column: the SQL types they use, by name (`Text` is STRING,
/// `TextArray` STRING[], and so on; [`Col::ty`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    Oid,
    Text,
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Timestamp,
    TextArray,
    Int2Array,
    OidArray,
}

impl Col {
    /// The SQL type.
    pub fn ty(self) -> Type {
        let array = |t: Type| Type::Array(Box::new(t));
        match self {
            Col::Oid => Type::Oid,
            Col::Text => Type::String,
            Col::Bool => Type::Bool,
            Col::Int2 => Type::Int2,
            Col::Int4 => Type::Int4,
            Col::Int8 => Type::Int8,
            Col::Float4 => Type::Float4,
            Col::Float8 => Type::Float8,
            Col::Timestamp => Type::Timestamp,
            Col::TextArray => array(Type::String),
            Col::Int2Array => array(Type::Int2),
            Col::OidArray => array(Type::Oid),
        }
    }
}

/// How a virtual table's rows are made.
#[derive(Debug)]
pub enum Rows {
    /// It has none (things Sextant does not have: policies, triggers, ...).
    Empty,
    /// From the current database's catalog and the session.
    Catalog(fn(&Catalog<'_>) -> Vec<Row>),
    /// From the cluster's databases (name, id).
    Databases(fn(&[(String, u64)]) -> Vec<Row>),
    /// From the node's job registry.
    Jobs(fn(&[JobRecord]) -> Vec<Row>),
}

/// The current database's catalog objects, and the session facts virtual tables show.
pub struct Catalog<'a> {
    /// The current database's name.
    pub database: &'a str,
    /// Its schemas: (name, id).
    pub schemas: Vec<(String, u64)>,
    /// Its tables, with their schema's name.
    pub tables: Vec<(String, TableDesc)>,
    /// Its user-defined types, with their schema's name.
    pub types: Vec<(String, TypeDesc)>,
    /// The session variables.
    pub vars: &'a BTreeMap<String, String>,
    /// Index and constraint definitions by oid, for `pg_get_indexdef` and
    /// `pg_get_constraintdef`.
    pub defs: &'a Mutex<HashMap<i64, String>>,
    /// Users and roles, built-ins included.
    pub users: Vec<crate::catalog::users::UserRecord>,
    /// Role memberships.
    pub memberships: crate::catalog::users::Memberships,
}

impl Catalog<'_> {
    /// The oid of a schema of the current database (0 when there is none by that name).
    fn schema_oid(&self, name: &str) -> i64 {
        self.schemas
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, id)| *id as i64)
    }
}

/// The virtual schemas, in name order.
pub static SCHEMAS: &[VirtualSchema] = &[
    VirtualSchema {
        name: "crdb_internal",
        oid: CRDB_INTERNAL_OID,
        tables: crdb_internal::TABLES,
    },
    VirtualSchema {
        name: "information_schema",
        oid: INFORMATION_SCHEMA_OID,
        tables: information_schema::TABLES,
    },
    VirtualSchema {
        name: "pg_catalog",
        oid: PG_CATALOG_OID,
        tables: pg_catalog::TABLES,
    },
    VirtualSchema {
        name: "pg_extension",
        oid: PG_EXTENSION_OID,
        tables: &[],
    },
];

/// The virtual table a (normalised) name refers to: `pg_catalog` tables also by their bare
/// name, the others as `schema.name` or `db.schema.name`. `None` when there is none by that
/// name: the name then resolves as any other, so a name a virtual schema does not have is an
/// undefined table (42P01) where a table is needed (and `pg_catalog.unnest(...)` stays a
/// function).
pub fn lookup(parts: &[String]) -> Option<&'static VirtualTable> {
    match parts {
        [n] => table_of("pg_catalog", n),
        [sc, n] | [_, sc, n] => table_of(sc, n),
        _ => None,
    }
}

fn table_of(schema: &str, name: &str) -> Option<&'static VirtualTable> {
    SCHEMAS
        .iter()
        .find(|s| s.name == schema)?
        .tables
        .iter()
        .find(|t| t.name == name)
}

/// The virtual table with this name, materialised; `None` when the name is not virtual.
pub async fn build(ctx: &StmtCtx<'_>, parts: &[String]) -> Result<Option<Resolved>> {
    let Some(table) = lookup(parts) else {
        return Ok(None);
    };
    let rows = match table.rows {
        Rows::Empty => Vec::new(),
        Rows::Catalog(f) => f(&catalog(ctx).await?),
        Rows::Databases(f) => f(&ctx.server.catalog.list(&ctx.reader, 0, 0).await?),
        Rows::Jobs(f) => match ctx.server.jobs() {
            Some(reg) => f(&reg.list().await.map_err(super::jobs::job_error)?),
            None => Vec::new(),
        },
    };
    if let Some(r) = rows.iter().find(|r| r.len() != table.columns.len()) {
        return Err(SqlError::internal(format!(
            "virtual table {} made a row of {} values for {} columns",
            table.name,
            r.len(),
            table.columns.len()
        )));
    }
    Ok(Some(Resolved::Virtual {
        cols: scope_cols(table.columns),
        rows: Arc::new(rows),
    }))
}

/// Columns as the planner's scope.
pub fn scope_cols(columns: &[(&str, Col)]) -> Vec<ScopeCol> {
    columns
        .iter()
        .map(|(n, c)| ScopeCol::new(*n, c.ty()))
        .collect()
}

async fn catalog<'a>(ctx: &'a StmtCtx<'_>) -> Result<Catalog<'a>> {
    let mut o = Catalog {
        database: &ctx.database,
        schemas: Vec::new(),
        tables: Vec::new(),
        types: Vec::new(),
        vars: ctx.vars,
        defs: &ctx.env.defs,
        users: crate::catalog::users::all_users(&ctx.reader)
            .await?
            .into_values()
            .collect(),
        memberships: crate::catalog::users::Memberships::read(&ctx.reader).await?,
    };
    let Some(db) = ctx.database(&ctx.database).await? else {
        return Ok(o);
    };
    o.schemas = ctx.server.catalog.list(&ctx.reader, db.id, 0).await?;
    for (sname, sid) in o.schemas.clone() {
        for (_, id) in ctx.server.catalog.list(&ctx.reader, db.id, sid).await? {
            match ctx.desc(id).await?.as_deref() {
                Some(Descriptor::Table(t)) => o.tables.push((sname.clone(), t.clone())),
                Some(Descriptor::Type(t)) => o.types.push((sname.clone(), t.clone())),
                _ => {}
            }
        }
    }
    Ok(o)
}

fn s(v: impl Into<String>) -> Datum {
    Datum::String(v.into())
}

fn i(v: i64) -> Datum {
    Datum::Int(v)
}

fn b(v: bool) -> Datum {
    Datum::Bool(v)
}

/// The oid of an index.
pub fn index_oid(table: u64, index: IndexId) -> i64 {
    INDEX_OID_BASE + table as i64 * 100 + i64::from(index)
}

/// PostgreSQL's name of a type (`int8`, `_text`).
fn type_name(t: &Type) -> String {
    match t {
        Type::Array(e) => format!("_{}", type_name(e)),
        Type::Bool => "bool".into(),
        Type::Bytes => "bytea".into(),
        Type::Int8 => "int8".into(),
        Type::Int2 => "int2".into(),
        Type::Int4 => "int4".into(),
        Type::String => "text".into(),
        Type::Oid => "oid".into(),
        Type::Float4 => "float4".into(),
        Type::Float8 => "float8".into(),
        Type::Char(_) => "bpchar".into(),
        Type::Varchar(_) => "varchar".into(),
        Type::Date => "date".into(),
        Type::Timestamp => "timestamp".into(),
        Type::TimestampTz => "timestamptz".into(),
        Type::Interval => "interval".into(),
        Type::Decimal { .. } => "numeric".into(),
        Type::Uuid => "uuid".into(),
        Type::Jsonb => "jsonb".into(),
        other => other.sql_name().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{CheckDesc, FkAction, ForeignKeyDesc, TypeKind};

    #[test]
    fn names_are_unique_and_rows_match_columns() {
        let vars = BTreeMap::from([("application_name".to_string(), "psql".to_string())]);
        let defs = Mutex::new(HashMap::new());
        let mut tables = super::super::golden::schema();
        if let Some(t) = tables.first_mut() {
            t.checks.push(CheckDesc {
                name: "check_n".into(),
                expr: "n > 0".into(),
            });
            t.foreign_keys.push(ForeignKeyDesc {
                name: "kv_n_fkey".into(),
                columns: vec![3],
                ref_table: 105,
                ref_columns: vec![1],
                on_delete: FkAction::Cascade,
                on_update: FkAction::Restrict,
            });
        }
        let catalog = Catalog {
            database: "defaultdb",
            schemas: vec![("public".into(), 101)],
            tables: tables.into_iter().map(|t| ("public".into(), t)).collect(),
            types: vec![(
                "public".into(),
                TypeDesc {
                    id: 106,
                    parent_id: 100,
                    schema_id: 101,
                    name: "mood".into(),
                    version: 1,
                    kind: TypeKind::Enum(vec!["sad".into(), "ok".into()]),
                },
            )],
            vars: &vars,
            defs: &defs,
            users: Vec::new(),
            memberships: Default::default(),
        };
        let databases = vec![("defaultdb".to_string(), 100), ("system".to_string(), 1)];
        let mut names = std::collections::HashSet::new();
        for schema in SCHEMAS {
            for t in schema.tables {
                assert!(names.insert((schema.name, t.name)), "{}", t.name);
                let rows = match t.rows {
                    Rows::Empty => Vec::new(),
                    Rows::Catalog(f) => f(&catalog),
                    Rows::Databases(f) => f(&databases),
                    Rows::Jobs(f) => f(&[]),
                };
                for r in rows {
                    assert_eq!(r.len(), t.columns.len(), "{}.{}", schema.name, t.name);
                }
            }
        }
        assert!(!defs.lock().is_empty());
    }

    #[test]
    fn lookup_finds_defined_tables_only() {
        let found = |p: &[&str]| {
            let parts: Vec<String> = p.iter().map(|s| s.to_string()).collect();
            lookup(&parts).map(|t| t.name)
        };
        assert_eq!(found(&["pg_class"]), Some("pg_class"));
        assert_eq!(found(&["pg_catalog", "pg_sequence"]), Some("pg_sequence"));
        assert_eq!(
            found(&["db", "information_schema", "columns"]),
            Some("columns")
        );
        assert_eq!(found(&["crdb_internal", "jobs"]), Some("jobs"));
        assert_eq!(found(&["users"]), None);
        assert_eq!(found(&["public", "pg_class"]), None);
        assert_eq!(found(&["pg_catalog", "pg_nosuch"]), None);
        assert_eq!(found(&["information_schema", "nosuch"]), None);
    }
}
