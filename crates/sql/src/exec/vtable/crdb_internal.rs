//! `crdb_internal`: CockroachDB's introspection tables, over the node's job registry.

use super::super::jobs::{JOB_COLUMNS, job_row};
use super::Col::*;
use super::{Rows, VirtualTable};
use crate::encoding::Row;
use crate::types::Datum;
use jobs::JobRecord;

/// The tables of `crdb_internal`.
pub(super) static TABLES: &[VirtualTable] = &[
    // Every job: SHOW JOBS' columns with the execution locality and plan.
    VirtualTable {
        name: "jobs",
        columns: JOB_COLUMNS,
        rows: Rows::Jobs(|records| records.iter().map(|j| job_row(j, true)).collect()),
    },
    // One row per job and node of the job's last flow plan.
    VirtualTable {
        name: "job_plans",
        columns: &[
            ("job_id", Int8),
            ("node_id", Int8),
            ("locality", Text),
            ("ranges", Int8),
            ("bytes", Int8),
            ("leaseholder_ranges", Int8),
            ("replica_ranges", Int8),
            ("most_similar_ranges", Int8),
            ("rebalanced_ranges", Int8),
        ],
        rows: Rows::Jobs(job_plans),
    },
];

fn job_plans(records: &[JobRecord]) -> Vec<Row> {
    let mut rows = Vec::new();
    for j in records {
        for n in j.plan.iter().flat_map(|p| p.nodes.iter()) {
            rows.push(vec![
                Datum::Int(j.id),
                Datum::Int(n.node_id.0 as i64),
                Datum::String(n.locality.clone()),
                Datum::Int(n.ranges as i64),
                Datum::Int(i64::try_from(n.bytes).unwrap_or(i64::MAX)),
                Datum::Int(n.leaseholder as i64),
                Datum::Int(n.replica_holder as i64),
                Datum::Int(n.most_similar as i64),
                Datum::Int(n.rebalanced as i64),
            ]);
        }
    }
    rows
}
