//! `pg_catalog`: PostgreSQL's system catalogs for the current database, as psql, drivers and
//! ORMs read them.

use super::Col::*;
use super::{
    Catalog, Col, PG_CATALOG_OID, Rows, SCHEMAS, VirtualTable, b, i, index_oid, s, type_name,
};
use crate::catalog::{ColumnId, FkAction, ForeignKeyDesc, IndexDesc, PRIMARY_INDEX_ID, TableDesc};
use crate::encoding::Row;
use crate::types::{Datum, Family, Type};

/// The tables of `pg_catalog`.
pub(super) static TABLES: &[VirtualTable] = &[
    VirtualTable {
        name: "pg_database",
        columns: PG_DATABASE,
        rows: Rows::Databases(pg_database),
    },
    VirtualTable {
        name: "pg_namespace",
        columns: &[
            ("oid", Oid),
            ("nspname", Text),
            ("nspowner", Oid),
            ("nspacl", TextArray),
        ],
        rows: Rows::Catalog(pg_namespace),
    },
    VirtualTable {
        name: "pg_class",
        columns: PG_CLASS,
        rows: Rows::Catalog(pg_class),
    },
    VirtualTable {
        name: "pg_attribute",
        columns: PG_ATTRIBUTE,
        rows: Rows::Catalog(pg_attribute),
    },
    VirtualTable {
        name: "pg_type",
        columns: PG_TYPE,
        rows: Rows::Catalog(pg_type),
    },
    VirtualTable {
        name: "pg_enum",
        columns: &[
            ("oid", Oid),
            ("enumtypid", Oid),
            ("enumsortorder", Float4),
            ("enumlabel", Text),
        ],
        rows: Rows::Catalog(pg_enum),
    },
    VirtualTable {
        name: "pg_index",
        columns: PG_INDEX,
        rows: Rows::Catalog(pg_index),
    },
    VirtualTable {
        name: "pg_constraint",
        columns: PG_CONSTRAINT,
        rows: Rows::Catalog(pg_constraint),
    },
    VirtualTable {
        name: "pg_attrdef",
        columns: &[
            ("oid", Oid),
            ("adrelid", Oid),
            ("adnum", Int2),
            ("adbin", Text),
            ("adsrc", Text),
        ],
        rows: Rows::Catalog(pg_attrdef),
    },
    VirtualTable {
        name: "pg_description",
        columns: DESCRIPTION,
        rows: Rows::Empty,
    },
    VirtualTable {
        name: "pg_shdescription",
        columns: DESCRIPTION,
        rows: Rows::Empty,
    },
    VirtualTable {
        name: "pg_am",
        columns: &[
            ("oid", Oid),
            ("amname", Text),
            ("amhandler", Oid),
            ("amtype", Text),
        ],
        rows: Rows::Catalog(|_| {
            vec![
                vec![i(2), s("heap"), i(0), s("t")],
                vec![i(403), s("btree"), i(0), s("i")],
            ]
        }),
    },
    VirtualTable {
        name: "pg_collation",
        columns: &[
            ("oid", Oid),
            ("collname", Text),
            ("collnamespace", Oid),
            ("collowner", Oid),
            ("collprovider", Text),
            ("collencoding", Int4),
            ("collcollate", Text),
            ("collctype", Text),
        ],
        rows: Rows::Empty,
    },
    VirtualTable {
        name: "pg_settings",
        columns: PG_SETTINGS,
        rows: Rows::Catalog(pg_settings),
    },
    VirtualTable {
        name: "pg_roles",
        columns: ROLES,
        rows: Rows::Catalog(roles),
    },
    VirtualTable {
        name: "pg_user",
        columns: ROLES,
        rows: Rows::Catalog(roles),
    },
    VirtualTable {
        name: "pg_auth_members",
        columns: &[
            ("roleid", Oid),
            ("member", Oid),
            ("grantor", Oid),
            ("admin_option", Bool),
        ],
        rows: Rows::Catalog(pg_auth_members),
    },
    VirtualTable {
        name: "pg_policy",
        columns: &[
            ("oid", Oid),
            ("polname", Text),
            ("polrelid", Oid),
            ("polcmd", Text),
            ("polpermissive", Bool),
            ("polroles", OidArray),
            ("polqual", Text),
            ("polwithcheck", Text),
        ],
        rows: Rows::Empty,
    },
    VirtualTable {
        name: "pg_statistic_ext",
        columns: &[
            ("oid", Oid),
            ("stxrelid", Oid),
            ("stxname", Text),
            ("stxnamespace", Oid),
            ("stxowner", Oid),
            ("stxstattarget", Int4),
            ("stxkeys", Int2Array),
            ("stxkind", TextArray),
        ],
        rows: Rows::Empty,
    },
    VirtualTable {
        name: "pg_publication",
        columns: &[
            ("oid", Oid),
            ("pubname", Text),
            ("pubowner", Oid),
            ("puballtables", Bool),
            ("pubinsert", Bool),
            ("pubupdate", Bool),
            ("pubdelete", Bool),
            ("pubtruncate", Bool),
            ("pubviaroot", Bool),
        ],
        rows: Rows::Empty,
    },
    VirtualTable {
        name: "pg_publication_namespace",
        columns: &[("oid", Oid), ("pnpubid", Oid), ("pnnspid", Oid)],
        rows: Rows::Empty,
    },
    VirtualTable {
        name: "pg_publication_rel",
        columns: &[
            ("oid", Oid),
            ("prpubid", Oid),
            ("prrelid", Oid),
            ("prqual", Text),
            ("prattrs", Int2Array),
        ],
        rows: Rows::Empty,
    },
    VirtualTable {
        name: "pg_trigger",
        columns: PG_TRIGGER,
        rows: Rows::Empty,
    },
    VirtualTable {
        name: "pg_inherits",
        columns: &[
            ("inhrelid", Oid),
            ("inhparent", Oid),
            ("inhseqno", Int4),
            ("inhdetachpending", Bool),
        ],
        rows: Rows::Empty,
    },
    VirtualTable {
        name: "pg_tables",
        columns: &[
            ("schemaname", Text),
            ("tablename", Text),
            ("tableowner", Text),
            ("tablespace", Text),
            ("hasindexes", Bool),
            ("hasrules", Bool),
            ("hastriggers", Bool),
            ("rowsecurity", Bool),
        ],
        rows: Rows::Catalog(pg_tables),
    },
    VirtualTable {
        name: "pg_indexes",
        columns: &[
            ("crdb_oid", Oid),
            ("schemaname", Text),
            ("tablename", Text),
            ("indexname", Text),
            ("tablespace", Text),
            ("indexdef", Text),
        ],
        rows: Rows::Catalog(pg_indexes),
    },
    VirtualTable {
        name: "pg_views",
        columns: VIEWS,
        rows: Rows::Empty,
    },
    VirtualTable {
        name: "pg_matviews",
        columns: VIEWS,
        rows: Rows::Empty,
    },
    VirtualTable {
        name: "pg_proc",
        columns: &[
            ("oid", Oid),
            ("proname", Text),
            ("pronamespace", Oid),
            ("proowner", Oid),
            ("prolang", Oid),
            ("prokind", Text),
            ("prorettype", Oid),
            ("proargtypes", OidArray),
        ],
        rows: Rows::Empty,
    },
    VirtualTable {
        name: "pg_extension",
        columns: &[
            ("oid", Oid),
            ("extname", Text),
            ("extowner", Oid),
            ("extnamespace", Oid),
            ("extversion", Text),
        ],
        rows: Rows::Empty,
    },
    VirtualTable {
        name: "pg_tablespace",
        columns: &[("oid", Oid), ("spcname", Text), ("spcowner", Oid)],
        rows: Rows::Catalog(|_| vec![vec![i(1663), s("pg_default"), i(1)]]),
    },
    VirtualTable {
        name: "pg_rewrite",
        columns: &[
            ("oid", Oid),
            ("rulename", Text),
            ("ev_class", Oid),
            ("ev_type", Text),
        ],
        rows: Rows::Empty,
    },
    VirtualTable {
        name: "pg_sequence",
        columns: &[
            ("seqrelid", Oid),
            ("seqtypid", Oid),
            ("seqstart", Int8),
            ("seqincrement", Int8),
        ],
        rows: Rows::Empty,
    },
];

const PG_DATABASE: &[(&str, Col)] = &[
    ("oid", Oid),
    ("datname", Text),
    ("datdba", Oid),
    ("encoding", Int4),
    ("datcollate", Text),
    ("datctype", Text),
    ("daticulocale", Text),
    ("datlocprovider", Text),
    ("datistemplate", Bool),
    ("datallowconn", Bool),
    ("datconnlimit", Int4),
    ("datlastsysoid", Oid),
    ("dattablespace", Oid),
    ("datacl", TextArray),
];

const PG_CLASS: &[(&str, Col)] = &[
    ("oid", Oid),
    ("relname", Text),
    ("relnamespace", Oid),
    ("reltype", Oid),
    ("reloftype", Oid),
    ("relowner", Oid),
    ("relam", Oid),
    ("relfilenode", Oid),
    ("reltablespace", Oid),
    ("relpages", Int4),
    ("reltuples", Float4),
    ("relallvisible", Int4),
    ("reltoastrelid", Oid),
    ("relhasindex", Bool),
    ("relisshared", Bool),
    ("relpersistence", Text),
    ("relistemp", Bool),
    ("relkind", Text),
    ("relnatts", Int2),
    ("relchecks", Int2),
    ("relhasrules", Bool),
    ("relhastriggers", Bool),
    ("relhassubclass", Bool),
    ("relrowsecurity", Bool),
    ("relforcerowsecurity", Bool),
    ("relispopulated", Bool),
    ("relreplident", Text),
    ("relispartition", Bool),
    ("relrewrite", Oid),
    ("relfrozenxid", Int8),
    ("relminmxid", Int8),
    ("relacl", TextArray),
    ("reloptions", TextArray),
    ("relpartbound", Text),
];

const PG_ATTRIBUTE: &[(&str, Col)] = &[
    ("attrelid", Oid),
    ("attname", Text),
    ("atttypid", Oid),
    ("attstattarget", Int4),
    ("attlen", Int2),
    ("attnum", Int2),
    ("attndims", Int4),
    ("attcacheoff", Int4),
    ("atttypmod", Int4),
    ("attbyval", Bool),
    ("attstorage", Text),
    ("attalign", Text),
    ("attnotnull", Bool),
    ("atthasdef", Bool),
    ("atthasmissing", Bool),
    ("attidentity", Text),
    ("attgenerated", Text),
    ("attisdropped", Bool),
    ("attislocal", Bool),
    ("attinhcount", Int4),
    ("attcollation", Oid),
    ("attacl", TextArray),
    ("attoptions", TextArray),
    ("attfdwoptions", TextArray),
];

const PG_TYPE: &[(&str, Col)] = &[
    ("oid", Oid),
    ("typname", Text),
    ("typnamespace", Oid),
    ("typowner", Oid),
    ("typlen", Int2),
    ("typbyval", Bool),
    ("typtype", Text),
    ("typcategory", Text),
    ("typispreferred", Bool),
    ("typisdefined", Bool),
    ("typdelim", Text),
    ("typrelid", Oid),
    ("typelem", Oid),
    ("typarray", Oid),
    ("typinput", Text),
    ("typoutput", Text),
    ("typnotnull", Bool),
    ("typbasetype", Oid),
    ("typtypmod", Int4),
    ("typndims", Int4),
    ("typcollation", Oid),
    ("typdefault", Text),
];

const PG_INDEX: &[(&str, Col)] = &[
    ("indexrelid", Oid),
    ("indrelid", Oid),
    ("indnatts", Int2),
    ("indnkeyatts", Int2),
    ("indisunique", Bool),
    ("indisprimary", Bool),
    ("indisexclusion", Bool),
    ("indimmediate", Bool),
    ("indisclustered", Bool),
    ("indisvalid", Bool),
    ("indcheckxmin", Bool),
    ("indisready", Bool),
    ("indislive", Bool),
    ("indisreplident", Bool),
    ("indkey", Int2Array),
    ("indcollation", OidArray),
    ("indclass", OidArray),
    ("indoption", Int2Array),
    ("indexprs", Text),
    ("indpred", Text),
];

const PG_CONSTRAINT: &[(&str, Col)] = &[
    ("oid", Oid),
    ("conname", Text),
    ("connamespace", Oid),
    ("contype", Text),
    ("condeferrable", Bool),
    ("condeferred", Bool),
    ("convalidated", Bool),
    ("conrelid", Oid),
    ("contypid", Oid),
    ("conindid", Oid),
    ("conparentid", Oid),
    ("confrelid", Oid),
    ("confupdtype", Text),
    ("confdeltype", Text),
    ("confmatchtype", Text),
    ("conislocal", Bool),
    ("coninhcount", Int4),
    ("connoinherit", Bool),
    ("conkey", Int2Array),
    ("confkey", Int2Array),
    ("conbin", Text),
    ("consrc", Text),
];

const DESCRIPTION: &[(&str, Col)] = &[
    ("objoid", Oid),
    ("classoid", Oid),
    ("objsubid", Int4),
    ("description", Text),
];

const PG_SETTINGS: &[(&str, Col)] = &[
    ("name", Text),
    ("setting", Text),
    ("unit", Text),
    ("category", Text),
    ("short_desc", Text),
    ("extra_desc", Text),
    ("context", Text),
    ("vartype", Text),
    ("source", Text),
    ("min_val", Text),
    ("max_val", Text),
    ("enumvals", Text),
    ("boot_val", Text),
    ("reset_val", Text),
    ("sourcefile", Text),
    ("sourceline", Int4),
    ("pending_restart", Bool),
];

const ROLES: &[(&str, Col)] = &[
    ("oid", Oid),
    ("rolname", Text),
    ("usename", Text),
    ("rolsuper", Bool),
    ("rolinherit", Bool),
    ("rolcreaterole", Bool),
    ("rolcreatedb", Bool),
    ("rolcanlogin", Bool),
    ("rolreplication", Bool),
    ("rolconnlimit", Int4),
    ("rolbypassrls", Bool),
    ("usesuper", Bool),
    ("rolvaliduntil", Timestamp),
    ("rolpassword", Text),
];

const PG_TRIGGER: &[(&str, Col)] = &[
    ("oid", Oid),
    ("tgrelid", Oid),
    ("tgparentid", Oid),
    ("tgname", Text),
    ("tgfoid", Oid),
    ("tgtype", Int2),
    ("tgenabled", Text),
    ("tgisinternal", Bool),
    ("tgconstrrelid", Oid),
    ("tgconstrindid", Oid),
    ("tgconstraint", Oid),
    ("tgdeferrable", Bool),
    ("tginitdeferred", Bool),
    ("tgnargs", Int2),
];

const VIEWS: &[(&str, Col)] = &[
    ("schemaname", Text),
    ("viewname", Text),
    ("viewowner", Text),
    ("definition", Text),
];

fn pg_database(databases: &[(String, u64)]) -> Vec<Row> {
    databases
        .iter()
        .map(|(name, id)| {
            vec![
                i(*id as i64),
                s(name.clone()),
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
            ]
        })
        .collect()
}

fn pg_namespace(o: &Catalog<'_>) -> Vec<Row> {
    let virtual_schemas = SCHEMAS.iter().map(|v| (v.name.to_string(), v.oid));
    let schemas = o.schemas.iter().map(|(n, id)| (n.clone(), *id as i64));
    virtual_schemas
        .chain(schemas)
        .map(|(n, id)| vec![i(id), s(n), i(1), Datum::Null])
        .collect()
}

/// A relation of pg_class: a table or an index.
struct Relation {
    oid: i64,
    name: String,
    namespace: i64,
    kind: &'static str,
    am: i64,
    natts: i64,
    checks: i64,
    has_index: bool,
}

fn pg_class(o: &Catalog<'_>) -> Vec<Row> {
    let mut rels = Vec::new();
    for (sname, t) in &o.tables {
        let ns = o.schema_oid(sname);
        rels.push(Relation {
            oid: t.id as i64,
            name: t.name.clone(),
            namespace: ns,
            kind: "r",
            am: 2,
            natts: t.columns.iter().filter(|c| !c.hidden).count() as i64,
            checks: t.checks.len() as i64,
            has_index: true,
        });
        for idx in t.all_indexes() {
            rels.push(Relation {
                oid: index_oid(t.id, idx.id),
                name: idx.name.clone(),
                namespace: ns,
                kind: "i",
                am: 403,
                natts: idx.columns.len() as i64,
                checks: 0,
                has_index: false,
            });
        }
    }
    rels.into_iter().map(class_row).collect()
}

fn class_row(r: Relation) -> Row {
    vec![
        i(r.oid),
        s(r.name),
        i(r.namespace),
        i(0),
        i(0),
        i(1),
        i(r.am),
        i(0),
        i(0),
        i(0),
        Datum::Float(0.0),
        i(0),
        i(0),
        b(r.has_index),
        b(false),
        s("p"),
        b(false),
        s(r.kind),
        i(r.natts),
        i(r.checks),
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
}

fn pg_attribute(o: &Catalog<'_>) -> Vec<Row> {
    let mut rows = Vec::new();
    for (_, t) in &o.tables {
        for c in t.columns.iter().filter(|c| !c.hidden) {
            rows.push(attribute_row(
                t.id as i64,
                &c.name,
                &c.ty,
                i64::from(c.id),
                !c.nullable,
                (c.default.is_some(), c.computed.is_some()),
            ));
        }
        for idx in t.all_indexes() {
            for (n, id) in idx.columns.iter().enumerate() {
                if let Some(c) = t.column(*id) {
                    rows.push(attribute_row(
                        index_oid(t.id, idx.id),
                        &c.name,
                        &c.ty,
                        n as i64 + 1,
                        !c.nullable,
                        (false, false),
                    ));
                }
            }
        }
    }
    rows
}

/// A pg_attribute row; `(has_default, generated)`.
fn attribute_row(
    rel: i64,
    name: &str,
    ty: &Type,
    num: i64,
    notnull: bool,
    (has_default, generated): (bool, bool),
) -> Row {
    vec![
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
        b(has_default),
        b(false),
        s(""),
        s(if generated { "s" } else { "" }),
        b(false),
        b(true),
        i(0),
        i(if ty.family() == Family::String {
            100
        } else {
            0
        }),
        Datum::Null,
        Datum::Null,
        Datum::Null,
    ]
}

fn pg_type(o: &Catalog<'_>) -> Vec<Row> {
    let mut rows: Vec<Row> = builtin_types().iter().map(builtin_type_row).collect();
    for (sname, td) in &o.types {
        let t = Type::Enum {
            id: td.id,
            name: td.name.clone(),
        };
        rows.push(vec![
            i(i64::from(t.oid())),
            s(td.name.clone()),
            i(o.schema_oid(sname)),
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
    rows
}

fn builtin_type_row(t: &Type) -> Row {
    let (elem, array) = match t {
        Type::Array(e) => (i64::from(e.oid()), 0),
        other => (0, i64::from(Type::Array(Box::new(other.clone())).oid())),
    };
    let cat = match t.family() {
        Family::Array => "A",
        Family::Bool => "B",
        Family::Int | Family::Float | Family::Decimal | Family::Oid => "N",
        Family::String => "S",
        Family::Date | Family::Timestamp | Family::TimestampTz => "D",
        Family::Interval => "T",
        _ => "U",
    };
    let name = type_name(t);
    vec![
        i(i64::from(t.oid())),
        s(name.clone()),
        i(PG_CATALOG_OID),
        i(1),
        i(type_len(t)),
        b(type_len(t) > 0),
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
    ]
}

fn pg_enum(o: &Catalog<'_>) -> Vec<Row> {
    let mut rows = Vec::new();
    for (_, td) in &o.types {
        let t = Type::Enum {
            id: td.id,
            name: td.name.clone(),
        };
        for (n, l) in td.labels().iter().enumerate() {
            rows.push(vec![
                i(i64::from(t.oid()) * 1000 + n as i64),
                i(i64::from(t.oid())),
                Datum::Float(n as f64 + 1.0),
                s(l.clone()),
            ]);
        }
    }
    rows
}

fn pg_index(o: &Catalog<'_>) -> Vec<Row> {
    let mut rows = Vec::new();
    for (sname, t) in &o.tables {
        for idx in t.all_indexes() {
            let ioid = index_oid(t.id, idx.id);
            o.defs.lock().insert(ioid, index_def(t, sname, idx));
            let n = (idx.columns.len() + idx.stored.len()) as i64;
            rows.push(vec![
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
    rows
}

/// A constraint of pg_constraint.
struct Constraint<'t> {
    name: &'t str,
    kind: &'static str,
    index: i64,
    fk: Option<&'t ForeignKeyDesc>,
    keys: &'t [ColumnId],
    def: String,
    src: Option<String>,
}

fn pg_constraint(o: &Catalog<'_>) -> Vec<Row> {
    let mut rows = Vec::new();
    for (sname, t) in &o.tables {
        let ns = o.schema_oid(sname);
        for (n, c) in constraints(o, t).into_iter().enumerate() {
            let coid = super::CONSTRAINT_OID_BASE + t.id as i64 * 100 + n as i64 + 1;
            rows.push(constraint_row(coid, ns, t, &c));
            o.defs.lock().insert(coid, c.def);
        }
    }
    rows
}

/// A table's unique indexes, checks and foreign keys, in that order.
fn constraints<'t>(o: &'t Catalog<'_>, t: &'t TableDesc) -> Vec<Constraint<'t>> {
    let mut out = Vec::new();
    for idx in t.all_indexes().filter(|i| i.unique) {
        let primary = idx.id == PRIMARY_INDEX_ID;
        out.push(Constraint {
            name: &idx.name,
            kind: if primary { "p" } else { "u" },
            index: index_oid(t.id, idx.id),
            fk: None,
            keys: &idx.columns,
            def: format!(
                "{} ({})",
                if primary { "PRIMARY KEY" } else { "UNIQUE" },
                col_names(t, &idx.columns)
            ),
            src: None,
        });
    }
    for ch in &t.checks {
        out.push(Constraint {
            name: &ch.name,
            kind: "c",
            index: 0,
            fk: None,
            keys: &[],
            def: format!("CHECK (({}))", ch.expr),
            src: Some(ch.expr.clone()),
        });
    }
    for fk in &t.foreign_keys {
        let parent = o.tables.iter().find(|(_, p)| p.id == fk.ref_table);
        let (pname, pcols) = match parent {
            Some((_, p)) => (p.name.clone(), col_names(p, &fk.ref_columns)),
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
        out.push(Constraint {
            name: &fk.name,
            kind: "f",
            index: 0,
            fk: Some(fk),
            keys: &fk.columns,
            def,
            src: None,
        });
    }
    out
}

fn constraint_row(coid: i64, ns: i64, t: &TableDesc, c: &Constraint<'_>) -> Row {
    let action = |a: FkAction| match a {
        FkAction::Restrict => "a",
        FkAction::Cascade => "c",
        FkAction::SetNull => "n",
        FkAction::SetDefault => "d",
    };
    let fk = c.fk;
    vec![
        i(coid),
        s(c.name),
        i(ns),
        s(c.kind),
        b(false),
        b(false),
        b(true),
        i(t.id as i64),
        i(0),
        i(c.index),
        i(0),
        i(fk.map_or(0, |f| f.ref_table as i64)),
        s(fk.map_or(" ", |f| action(f.on_update))),
        s(fk.map_or(" ", |f| action(f.on_delete))),
        s(if fk.is_some() { "s" } else { " " }),
        b(true),
        i(0),
        b(true),
        attnums(c.keys),
        fk.map_or(Datum::Null, |f| attnums(&f.ref_columns)),
        c.src.clone().map_or(Datum::Null, s),
        c.src.clone().map_or(Datum::Null, s),
    ]
}

fn pg_attrdef(o: &Catalog<'_>) -> Vec<Row> {
    let mut rows = Vec::new();
    for (_, t) in &o.tables {
        for c in &t.columns {
            if let Some(d) = c.default.as_ref().or(c.computed.as_ref()) {
                rows.push(vec![
                    i(t.id as i64 * 1000 + i64::from(c.id)),
                    i(t.id as i64),
                    i(i64::from(c.id)),
                    s(d.clone()),
                    s(d.clone()),
                ]);
            }
        }
    }
    rows
}

fn pg_settings(o: &Catalog<'_>) -> Vec<Row> {
    o.vars
        .iter()
        .map(|(k, val)| {
            // name, setting; unit to enumvals; boot_val, reset_val, sourcefile, sourceline,
            // pending_restart.
            let mut row = vec![s(k.clone()), s(val.clone())];
            row.extend((0..10).map(|_| Datum::Null));
            row.extend([
                s(val.clone()),
                Datum::Null,
                Datum::Null,
                Datum::Null,
                b(false),
            ]);
            row
        })
        .collect()
}

/// A role's oid: a hash of its name, so that pg_roles and pg_auth_members agree.
fn role_oid(name: &str) -> i64 {
    let mut h: u32 = 2_166_136_261;
    for byte in name.bytes() {
        h = (h ^ u32::from(byte)).wrapping_mul(16_777_619);
    }
    // Above the oids of built-in objects, as PostgreSQL's user roles are.
    i64::from(h | 0x8000_0000)
}

fn roles(o: &Catalog<'_>) -> Vec<Row> {
    o.users
        .iter()
        .map(|u| {
            let admin = o.memberships.is_admin(&u.name) || u.name == "admin";
            vec![
                i(role_oid(&u.name)),
                s(u.name.clone()),
                s(u.name.clone()),
                b(admin),
                b(true),
                b(admin),
                b(admin),
                b(u.login),
                b(false),
                i(-1),
                b(false),
                b(admin),
                Datum::Null,
                // PostgreSQL shows the password column of pg_roles masked.
                s("********"),
            ]
        })
        .collect()
}

fn pg_auth_members(o: &Catalog<'_>) -> Vec<Row> {
    o.memberships
        .0
        .iter()
        .flat_map(|(role, members)| {
            members.iter().map(move |(member, m)| {
                vec![
                    i(role_oid(role)),
                    i(role_oid(member)),
                    i(role_oid("root")),
                    b(m.admin_option),
                ]
            })
        })
        .collect()
}

fn pg_tables(o: &Catalog<'_>) -> Vec<Row> {
    o.tables
        .iter()
        .map(|(sname, t)| {
            vec![
                s(sname.clone()),
                s(t.name.clone()),
                s("root"),
                Datum::Null,
                b(true),
                b(false),
                b(false),
                b(false),
            ]
        })
        .collect()
}

fn pg_indexes(o: &Catalog<'_>) -> Vec<Row> {
    let mut rows = Vec::new();
    for (sname, t) in &o.tables {
        for idx in t.all_indexes() {
            rows.push(vec![
                i(index_oid(t.id, idx.id)),
                s(sname.clone()),
                s(t.name.clone()),
                s(idx.name.clone()),
                Datum::Null,
                s(index_def(t, sname, idx)),
            ]);
        }
    }
    rows
}

/// The types pg_type lists: the scalars and their arrays.
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

/// PostgreSQL's typlen (-1 for variable length).
fn type_len(t: &Type) -> i64 {
    i64::from(crate::pgwire::value::type_size(t))
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

/// An index as `CREATE INDEX` (pg_indexes, `pg_get_indexdef`).
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
