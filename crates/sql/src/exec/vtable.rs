//! Virtual tables: `pg_catalog` and `information_schema` for the current database, built from
//! the catalog when a statement reads them (enough for psql's `\l`, `\dt`, `\d t` and common
//! drivers and ORMs).
//!
//! OIDs: a table's oid is its descriptor id, a schema's its descriptor id; an index is
//! `INDEX_OID_BASE + table id * 100 + index id`, a constraint `CONSTRAINT_OID_BASE + table id
//! * 100 + n`; types use PostgreSQL's OIDs (enums `100000 + id`); the virtual schemas use
//! PostgreSQL's own numbers (`pg_catalog` is 11).
//!
//! `pg_get_indexdef` and `pg_get_constraintdef` need the definitions by oid; building
//! `pg_index`/`pg_constraint` records them in the statement's `EvalEnv::defs`.

use std::sync::Arc;

use super::StmtCtx;
use super::compile::Resolved;
use super::plan::ScopeCol;
use crate::catalog::*;
use crate::encoding::Row;
use crate::error::Result;
use crate::types::{Datum, Type};

/// OID of the `pg_catalog` schema.
pub const PG_CATALOG_OID: i64 = 11;
/// OID of `information_schema`.
pub const INFORMATION_SCHEMA_OID: i64 = 12;
/// OID of `crdb_internal`.
pub const CRDB_INTERNAL_OID: i64 = 13;
/// First index OID.
pub const INDEX_OID_BASE: i64 = 1 << 31;
/// First constraint OID.
pub const CONSTRAINT_OID_BASE: i64 = 3 << 30;

/// The pg_catalog tables this module knows.
const PG_TABLES: &[&str] = &[
    "pg_database",
    "pg_namespace",
    "pg_class",
    "pg_attribute",
    "pg_type",
    "pg_index",
    "pg_constraint",
    "pg_attrdef",
    "pg_description",
    "pg_am",
    "pg_collation",
    "pg_settings",
    "pg_roles",
    "pg_user",
    "pg_policy",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_namespace",
    "pg_publication_rel",
    "pg_trigger",
    "pg_inherits",
    "pg_enum",
    "pg_tables",
    "pg_indexes",
    "pg_views",
    "pg_proc",
    "pg_extension",
    "pg_tablespace",
    "pg_rewrite",
    "pg_sequence",
    "pg_shdescription",
    "pg_matviews",
];

/// The information_schema tables this module knows.
const INFO_TABLES: &[&str] = &["schemata", "tables", "columns"];

struct Vt {
    cols: Vec<ScopeCol>,
    rows: Vec<Row>,
}

impl Vt {
    fn new(cols: &[(&str, Type)]) -> Vt {
        Vt {
            cols: cols
                .iter()
                .map(|(n, t)| ScopeCol::new(*n, t.clone()))
                .collect(),
            rows: Vec::new(),
        }
    }

    fn push(&mut self, row: Vec<Datum>) {
        self.rows.push(row);
    }
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

fn text_array() -> Type {
    Type::Array(Box::new(Type::String))
}

fn int2_array() -> Type {
    Type::Array(Box::new(Type::Int2))
}

fn oid_array() -> Type {
    Type::Array(Box::new(Type::Oid))
}

/// The oid of an index.
pub fn index_oid(table: u64, index: IndexId) -> i64 {
    INDEX_OID_BASE + table as i64 * 100 + i64::from(index)
}

fn constraint_oid(table: u64, n: usize) -> i64 {
    CONSTRAINT_OID_BASE + table as i64 * 100 + n as i64
}

/// PostgreSQL's atttypmod for a type (-1 when it has none).
fn typmod(t: &Type) -> i64 {
    match t {
        Type::Varchar(Some(n)) | Type::Char(Some(n)) => i64::from(*n) + 4,
        Type::Decimal {
            precision: Some(p),
            scale,
        } => ((i64::from(*p) << 16) | i64::from(scale.unwrap_or(0))) + 4,
        _ => -1,
    }
}

/// The catalog objects of the current database.
struct Objects {
    db: Option<Arc<DatabaseDesc>>,
    schemas: Vec<(String, u64)>,
    tables: Vec<(String, TableDesc)>,
    types: Vec<(String, TypeDesc)>,
}

async fn objects(ctx: &StmtCtx<'_>) -> Result<Objects> {
    let mut o = Objects {
        db: None,
        schemas: Vec::new(),
        tables: Vec::new(),
        types: Vec::new(),
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
    o.db = Some(db);
    Ok(o)
}

/// The virtual table with this name, materialised; `None` when the name is not virtual.
pub async fn build(ctx: &StmtCtx<'_>, parts: &[String]) -> Result<Option<Resolved>> {
    let (schema, name) = match parts {
        [n] if PG_TABLES.contains(&n.as_str()) => ("pg_catalog", n.as_str()),
        [sc, n] | [_, sc, n] => (sc.as_str(), n.as_str()),
        _ => return Ok(None),
    };
    let vt = match schema {
        "pg_catalog" if PG_TABLES.contains(&name) => pg_table(ctx, name).await?,
        "information_schema" if INFO_TABLES.contains(&name) => info_table(ctx, name).await?,
        "crdb_internal" => match super::jobs::vtable(ctx, name).await? {
            Some((cols, rows)) => Vt { cols, rows },
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    Ok(Some(Resolved::Virtual {
        cols: vt.cols,
        rows: Arc::new(vt.rows),
    }))
}

fn virtual_schemas() -> [(&'static str, i64); 4] {
    [
        ("crdb_internal", CRDB_INTERNAL_OID),
        ("information_schema", INFORMATION_SCHEMA_OID),
        ("pg_catalog", PG_CATALOG_OID),
        ("pg_extension", 14),
    ]
}

fn builtin_types() -> Vec<Type> {
    let scalars = vec![
        Type::Bool,
        Type::Bytes,
        Type::Int8,
        Type::Int2,
        Type::Int4,
        Type::String,
        Type::Oid,
        Type::Float4,
        Type::Float8,
        Type::Char(Some(1)),
        Type::Varchar(None),
        Type::Date,
        Type::Timestamp,
        Type::TimestampTz,
        Type::Interval,
        Type::decimal(),
        Type::Uuid,
        Type::Jsonb,
    ];
    let mut all = scalars.clone();
    all.extend(scalars.into_iter().map(|t| Type::Array(Box::new(t))));
    all
}

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

fn type_len(t: &Type) -> i64 {
    match t {
        Type::Bool => 1,
        Type::Int2 => 2,
        Type::Int4 | Type::Float4 | Type::Oid | Type::Date => 4,
        Type::Int8 | Type::Float8 | Type::Timestamp | Type::TimestampTz => 8,
        Type::Interval | Type::Uuid => 16,
        _ => -1,
    }
}

fn index_def(t: &TableDesc, schema: &str, idx: &IndexDesc) -> String {
    let cols: Vec<String> = idx
        .columns
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let name = t.column(*id).map(|c| c.name.clone()).unwrap_or_default();
            if idx.descending.get(n).copied().unwrap_or(false) {
                format!("{name} DESC")
            } else {
                name
            }
        })
        .collect();
    let mut d = format!(
        "CREATE {}INDEX {} ON {schema}.{} USING btree ({})",
        if idx.unique { "UNIQUE " } else { "" },
        idx.name,
        t.name,
        cols.join(", ")
    );
    if !idx.stored.is_empty() {
        let st: Vec<String> = idx
            .stored
            .iter()
            .filter_map(|c| t.column(*c).map(|c| c.name.clone()))
            .collect();
        d.push_str(&format!(" INCLUDE ({})", st.join(", ")));
    }
    d
}

fn col_names(t: &TableDesc, ids: &[ColumnId]) -> String {
    ids.iter()
        .filter_map(|c| t.column(*c).map(|c| c.name.clone()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn attnums(ids: &[ColumnId]) -> Datum {
    Datum::Array(ids.iter().map(|c| Datum::Int(i64::from(*c))).collect())
}

async fn pg_table(ctx: &StmtCtx<'_>, name: &str) -> Result<Vt> {
    let o = objects(ctx).await?;
    let schema_oid = |sname: &str| -> i64 {
        o.schemas
            .iter()
            .find(|(n, _)| n == sname)
            .map_or(0, |(_, id)| *id as i64)
    };
    let oid = Type::Oid;
    let st = Type::String;
    let vt = match name {
        "pg_database" => {
            let mut v = Vt::new(&[
                ("oid", oid.clone()),
                ("datname", st.clone()),
                ("datdba", oid.clone()),
                ("encoding", Type::Int4),
                ("datcollate", st.clone()),
                ("datctype", st.clone()),
                ("daticulocale", st.clone()),
                ("datlocprovider", st.clone()),
                ("datistemplate", Type::Bool),
                ("datallowconn", Type::Bool),
                ("datconnlimit", Type::Int4),
                ("datlastsysoid", oid.clone()),
                ("dattablespace", oid.clone()),
                ("datacl", text_array()),
            ]);
            for (dname, id) in ctx.server.catalog.list(&ctx.reader, 0, 0).await? {
                v.push(vec![
                    i(id as i64),
                    s(dname),
                    i(1),
                    i(6),
                    s("C.UTF-8"),
                    s("C.UTF-8"),
                    Datum::Null,
                    s("c"),
                    b(false),
                    b(true),
                    i(-1),
                    i(0),
                    i(0),
                    Datum::Null,
                ]);
            }
            v
        }
        "pg_namespace" => {
            let mut v = Vt::new(&[
                ("oid", oid.clone()),
                ("nspname", st.clone()),
                ("nspowner", oid.clone()),
                ("nspacl", text_array()),
            ]);
            for (n, id) in virtual_schemas() {
                v.push(vec![i(id), s(n), i(1), Datum::Null]);
            }
            for (n, id) in &o.schemas {
                v.push(vec![i(*id as i64), s(n.clone()), i(1), Datum::Null]);
            }
            v
        }
        "pg_class" => {
            let mut v = Vt::new(&[
                ("oid", oid.clone()),
                ("relname", st.clone()),
                ("relnamespace", oid.clone()),
                ("reltype", oid.clone()),
                ("reloftype", oid.clone()),
                ("relowner", oid.clone()),
                ("relam", oid.clone()),
                ("relfilenode", oid.clone()),
                ("reltablespace", oid.clone()),
                ("relpages", Type::Int4),
                ("reltuples", Type::Float4),
                ("relallvisible", Type::Int4),
                ("reltoastrelid", oid.clone()),
                ("relhasindex", Type::Bool),
                ("relisshared", Type::Bool),
                ("relpersistence", st.clone()),
                ("relistemp", Type::Bool),
                ("relkind", st.clone()),
                ("relnatts", Type::Int2),
                ("relchecks", Type::Int2),
                ("relhasrules", Type::Bool),
                ("relhastriggers", Type::Bool),
                ("relhassubclass", Type::Bool),
                ("relrowsecurity", Type::Bool),
                ("relforcerowsecurity", Type::Bool),
                ("relispopulated", Type::Bool),
                ("relreplident", st.clone()),
                ("relispartition", Type::Bool),
                ("relrewrite", oid.clone()),
                ("relfrozenxid", Type::Int8),
                ("relminmxid", Type::Int8),
                ("relacl", text_array()),
                ("reloptions", text_array()),
                ("relpartbound", st.clone()),
            ]);
            let row = |oid_: i64,
                       name: String,
                       ns: i64,
                       kind: &str,
                       am: i64,
                       natts: i64,
                       checks: i64,
                       hasidx: bool| {
                vec![
                    i(oid_),
                    s(name),
                    i(ns),
                    i(0),
                    i(0),
                    i(1),
                    i(am),
                    i(0),
                    i(0),
                    i(0),
                    Datum::Float(0.0),
                    i(0),
                    i(0),
                    b(hasidx),
                    b(false),
                    s("p"),
                    b(false),
                    s(kind),
                    i(natts),
                    i(checks),
                    b(false),
                    b(false),
                    b(false),
                    b(false),
                    b(false),
                    b(true),
                    s("d"),
                    b(false),
                    i(0),
                    i(0),
                    i(0),
                    Datum::Null,
                    Datum::Null,
                    Datum::Null,
                ]
            };
            for (sname, t) in &o.tables {
                let ns = schema_oid(sname);
                let natts = t.columns.iter().filter(|c| !c.hidden).count() as i64;
                v.push(row(
                    t.id as i64,
                    t.name.clone(),
                    ns,
                    "r",
                    2,
                    natts,
                    t.checks.len() as i64,
                    true,
                ));
                for idx in t.all_indexes() {
                    v.push(row(
                        index_oid(t.id, idx.id),
                        idx.name.clone(),
                        ns,
                        "i",
                        403,
                        idx.columns.len() as i64,
                        0,
                        false,
                    ));
                }
            }
            v
        }
        "pg_attribute" => {
            let mut v = Vt::new(&[
                ("attrelid", oid.clone()),
                ("attname", st.clone()),
                ("atttypid", oid.clone()),
                ("attstattarget", Type::Int4),
                ("attlen", Type::Int2),
                ("attnum", Type::Int2),
                ("attndims", Type::Int4),
                ("attcacheoff", Type::Int4),
                ("atttypmod", Type::Int4),
                ("attbyval", Type::Bool),
                ("attstorage", st.clone()),
                ("attalign", st.clone()),
                ("attnotnull", Type::Bool),
                ("atthasdef", Type::Bool),
                ("atthasmissing", Type::Bool),
                ("attidentity", st.clone()),
                ("attgenerated", st.clone()),
                ("attisdropped", Type::Bool),
                ("attislocal", Type::Bool),
                ("attinhcount", Type::Int4),
                ("attcollation", oid.clone()),
                ("attacl", text_array()),
                ("attoptions", text_array()),
                ("attfdwoptions", text_array()),
            ]);
            let mut push = |rel: i64,
                            name: &str,
                            ty: &Type,
                            num: i64,
                            notnull: bool,
                            hasdef: bool,
                            generated: bool| {
                v.push(vec![
                    i(rel),
                    s(name),
                    i(i64::from(ty.oid())),
                    i(-1),
                    i(type_len(ty)),
                    i(num),
                    i(i64::from(matches!(ty, Type::Array(_)))),
                    i(-1),
                    i(typmod(ty)),
                    b(type_len(ty) > 0),
                    s("p"),
                    s("i"),
                    b(notnull),
                    b(hasdef),
                    b(false),
                    s(""),
                    s(if generated { "s" } else { "" }),
                    b(false),
                    b(true),
                    i(0),
                    i(if ty.family() == crate::types::Family::String {
                        100
                    } else {
                        0
                    }),
                    Datum::Null,
                    Datum::Null,
                    Datum::Null,
                ]);
            };
            for (_, t) in &o.tables {
                for c in t.columns.iter().filter(|c| !c.hidden) {
                    push(
                        t.id as i64,
                        &c.name,
                        &c.ty,
                        i64::from(c.id),
                        !c.nullable,
                        c.default.is_some(),
                        c.computed.is_some(),
                    );
                }
                for idx in t.all_indexes() {
                    for (n, id) in idx.columns.iter().enumerate() {
                        if let Some(c) = t.column(*id) {
                            push(
                                index_oid(t.id, idx.id),
                                &c.name,
                                &c.ty,
                                n as i64 + 1,
                                !c.nullable,
                                false,
                                false,
                            );
                        }
                    }
                }
            }
            v
        }
        "pg_type" => {
            let mut v = Vt::new(&[
                ("oid", oid.clone()),
                ("typname", st.clone()),
                ("typnamespace", oid.clone()),
                ("typowner", oid.clone()),
                ("typlen", Type::Int2),
                ("typbyval", Type::Bool),
                ("typtype", st.clone()),
                ("typcategory", st.clone()),
                ("typispreferred", Type::Bool),
                ("typisdefined", Type::Bool),
                ("typdelim", st.clone()),
                ("typrelid", oid.clone()),
                ("typelem", oid.clone()),
                ("typarray", oid.clone()),
                ("typinput", st.clone()),
                ("typoutput", st.clone()),
                ("typnotnull", Type::Bool),
                ("typbasetype", oid.clone()),
                ("typtypmod", Type::Int4),
                ("typndims", Type::Int4),
                ("typcollation", oid.clone()),
                ("typdefault", st.clone()),
            ]);
            for t in builtin_types() {
                let (elem, array) = match &t {
                    Type::Array(e) => (i64::from(e.oid()), 0),
                    other => (0, i64::from(Type::Array(Box::new(other.clone())).oid())),
                };
                let cat = match t.family() {
                    crate::types::Family::Array => "A",
                    crate::types::Family::Bool => "B",
                    crate::types::Family::Int
                    | crate::types::Family::Float
                    | crate::types::Family::Decimal
                    | crate::types::Family::Oid => "N",
                    crate::types::Family::String => "S",
                    crate::types::Family::Date
                    | crate::types::Family::Timestamp
                    | crate::types::Family::TimestampTz => "D",
                    crate::types::Family::Interval => "T",
                    _ => "U",
                };
                let name = type_name(&t);
                v.push(vec![
                    i(i64::from(t.oid())),
                    s(name.clone()),
                    i(PG_CATALOG_OID),
                    i(1),
                    i(type_len(&t)),
                    b(type_len(&t) > 0),
                    s("b"),
                    s(cat),
                    b(false),
                    b(true),
                    s(","),
                    i(0),
                    i(elem),
                    i(array),
                    s(format!("{name}in")),
                    s(format!("{name}out")),
                    b(false),
                    i(0),
                    i(-1),
                    i(0),
                    i(if cat == "S" { 100 } else { 0 }),
                    Datum::Null,
                ]);
            }
            for (sname, td) in &o.types {
                let t = Type::Enum {
                    id: td.id,
                    name: td.name.clone(),
                };
                v.push(vec![
                    i(i64::from(t.oid())),
                    s(td.name.clone()),
                    i(schema_oid(sname)),
                    i(1),
                    i(-1),
                    b(false),
                    s("e"),
                    s("E"),
                    b(false),
                    b(true),
                    s(","),
                    i(0),
                    i(0),
                    i(i64::from(Type::Array(Box::new(t.clone())).oid())),
                    s("enum_in"),
                    s("enum_out"),
                    b(false),
                    i(0),
                    i(-1),
                    i(0),
                    i(0),
                    Datum::Null,
                ]);
            }
            v
        }
        "pg_enum" => {
            let mut v = Vt::new(&[
                ("oid", oid.clone()),
                ("enumtypid", oid.clone()),
                ("enumsortorder", Type::Float4),
                ("enumlabel", st.clone()),
            ]);
            for (_, td) in &o.types {
                let t = Type::Enum {
                    id: td.id,
                    name: td.name.clone(),
                };
                for (n, l) in td.labels().iter().enumerate() {
                    v.push(vec![
                        i(i64::from(t.oid()) * 1000 + n as i64),
                        i(i64::from(t.oid())),
                        Datum::Float(n as f64 + 1.0),
                        s(l.clone()),
                    ]);
                }
            }
            v
        }
        "pg_index" => {
            let mut v = Vt::new(&[
                ("indexrelid", oid.clone()),
                ("indrelid", oid.clone()),
                ("indnatts", Type::Int2),
                ("indnkeyatts", Type::Int2),
                ("indisunique", Type::Bool),
                ("indisprimary", Type::Bool),
                ("indisexclusion", Type::Bool),
                ("indimmediate", Type::Bool),
                ("indisclustered", Type::Bool),
                ("indisvalid", Type::Bool),
                ("indcheckxmin", Type::Bool),
                ("indisready", Type::Bool),
                ("indislive", Type::Bool),
                ("indisreplident", Type::Bool),
                ("indkey", int2_array()),
                ("indcollation", oid_array()),
                ("indclass", oid_array()),
                ("indoption", int2_array()),
                ("indexprs", st.clone()),
                ("indpred", st.clone()),
            ]);
            for (sname, t) in &o.tables {
                for idx in t.all_indexes() {
                    let ioid = index_oid(t.id, idx.id);
                    ctx.env.defs.lock().insert(ioid, index_def(t, sname, idx));
                    let n = (idx.columns.len() + idx.stored.len()) as i64;
                    v.push(vec![
                        i(ioid),
                        i(t.id as i64),
                        i(n),
                        i(idx.columns.len() as i64),
                        b(idx.unique),
                        b(idx.id == PRIMARY_INDEX_ID),
                        b(false),
                        b(true),
                        b(false),
                        b(true),
                        b(false),
                        b(true),
                        b(true),
                        b(false),
                        attnums(&idx.columns),
                        Datum::Array(Vec::new()),
                        Datum::Array(Vec::new()),
                        Datum::Array(
                            idx.descending
                                .iter()
                                .map(|d| Datum::Int(if *d { 3 } else { 0 }))
                                .collect(),
                        ),
                        Datum::Null,
                        Datum::Null,
                    ]);
                }
            }
            v
        }
        "pg_constraint" => {
            let mut v = Vt::new(&[
                ("oid", oid.clone()),
                ("conname", st.clone()),
                ("connamespace", oid.clone()),
                ("contype", st.clone()),
                ("condeferrable", Type::Bool),
                ("condeferred", Type::Bool),
                ("convalidated", Type::Bool),
                ("conrelid", oid.clone()),
                ("contypid", oid.clone()),
                ("conindid", oid.clone()),
                ("conparentid", oid.clone()),
                ("confrelid", oid.clone()),
                ("confupdtype", st.clone()),
                ("confdeltype", st.clone()),
                ("confmatchtype", st.clone()),
                ("conislocal", Type::Bool),
                ("coninhcount", Type::Int4),
                ("connoinherit", Type::Bool),
                ("conkey", int2_array()),
                ("confkey", int2_array()),
                ("conbin", st.clone()),
                ("consrc", st.clone()),
            ]);
            let action = |a: FkAction| match a {
                FkAction::Restrict => "a",
                FkAction::Cascade => "c",
                FkAction::SetNull => "n",
                FkAction::SetDefault => "d",
            };
            for (sname, t) in &o.tables {
                let ns = schema_oid(sname);
                let mut n = 0;
                let mut push = |v: &mut Vt,
                                name: &str,
                                kind: &str,
                                idx: i64,
                                fk: Option<&ForeignKeyDesc>,
                                keys: &[ColumnId],
                                def: String,
                                src: Option<String>| {
                    n += 1;
                    let coid = constraint_oid(t.id, n);
                    ctx.env.defs.lock().insert(coid, def);
                    v.push(vec![
                        i(coid),
                        s(name),
                        i(ns),
                        s(kind),
                        b(false),
                        b(false),
                        b(true),
                        i(t.id as i64),
                        i(0),
                        i(idx),
                        i(0),
                        i(fk.map_or(0, |f| f.ref_table as i64)),
                        s(fk.map_or(" ", |f| action(f.on_update))),
                        s(fk.map_or(" ", |f| action(f.on_delete))),
                        s(if fk.is_some() { "s" } else { " " }),
                        b(true),
                        i(0),
                        b(true),
                        attnums(keys),
                        fk.map_or(Datum::Null, |f| attnums(&f.ref_columns)),
                        src.clone().map_or(Datum::Null, s),
                        src.map_or(Datum::Null, s),
                    ]);
                };
                for idx in t.all_indexes().filter(|i| i.unique) {
                    let primary = idx.id == PRIMARY_INDEX_ID;
                    let def = format!(
                        "{} ({})",
                        if primary { "PRIMARY KEY" } else { "UNIQUE" },
                        col_names(t, &idx.columns)
                    );
                    push(
                        &mut v,
                        &idx.name,
                        if primary { "p" } else { "u" },
                        index_oid(t.id, idx.id),
                        None,
                        &idx.columns,
                        def,
                        None,
                    );
                }
                for ch in &t.checks {
                    push(
                        &mut v,
                        &ch.name,
                        "c",
                        0,
                        None,
                        &[],
                        format!("CHECK (({}))", ch.expr),
                        Some(ch.expr.clone()),
                    );
                }
                for fk in &t.foreign_keys {
                    let parent = o
                        .tables
                        .iter()
                        .find(|(_, p)| p.id == fk.ref_table)
                        .map(|(_, p)| p.clone());
                    let (pname, pcols) = match &parent {
                        Some(p) => (p.name.clone(), col_names(p, &fk.ref_columns)),
                        None => (fk.ref_table.to_string(), String::new()),
                    };
                    let mut def = format!(
                        "FOREIGN KEY ({}) REFERENCES {pname}({pcols})",
                        col_names(t, &fk.columns)
                    );
                    match fk.on_delete {
                        FkAction::Cascade => def.push_str(" ON DELETE CASCADE"),
                        FkAction::SetNull => def.push_str(" ON DELETE SET NULL"),
                        FkAction::SetDefault => def.push_str(" ON DELETE SET DEFAULT"),
                        FkAction::Restrict => {}
                    }
                    push(&mut v, &fk.name, "f", 0, Some(fk), &fk.columns, def, None);
                }
            }
            v
        }
        "pg_attrdef" => {
            let mut v = Vt::new(&[
                ("oid", oid.clone()),
                ("adrelid", oid.clone()),
                ("adnum", Type::Int2),
                ("adbin", st.clone()),
                ("adsrc", st.clone()),
            ]);
            for (_, t) in &o.tables {
                for c in &t.columns {
                    if let Some(d) = c.default.as_ref().or(c.computed.as_ref()) {
                        v.push(vec![
                            i(t.id as i64 * 1000 + i64::from(c.id)),
                            i(t.id as i64),
                            i(i64::from(c.id)),
                            s(d.clone()),
                            s(d.clone()),
                        ]);
                    }
                }
            }
            v
        }
        "pg_description" | "pg_shdescription" => Vt::new(&[
            ("objoid", oid.clone()),
            ("classoid", oid.clone()),
            ("objsubid", Type::Int4),
            ("description", st.clone()),
        ]),
        "pg_am" => {
            let mut v = Vt::new(&[
                ("oid", oid.clone()),
                ("amname", st.clone()),
                ("amhandler", oid.clone()),
                ("amtype", st.clone()),
            ]);
            v.push(vec![i(2), s("heap"), i(0), s("t")]);
            v.push(vec![i(403), s("btree"), i(0), s("i")]);
            v
        }
        "pg_collation" => Vt::new(&[
            ("oid", oid.clone()),
            ("collname", st.clone()),
            ("collnamespace", oid.clone()),
            ("collowner", oid.clone()),
            ("collprovider", st.clone()),
            ("collencoding", Type::Int4),
            ("collcollate", st.clone()),
            ("collctype", st.clone()),
        ]),
        "pg_settings" => {
            let mut v = Vt::new(&[
                ("name", st.clone()),
                ("setting", st.clone()),
                ("unit", st.clone()),
                ("category", st.clone()),
                ("short_desc", st.clone()),
                ("extra_desc", st.clone()),
                ("context", st.clone()),
                ("vartype", st.clone()),
                ("source", st.clone()),
                ("min_val", st.clone()),
                ("max_val", st.clone()),
                ("enumvals", st.clone()),
                ("boot_val", st.clone()),
                ("reset_val", st.clone()),
                ("sourcefile", st.clone()),
                ("sourceline", Type::Int4),
                ("pending_restart", Type::Bool),
            ]);
            for (k, val) in ctx.vars {
                let mut row = vec![s(k.clone()), s(val.clone())];
                row.extend((0..10).map(|_| Datum::Null));
                row.extend([s(val.clone()), Datum::Null, Datum::Null, b(false)]);
                v.push(row);
            }
            v
        }
        "pg_roles" | "pg_user" => {
            let mut v = Vt::new(&[
                ("oid", oid.clone()),
                ("rolname", st.clone()),
                ("usename", st.clone()),
                ("rolsuper", Type::Bool),
                ("rolinherit", Type::Bool),
                ("rolcreaterole", Type::Bool),
                ("rolcreatedb", Type::Bool),
                ("rolcanlogin", Type::Bool),
                ("rolreplication", Type::Bool),
                ("rolconnlimit", Type::Int4),
                ("rolbypassrls", Type::Bool),
                ("usesuper", Type::Bool),
            ]);
            for (id, n) in [(1, "admin"), (2, "root")] {
                v.push(vec![
                    i(id),
                    s(n),
                    s(n),
                    b(true),
                    b(true),
                    b(true),
                    b(true),
                    b(n == "root"),
                    b(false),
                    i(-1),
                    b(false),
                    b(true),
                ]);
            }
            v
        }
        "pg_policy" => Vt::new(&[
            ("oid", oid.clone()),
            ("polname", st.clone()),
            ("polrelid", oid.clone()),
            ("polcmd", st.clone()),
            ("polpermissive", Type::Bool),
            ("polroles", oid_array()),
            ("polqual", st.clone()),
            ("polwithcheck", st.clone()),
        ]),
        "pg_statistic_ext" => Vt::new(&[
            ("oid", oid.clone()),
            ("stxrelid", oid.clone()),
            ("stxname", st.clone()),
            ("stxnamespace", oid.clone()),
            ("stxowner", oid.clone()),
            ("stxstattarget", Type::Int4),
            ("stxkeys", int2_array()),
            ("stxkind", text_array()),
        ]),
        "pg_publication" => Vt::new(&[
            ("oid", oid.clone()),
            ("pubname", st.clone()),
            ("pubowner", oid.clone()),
            ("puballtables", Type::Bool),
            ("pubinsert", Type::Bool),
            ("pubupdate", Type::Bool),
            ("pubdelete", Type::Bool),
            ("pubtruncate", Type::Bool),
            ("pubviaroot", Type::Bool),
        ]),
        "pg_publication_namespace" => Vt::new(&[
            ("oid", oid.clone()),
            ("pnpubid", oid.clone()),
            ("pnnspid", oid.clone()),
        ]),
        "pg_publication_rel" => Vt::new(&[
            ("oid", oid.clone()),
            ("prpubid", oid.clone()),
            ("prrelid", oid.clone()),
            ("prqual", st.clone()),
            ("prattrs", int2_array()),
        ]),
        "pg_trigger" => Vt::new(&[
            ("oid", oid.clone()),
            ("tgrelid", oid.clone()),
            ("tgparentid", oid.clone()),
            ("tgname", st.clone()),
            ("tgfoid", oid.clone()),
            ("tgtype", Type::Int2),
            ("tgenabled", st.clone()),
            ("tgisinternal", Type::Bool),
            ("tgconstrrelid", oid.clone()),
            ("tgconstrindid", oid.clone()),
            ("tgconstraint", oid.clone()),
            ("tgdeferrable", Type::Bool),
            ("tginitdeferred", Type::Bool),
            ("tgnargs", Type::Int2),
        ]),
        "pg_inherits" => Vt::new(&[
            ("inhrelid", oid.clone()),
            ("inhparent", oid.clone()),
            ("inhseqno", Type::Int4),
            ("inhdetachpending", Type::Bool),
        ]),
        "pg_tables" => {
            let mut v = Vt::new(&[
                ("schemaname", st.clone()),
                ("tablename", st.clone()),
                ("tableowner", st.clone()),
                ("tablespace", st.clone()),
                ("hasindexes", Type::Bool),
                ("hasrules", Type::Bool),
                ("hastriggers", Type::Bool),
                ("rowsecurity", Type::Bool),
            ]);
            for (sname, t) in &o.tables {
                v.push(vec![
                    s(sname.clone()),
                    s(t.name.clone()),
                    s("root"),
                    Datum::Null,
                    b(true),
                    b(false),
                    b(false),
                    b(false),
                ]);
            }
            v
        }
        "pg_indexes" => {
            let mut v = Vt::new(&[
                ("crdb_oid", oid.clone()),
                ("schemaname", st.clone()),
                ("tablename", st.clone()),
                ("indexname", st.clone()),
                ("tablespace", st.clone()),
                ("indexdef", st.clone()),
            ]);
            for (sname, t) in &o.tables {
                for idx in t.all_indexes() {
                    v.push(vec![
                        i(index_oid(t.id, idx.id)),
                        s(sname.clone()),
                        s(t.name.clone()),
                        s(idx.name.clone()),
                        Datum::Null,
                        s(index_def(t, sname, idx)),
                    ]);
                }
            }
            v
        }
        "pg_views" | "pg_matviews" => Vt::new(&[
            ("schemaname", st.clone()),
            ("viewname", st.clone()),
            ("viewowner", st.clone()),
            ("definition", st.clone()),
        ]),
        "pg_proc" => Vt::new(&[
            ("oid", oid.clone()),
            ("proname", st.clone()),
            ("pronamespace", oid.clone()),
            ("proowner", oid.clone()),
            ("prolang", oid.clone()),
            ("prokind", st.clone()),
            ("prorettype", oid.clone()),
            ("proargtypes", oid_array()),
        ]),
        "pg_extension" => Vt::new(&[
            ("oid", oid.clone()),
            ("extname", st.clone()),
            ("extowner", oid.clone()),
            ("extnamespace", oid.clone()),
            ("extversion", st.clone()),
        ]),
        "pg_tablespace" => {
            let mut v = Vt::new(&[
                ("oid", oid.clone()),
                ("spcname", st.clone()),
                ("spcowner", oid.clone()),
            ]);
            v.push(vec![i(1663), s("pg_default"), i(1)]);
            v
        }
        "pg_rewrite" => Vt::new(&[
            ("oid", oid.clone()),
            ("rulename", st.clone()),
            ("ev_class", oid.clone()),
            ("ev_type", st.clone()),
        ]),
        _ => Vt::new(&[
            ("seqrelid", oid.clone()),
            ("seqtypid", oid.clone()),
            ("seqstart", Type::Int8),
            ("seqincrement", Type::Int8),
        ]),
    };
    let _ = &o.db;
    Ok(vt)
}

async fn info_table(ctx: &StmtCtx<'_>, name: &str) -> Result<Vt> {
    let o = objects(ctx).await?;
    let st = Type::String;
    let catalog = ctx.database.clone();
    Ok(match name {
        "schemata" => {
            let mut v = Vt::new(&[
                ("catalog_name", st.clone()),
                ("schema_name", st.clone()),
                ("default_character_set_name", st.clone()),
                ("sql_path", st.clone()),
                ("crdb_is_user_defined", st.clone()),
            ]);
            for (n, _) in virtual_schemas() {
                v.push(vec![
                    s(catalog.clone()),
                    s(n),
                    Datum::Null,
                    Datum::Null,
                    s("NO"),
                ]);
            }
            for (n, _) in &o.schemas {
                let user = if n == "public" { "NO" } else { "YES" };
                v.push(vec![
                    s(catalog.clone()),
                    s(n.clone()),
                    Datum::Null,
                    Datum::Null,
                    s(user),
                ]);
            }
            v
        }
        "tables" => {
            let mut v = Vt::new(&[
                ("table_catalog", st.clone()),
                ("table_schema", st.clone()),
                ("table_name", st.clone()),
                ("table_type", st.clone()),
                ("is_insertable_into", st.clone()),
                ("version", Type::Int8),
            ]);
            for (sname, t) in &o.tables {
                v.push(vec![
                    s(catalog.clone()),
                    s(sname.clone()),
                    s(t.name.clone()),
                    s("BASE TABLE"),
                    s("YES"),
                    i(t.version as i64),
                ]);
            }
            v
        }
        _ => {
            let mut v = Vt::new(&[
                ("table_catalog", st.clone()),
                ("table_schema", st.clone()),
                ("table_name", st.clone()),
                ("column_name", st.clone()),
                ("ordinal_position", Type::Int8),
                ("column_default", st.clone()),
                ("is_nullable", st.clone()),
                ("data_type", st.clone()),
                ("character_maximum_length", Type::Int8),
                ("numeric_precision", Type::Int8),
                ("numeric_scale", Type::Int8),
                ("datetime_precision", Type::Int8),
                ("udt_catalog", st.clone()),
                ("udt_schema", st.clone()),
                ("udt_name", st.clone()),
                ("is_generated", st.clone()),
                ("generation_expression", st.clone()),
                ("crdb_sql_type", st.clone()),
                ("is_hidden", st.clone()),
            ]);
            for (sname, t) in &o.tables {
                for (pos, c) in t.columns.iter().enumerate() {
                    let (len, prec, scale) = match &c.ty {
                        Type::Varchar(n) | Type::Char(n) => (n.map(i64::from), None, None),
                        Type::Int2 => (None, Some(16), Some(0)),
                        Type::Int4 => (None, Some(32), Some(0)),
                        Type::Int8 => (None, Some(64), Some(0)),
                        Type::Float4 => (None, Some(24), None),
                        Type::Float8 => (None, Some(53), None),
                        Type::Decimal { precision, scale } => {
                            (None, precision.map(i64::from), scale.map(i64::from))
                        }
                        _ => (None, None, None),
                    };
                    let opt = |x: Option<i64>| x.map_or(Datum::Null, i);
                    v.push(vec![
                        s(catalog.clone()),
                        s(sname.clone()),
                        s(t.name.clone()),
                        s(c.name.clone()),
                        i(pos as i64 + 1),
                        c.default.clone().map_or(Datum::Null, s),
                        s(if c.nullable { "YES" } else { "NO" }),
                        s(c.ty.pg_name()),
                        opt(len),
                        opt(prec),
                        opt(scale),
                        Datum::Null,
                        s(catalog.clone()),
                        s("pg_catalog"),
                        s(type_name(&c.ty)),
                        s(if c.computed.is_some() {
                            "ALWAYS"
                        } else {
                            "NEVER"
                        }),
                        s(c.computed.clone().unwrap_or_default()),
                        s(c.ty.sql_name()),
                        s(if c.hidden { "YES" } else { "NO" }),
                    ]);
                }
            }
            v
        }
    })
}
