//! Session and node facts, ids, the `pg_catalog` functions clients call (most of them answer
//! as an empty PostgreSQL would), and `crdb_internal` functions.

use super::{Args, Builtin, Call, Ret};
use crate::error::{Result, SqlError};
use crate::types::{self, Datum, Type};

const STRING: Ret = Ret::Is(Type::String);
const INT: Ret = Ret::Is(Type::Int8);
const BOOL: Ret = Ret::Is(Type::Bool);

fn string(s: impl Into<String>) -> Result<Datum> {
    Ok(Datum::String(s.into()))
}

pub(super) static BUILTINS: &[Builtin] = &[
    // Session and node facts.
    Builtin::new(&["version"], Args::Exact(0), STRING, |_| {
        string("CockroachDB CCL v23.1.0 (Sextant, Rust)")
    }),
    Builtin::new(
        &["current_database", "current_catalog"],
        Args::Exact(0),
        STRING,
        |c| string(c.env.database.clone()),
    ),
    Builtin::new(&["current_schema"], Args::Exact(0), STRING, |_| {
        string("public")
    }),
    Builtin::new(
        &["current_user", "session_user", "user"],
        Args::Exact(0),
        STRING,
        |c| string(c.env.user.clone()),
    ),
    Builtin::new(
        &["cluster_logical_timestamp"],
        Args::Exact(0),
        STRING,
        |c| string(c.env.logical_ts.clone()),
    ),
    Builtin::new(&["gateway_region"], Args::Exact(0), STRING, |c| {
        c.env
            .gateway_region
            .clone()
            .map(Datum::String)
            .ok_or_else(|| {
                SqlError::invalid_parameter("no region set on the locality flag on this node")
            })
    }),
    Builtin::new(
        &["default_to_database_primary_region"],
        Args::OneString,
        STRING,
        default_to_database_primary_region,
    )
    .sees_nulls(),
    Builtin::new(
        &["crdb_internal.locality_value"],
        Args::Exact(1),
        STRING,
        |c| {
            let key = c.text(0);
            Ok(c.env
                .locality
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(Datum::Null, |(_, v)| Datum::String(v.clone())))
        },
    ),
    Builtin::new(&["crdb_internal.node_id"], Args::Exact(0), INT, |c| {
        Ok(Datum::Int(c.env.node_id as i64))
    }),
    Builtin::new(
        &["crdb_internal.cluster_name"],
        Args::Exact(0),
        STRING,
        |_| string(""),
    ),
    Builtin::new(&["pg_typeof"], Args::Exact(1), STRING, |c| {
        string(
            c.args
                .first()
                .map_or("unknown".into(), |v| v.natural_type().pg_name()),
        )
    })
    .sees_nulls(),
    // Ids.
    Builtin::new(
        &["gen_random_uuid", "uuid_generate_v4", "uuid_v4"],
        Args::Exact(0),
        Ret::Is(Type::Uuid),
        |_| Ok(Datum::Uuid(uuid::Uuid::new_v4())),
    )
    .volatile(),
    Builtin::new(&["unique_rowid"], Args::Exact(0), INT, |c| {
        Ok(Datum::Int(unique_rowid(c.env)))
    })
    .volatile(),
    // pg_catalog: users, encodings, types.
    Builtin::new(
        &["pg_get_userbyid", "pg_catalog.pg_get_userbyid"],
        Args::Exact(1),
        STRING,
        |_| string("root"),
    ),
    Builtin::new(
        &["pg_encoding_to_char", "pg_catalog.pg_encoding_to_char"],
        Args::Exact(1),
        STRING,
        |_| string("UTF8"),
    ),
    Builtin::new(
        &["format_type", "pg_catalog.format_type"],
        Args::Range(1, 2),
        STRING,
        format_type,
    ),
    // pg_catalog: visibility, privileges and recovery are all yes (and no recovery).
    Builtin::new(
        &[
            "pg_table_is_visible",
            "pg_catalog.pg_table_is_visible",
            "pg_type_is_visible",
            "pg_catalog.pg_type_is_visible",
            "pg_function_is_visible",
            "pg_catalog.pg_function_is_visible",
        ],
        Args::Exact(1),
        BOOL,
        |_| Ok(Datum::Bool(true)),
    ),
    Builtin::new(
        &[
            "has_table_privilege",
            "has_schema_privilege",
            "has_database_privilege",
        ],
        Args::Range(2, 3),
        BOOL,
        |_| Ok(Datum::Bool(true)),
    ),
    Builtin::new(
        &["pg_is_in_recovery", "pg_catalog.pg_is_in_recovery"],
        Args::Exact(0),
        BOOL,
        |_| Ok(Datum::Bool(false)),
    ),
    // pg_catalog: definitions. Index and constraint definitions are recorded when pg_index
    // and pg_constraint are read (`EvalEnv::defs`).
    Builtin::new(
        &["pg_get_indexdef", "pg_catalog.pg_get_indexdef"],
        Args::Range(1, 3),
        STRING,
        recorded_def,
    ),
    Builtin::new(
        &["pg_get_constraintdef", "pg_catalog.pg_get_constraintdef"],
        Args::Range(1, 2),
        STRING,
        recorded_def,
    ),
    Builtin::new(
        &["pg_get_expr", "pg_catalog.pg_get_expr"],
        Args::Range(2, 3),
        STRING,
        |c| string(c.text(0)),
    ),
    Builtin::new(
        &["pg_get_triggerdef", "pg_catalog.pg_get_triggerdef"],
        Args::Range(1, 2),
        STRING,
        |_| string(""),
    ),
    Builtin::new(
        &["obj_description", "pg_catalog.obj_description"],
        Args::Range(1, 2),
        STRING,
        |_| Ok(Datum::Null),
    )
    .sees_nulls(),
    Builtin::new(
        &[
            "col_description",
            "pg_catalog.col_description",
            "shobj_description",
            "pg_catalog.shobj_description",
        ],
        Args::Exact(2),
        STRING,
        |_| Ok(Datum::Null),
    )
    .sees_nulls(),
    Builtin::new(
        &[
            "pg_get_partkeydef",
            "pg_catalog.pg_get_partkeydef",
            "pg_catalog.pg_get_statisticsobjdef_columns",
        ],
        Args::Exact(1),
        STRING,
        |_| Ok(Datum::Null),
    )
    .sees_nulls(),
    // pg_catalog: partitions, publications, settings, sizes.
    Builtin::new(
        &[
            "pg_partition_ancestors",
            "pg_catalog.pg_partition_ancestors",
        ],
        Args::Exact(1),
        Ret::Is(Type::Oid),
        |c| types::cast(c.take(0), &Type::Oid),
    ),
    Builtin::new(
        &[
            "pg_relation_is_publishable",
            "pg_catalog.pg_relation_is_publishable",
        ],
        Args::Exact(1),
        BOOL,
        |_| Ok(Datum::Bool(false)),
    ),
    Builtin::new(
        &["current_setting", "pg_catalog.current_setting"],
        Args::Range(1, 2),
        STRING,
        |_| string(""),
    ),
    Builtin::new(
        &["pg_relation_size", "pg_catalog.pg_relation_size"],
        Args::Range(1, 2),
        INT,
        |_| Ok(Datum::Int(0)),
    ),
    Builtin::new(
        &[
            "pg_total_relation_size",
            "pg_catalog.pg_total_relation_size",
            "pg_database_size",
            "pg_catalog.pg_database_size",
        ],
        Args::Exact(1),
        INT,
        |_| Ok(Datum::Int(0)),
    ),
    Builtin::new(
        &["pg_size_pretty", "pg_catalog.pg_size_pretty"],
        Args::Exact(1),
        STRING,
        |c| string(format!("{} bytes", c.text(0))),
    ),
];

/// CockroachDB's testing builtin: a panic inside a statement, to show that it stays inside its
/// connection. Only built with the `testing` feature.
#[cfg(feature = "testing")]
pub(super) static TESTING: &[Builtin] = &[Builtin::new(
    &["crdb_internal.force_panic"],
    Args::Exact(1),
    INT,
    |c| panic!("{}", c.text(0)),
)];

/// Without the `testing` feature there are no testing builtins.
#[cfg(not(feature = "testing"))]
pub(super) static TESTING: &[Builtin] = &[];

/// The region itself when the database has it, else the database's primary region.
fn default_to_database_primary_region(c: &mut Call<'_>) -> Result<Datum> {
    let v = c.take(0);
    if let Datum::String(r) = &v
        && c.env.db_regions.contains(r)
    {
        return Ok(v);
    }
    Ok(c.env
        .db_primary_region
        .clone()
        .map_or(Datum::Null, Datum::String))
}

/// The definition recorded for an index or constraint oid; NULL for another oid.
fn recorded_def(c: &mut Call<'_>) -> Result<Datum> {
    let oid = c.int(0)?;
    Ok(c.env
        .defs
        .lock()
        .get(&oid)
        .map_or(Datum::Null, |d| Datum::String(d.clone())))
}

fn format_type(c: &mut Call<'_>) -> Result<Datum> {
    let oid = u32::try_from(c.int(0)?).unwrap_or(0);
    let typmod = if c.has(1) { c.int(1)? } else { -1 };
    let name = match oid {
        1043 if typmod >= 4 => format!("character varying({})", typmod - 4),
        1042 if typmod >= 4 => format!("character({})", typmod - 4),
        1700 if typmod >= 4 => {
            format!("numeric({},{})", (typmod - 4) >> 16, (typmod - 4) & 0xffff)
        }
        1043 => "character varying".into(),
        1042 => "character".into(),
        _ => match Type::from_oid(oid) {
            Some(t) => t.pg_name(),
            None if oid >= 100_000 => "USER-DEFINED".into(),
            None => "unknown".into(),
        },
    };
    string(name)
}

fn unique_rowid(env: &super::EvalEnv) -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    // CockroachDB: timestamp in 10µs units shifted left by 15 bits, plus the node id.
    let micros = env.now.timestamp_micros() / 10;
    let candidate = (micros << 15) | (env.node_id as i64 & 0x7fff);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = if candidate > prev {
            candidate
        } else {
            prev + (1 << 15)
        };
        match LAST.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lookup;
    use super::*;

    #[test]
    fn format_type_names_types_as_postgres() {
        let env = super::super::EvalEnv::default();
        let f = |args: Vec<Datum>| {
            let mut c = Call {
                name: "format_type",
                env: &env,
                args,
            };
            format_type(&mut c).expect("format_type")
        };
        let s = |v: &str| Datum::String(v.into());
        assert_eq!(
            f(vec![Datum::Int(1043), Datum::Int(24)]),
            s("character varying(20)")
        );
        assert_eq!(f(vec![Datum::Int(1043)]), s("character varying"));
        assert_eq!(f(vec![Datum::Int(20)]), s("bigint"));
        assert_eq!(f(vec![Datum::Int(100_005)]), s("USER-DEFINED"));
        assert_eq!(f(vec![Datum::Int(77)]), s("unknown"));
        assert!(lookup("pg_catalog.format_type").is_some());
    }
}
