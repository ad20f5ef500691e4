//! `information_schema`: the SQL standard's views of the current database.

use super::Col::*;
use super::{Catalog, Col, Rows, SCHEMAS, VirtualTable, i, s, type_name};
use crate::encoding::Row;
use crate::types::{Datum, Type};

/// The tables of `information_schema`.
pub(super) static TABLES: &[VirtualTable] = &[
    VirtualTable {
        name: "schemata",
        columns: &[
            ("catalog_name", Text),
            ("schema_name", Text),
            ("default_character_set_name", Text),
            ("sql_path", Text),
            ("crdb_is_user_defined", Text),
        ],
        rows: Rows::Catalog(schemata),
    },
    VirtualTable {
        name: "tables",
        columns: &[
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("table_type", Text),
            ("is_insertable_into", Text),
            ("version", Int8),
        ],
        rows: Rows::Catalog(tables),
    },
    VirtualTable {
        name: "columns",
        columns: COLUMNS,
        rows: Rows::Catalog(columns),
    },
];

const COLUMNS: &[(&str, Col)] = &[
    ("table_catalog", Text),
    ("table_schema", Text),
    ("table_name", Text),
    ("column_name", Text),
    ("ordinal_position", Int8),
    ("column_default", Text),
    ("is_nullable", Text),
    ("data_type", Text),
    ("character_maximum_length", Int8),
    ("numeric_precision", Int8),
    ("numeric_scale", Int8),
    ("datetime_precision", Int8),
    ("udt_catalog", Text),
    ("udt_schema", Text),
    ("udt_name", Text),
    ("is_generated", Text),
    ("generation_expression", Text),
    ("crdb_sql_type", Text),
    ("is_hidden", Text),
];

fn schemata(o: &Catalog<'_>) -> Vec<Row> {
    let virtual_schemas = SCHEMAS.iter().map(|v| (v.name, "NO"));
    let schemas = o.schemas.iter().map(|(n, _)| {
        let user = if n == "public" { "NO" } else { "YES" };
        (n.as_str(), user)
    });
    virtual_schemas
        .chain(schemas)
        .map(|(n, user)| vec![s(o.database), s(n), Datum::Null, Datum::Null, s(user)])
        .collect()
}

fn tables(o: &Catalog<'_>) -> Vec<Row> {
    o.tables
        .iter()
        .map(|(sname, t)| {
            vec![
                s(o.database),
                s(sname.clone()),
                s(t.name.clone()),
                s("BASE TABLE"),
                s("YES"),
                i(t.version as i64),
            ]
        })
        .collect()
}

fn columns(o: &Catalog<'_>) -> Vec<Row> {
    let mut rows = Vec::new();
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
            rows.push(vec![
                s(o.database),
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
                s(o.database),
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
    rows
}
