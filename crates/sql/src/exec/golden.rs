//! Goldenscript tests of planning and row encoding, over a fixed in-memory schema (no KV):
//!
//! - `kv (k INT8 PRIMARY KEY, v STRING, n INT8, INDEX kv_n_idx (n), UNIQUE INDEX kv_v_key (v))`
//! - `ab (a INT8, b STRING, c DECIMAL, PRIMARY KEY (a, b DESC))`
//!
//! Commands (literal lines):
//! - `> explain <query>`: the EXPLAIN tree of the plan.
//! - `> encode <table> <v1, v2, ...>`: a row's primary and secondary index entries (keys
//!   pretty-printed and in hex, values in hex), decoded back to check the round trip.
//!
//! Regenerate with `UPDATE_GOLDENFILES=1 cargo test -p sextant-sql` and review the diff.

use std::error::Error;
use std::fmt::Write as _;
use std::sync::Arc;

use super::compile::{PlanEnv, Planner, Resolved};
use crate::catalog::*;
use crate::encoding;
use crate::types::{Datum, Type, parse_datum};

fn col(id: ColumnId, name: &str, ty: Type, nullable: bool) -> ColumnDesc {
    ColumnDesc {
        id,
        name: name.into(),
        ty,
        nullable,
        default: None,
        hidden: false,
        computed: None,
    }
}

fn index(
    id: IndexId,
    name: &str,
    unique: bool,
    columns: Vec<ColumnId>,
    descending: Vec<bool>,
) -> IndexDesc {
    IndexDesc {
        id,
        name: name.into(),
        unique,
        columns,
        descending,
        stored: Vec::new(),
    }
}

fn table(
    id: u64,
    name: &str,
    columns: Vec<ColumnDesc>,
    pk: IndexDesc,
    indexes: Vec<IndexDesc>,
) -> TableDesc {
    TableDesc {
        id,
        parent_id: DEFAULTDB_ID,
        schema_id: DEFAULTDB_ID + 1,
        name: name.into(),
        version: 1,
        next_column_id: columns.len() as u32 + 1,
        columns,
        primary_index: pk,
        next_index_id: indexes.len() as u32 + 2,
        indexes,
        checks: Vec::new(),
        foreign_keys: Vec::new(),
        locality: None,
        inbound_fks: Vec::new(),
    }
}

/// The schema the scripts run over (also the sample catalog of the virtual table tests).
pub(super) fn schema() -> Vec<TableDesc> {
    vec![
        table(
            104,
            "kv",
            vec![
                col(1, "k", Type::Int8, false),
                col(2, "v", Type::String, true),
                col(3, "n", Type::Int8, true),
            ],
            index(1, "kv_pkey", true, vec![1], vec![false]),
            vec![
                index(2, "kv_n_idx", false, vec![3], vec![false]),
                index(3, "kv_v_key", true, vec![2], vec![false]),
            ],
        ),
        table(
            105,
            "ab",
            vec![
                col(1, "a", Type::Int8, false),
                col(2, "b", Type::String, false),
                col(3, "c", Type::decimal(), true),
            ],
            index(1, "ab_pkey", true, vec![1, 2], vec![false, true]),
            vec![],
        ),
    ]
}

struct PlanRunner {
    env: PlanEnv,
    tables: Vec<TableDesc>,
}

impl base::testing::GoldenRunner for PlanRunner {
    fn run(&mut self, command: &goldenscript::Command) -> Result<String, Box<dyn Error>> {
        let line = command.name.clone();
        let (verb, rest) = line.split_once(' ').unwrap_or((&line, ""));
        match verb {
            "explain" => {
                let stmt = crate::parser::parse_one(rest).map_err(|e| e.to_string())?;
                let crate::parser::Statement::Query(q) = stmt else {
                    return Err("not a query".into());
                };
                let mut p = Planner::new(&self.env);
                let (plan, _) = p.plan_query(&q.query).map_err(|e| e.to_string())?;
                Ok(plan.explain().join("\n") + "\n")
            }
            "encode" => {
                let (name, values) = rest.split_once(' ').ok_or("encode <table> <values>")?;
                let t = self
                    .tables
                    .iter()
                    .find(|t| t.name == name)
                    .ok_or("no such table")?;
                let row: Vec<Datum> = values
                    .split(',')
                    .map(str::trim)
                    .zip(&t.columns)
                    .map(|(v, c)| {
                        if v.eq_ignore_ascii_case("null") {
                            Ok(Datum::Null)
                        } else {
                            parse_datum(v, &c.ty)
                        }
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string())?;
                let mut out = String::new();
                let key = encoding::primary_key(t, &row).map_err(|e| e.to_string())?;
                let value = encoding::primary_value(t, &row);
                writeln!(out, "{}: {key}", t.primary_index.name)?;
                writeln!(out, "  key   {}", hex(&key.0))?;
                writeln!(out, "  value {}", hex(&value))?;
                let back = encoding::decode_row(t, &key, &value).map_err(|e| e.to_string())?;
                if !super::expr::group_eq(&back, &row) {
                    return Err(format!("round trip: {back:?}").into());
                }
                for idx in &t.indexes {
                    let (k, v) =
                        encoding::secondary_entry(t, idx, &row).map_err(|e| e.to_string())?;
                    writeln!(out, "{}: {k}", idx.name)?;
                    writeln!(out, "  key   {}", hex(&k.0))?;
                    writeln!(out, "  value {}", hex(&v))?;
                    let pk =
                        encoding::decode_secondary_pk(t, idx, &k, &v).map_err(|e| e.to_string())?;
                    let expect: Vec<Datum> =
                        t.pk_positions().iter().map(|p| row[*p].clone()).collect();
                    if !super::expr::group_eq(&pk, &expect) {
                        return Err(format!("secondary pk round trip: {pk:?}").into());
                    }
                }
                Ok(out)
            }
            _ => Err(format!("unknown command {verb:?}").into()),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn runner() -> PlanRunner {
    let tables = schema();
    let mut env = PlanEnv::default();
    for t in &tables {
        env.tables
            .insert(t.name.clone(), Resolved::Table(Arc::new(t.clone())));
    }
    PlanRunner { env, tables }
}

base::goldenscripts! {
    runner: runner(),
    dir: "src/exec/testdata",
    scripts: [plan, encoding],
}
