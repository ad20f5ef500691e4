//! Jobs SQL: `SHOW JOBS` in its forms and `PAUSE`/`RESUME`/`CANCEL JOB(S)`, over the node's
//! [`jobs::Registry`]. The virtual tables `crdb_internal.jobs` (SHOW JOBS' columns and rows,
//! `JOB_COLUMNS`, `job_row`) and `crdb_internal.job_plans` are defined in
//! `vtable::crdb_internal`.
//!
//! `SHOW JOBS` prints CockroachDB's columns (`job_id, job_type, description, statement,
//! user_name, status, running_status, created, started, finished, modified,
//! fraction_completed, error, coordinator_id, trace_id, last_run, next_run, num_runs,
//! execution_errors`): by default the jobs that are running or finished in the last 12 hours,
//! latest first. `WITH EXECUTION DETAILS` adds the execution locality and the job's flow plan,
//! per node (`n4 region=us-west1,az=a: 12 ranges, 3.1 MiB (8 leaseholder, 4 replica)`).
//! `crdb_internal.job_plans` has the same plan as rows, one per job and node, so a query can
//! check it (`SELECT node_id, ranges FROM crdb_internal.job_plans WHERE job_id = ...`).
//!
//! `SHOW JOB WHEN COMPLETE <id>` and `SHOW JOBS WHEN COMPLETE <query>` wait in the server (on the
//! job record, not by polling from the client) until every selected job is terminal.

use std::time::Duration;

use base::errcode;
use chrono::{DateTime, Utc};
use jobs::{JobError, JobId, JobRecord, Registry};

use super::StmtCtx;
use super::compile::{PlanEnv, Planner};
use super::vtable::Col;
use crate::catalog::users;
use crate::error::{Result, SqlError};
use crate::parser::{
    ControlJobs, JobCommand, JobKind, JobSelection, ShowJobs, Statement, redact_sql,
};
use crate::session::{Column, StatementResult};
use crate::types::Datum;

/// How long `SHOW JOBS` (without an id) looks back at finished jobs.
const RECENT: chrono::TimeDelta = chrono::TimeDelta::hours(12);

/// How long `WHEN COMPLETE` waits before giving up, as CockroachDB.
const WHEN_COMPLETE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The SQL error of a registry error: its own code ([`JobError::code`]), else XX000.
pub fn job_error(e: JobError) -> SqlError {
    SqlError::new(e.code().unwrap_or(errcode::INTERNAL_ERROR), e.to_string())
}

fn registry(ctx: &StmtCtx<'_>) -> Result<Registry> {
    ctx.server.jobs().ok_or_else(|| {
        SqlError::new(
            errcode::OBJECT_NOT_IN_PREREQUISITE_STATE,
            "the job registry of this node is not running",
        )
    })
}

/// The columns of SHOW JOBS, in CockroachDB's order; the last two only `WITH EXECUTION
/// DETAILS` (`crdb_internal.jobs` has them all).
pub(super) const JOB_COLUMNS: &[(&str, Col)] = &[
    ("job_id", Col::Int8),
    ("job_type", Col::Text),
    ("description", Col::Text),
    ("statement", Col::Text),
    ("user_name", Col::Text),
    ("status", Col::Text),
    ("running_status", Col::Text),
    ("created", Col::Timestamp),
    ("started", Col::Timestamp),
    ("finished", Col::Timestamp),
    ("modified", Col::Timestamp),
    ("fraction_completed", Col::Float8),
    ("error", Col::Text),
    ("coordinator_id", Col::Int8),
    ("trace_id", Col::Int8),
    ("last_run", Col::Timestamp),
    ("next_run", Col::Timestamp),
    ("num_runs", Col::Int8),
    ("execution_errors", Col::TextArray),
    ("execution_locality", Col::Text),
    ("execution_details", Col::Text),
];

/// How many of [`JOB_COLUMNS`] SHOW JOBS has without execution details.
const JOB_COLUMNS_WITHOUT_DETAILS: usize = 19;

fn ts(t: Option<DateTime<Utc>>) -> Datum {
    t.map_or(Datum::Null, |t| Datum::Timestamp(t.naive_utc()))
}

fn opt_str(s: Option<&str>) -> Datum {
    s.map_or(Datum::Null, |s| Datum::String(s.to_string()))
}

/// One job as a SHOW JOBS row. The description and statement are redacted again
/// ([`redact_sql`]): a record written before its job type redacted something still shows no
/// secret.
pub(super) fn job_row(j: &JobRecord, details: bool) -> Vec<Datum> {
    let mut row = vec![
        Datum::Int(j.id),
        Datum::String(j.job_type.as_str().to_string()),
        Datum::String(redact_sql(&j.description)),
        Datum::String(redact_sql(&j.statement)),
        Datum::String(j.user_name.clone()),
        Datum::String(j.status.as_str().to_string()),
        opt_str(j.running_status.as_deref()),
        ts(Some(j.created)),
        ts(j.started),
        ts(j.finished),
        ts(Some(j.modified)),
        Datum::Float(f64::from(j.fraction_completed)),
        Datum::String(j.error.clone().unwrap_or_default()),
        j.coordinator_id
            .map_or(Datum::Null, |n| Datum::Int(n.0 as i64)),
        Datum::Int(0),
        ts(j.last_run),
        Datum::Null,
        Datum::Int(j.num_runs),
        Datum::Array(
            j.execution_errors
                .iter()
                .map(|e| Datum::String(e.clone()))
                .collect(),
        ),
    ];
    if details {
        row.push(opt_str(j.execution_locality.as_deref()));
        row.push(Datum::String(plan_text(j)));
    }
    row
}

/// The flow plan of a job, one line per node.
pub fn plan_text(j: &JobRecord) -> String {
    let Some(plan) = &j.plan else {
        return "no flow planned yet".to_string();
    };
    if plan.nodes.is_empty() {
        return "no ranges to process".to_string();
    }
    plan.nodes
        .iter()
        .map(|n| {
            let mut why = Vec::new();
            for (count, what) in [
                (n.leaseholder, "leaseholder"),
                (n.replica_holder, "replica"),
                (n.most_similar, "most similar"),
                (n.rebalanced, "rebalanced"),
            ] {
                if count > 0 {
                    why.push(format!("{count} {what}"));
                }
            }
            format!(
                "{} {}: {} ranges, {} ({})",
                n.node_id,
                n.locality,
                n.ranges,
                human_bytes(n.bytes),
                why.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The job ids a selection names: an id expression or the first column of a query.
async fn selected_ids(ctx: &mut StmtCtx<'_>, sel: &JobSelection) -> Result<Option<Vec<JobId>>> {
    match sel {
        JobSelection::All => Ok(None),
        JobSelection::Id(e) => {
            let env = PlanEnv::default();
            let mut p = Planner::with_params(&env, ctx.param_types.clone());
            let (x, _) = p.compile(e, &[], &mut None)?;
            super::expr::no_subquery(&x, "a job ID")?;
            let eval_ctx = super::expr::EvalCtx {
                params: &ctx.params,
                outer: &[],
                env: &ctx.env,
            };
            let v = super::expr::eval(&x, &eval_ctx, &[])?;
            Ok(Some(vec![job_id_of(&v)?]))
        }
        JobSelection::Query(q) => {
            let stmt = Statement::Query(q.clone());
            let r = Box::pin(ctx.run(&stmt)).await?;
            let mut ids = Vec::new();
            for row in &r.rows {
                match row.first() {
                    Some(Datum::Null) | None => {}
                    Some(d) => ids.push(job_id_of(d)?),
                }
            }
            Ok(Some(ids))
        }
    }
}

fn job_id_of(d: &Datum) -> Result<JobId> {
    match d {
        Datum::Int(i) => Ok(*i),
        Datum::Decimal(dec) => {
            use rust_decimal::prelude::ToPrimitive;
            dec.to_i64()
                .ok_or_else(|| SqlError::invalid_parameter(format!("invalid job id {dec}")))
        }
        Datum::String(s) => s
            .trim()
            .parse()
            .map_err(|_| SqlError::invalid_parameter(format!("invalid job id {s:?}"))),
        other => Err(SqlError::new(
            errcode::DATATYPE_MISMATCH,
            format!("job id must be an integer, not {other}"),
        )),
    }
}

/// `SHOW [AUTOMATIC] JOB(S) ...`. (`SHOW CHANGEFEED JOBS` belongs to the changefeed hook.)
/// What the session's user may do with jobs (CockroachDB's `jobsauth`): admins everything;
/// `VIEWJOB` or `CONTROLJOB` show every job, `CONTROLJOB` controls every job not owned by an
/// admin; a user always sees and controls its own jobs (as CockroachDB 24.1 and later).
struct JobAccess {
    user: String,
    memberships: users::Memberships,
    admin: bool,
    view_all: bool,
    control_all: bool,
}

impl JobAccess {
    async fn read(ctx: &StmtCtx<'_>) -> Result<JobAccess> {
        let memberships = users::Memberships::read(&ctx.reader).await?;
        let grants = users::Grants::system(&ctx.reader).await?;
        let user = ctx.user.clone();
        let control_all = grants.holds(&memberships, &user, "CONTROLJOB");
        Ok(JobAccess {
            admin: memberships.is_admin(&user),
            view_all: control_all || grants.holds(&memberships, &user, "VIEWJOB"),
            control_all,
            memberships,
            user,
        })
    }

    fn may_view(&self, j: &JobRecord) -> bool {
        self.admin || self.view_all || j.user_name == self.user
    }

    fn check_control(&self, j: &JobRecord) -> Result<()> {
        if self.admin || j.user_name == self.user {
            return Ok(());
        }
        let refused = |m: String| Err(SqlError::new(errcode::INSUFFICIENT_PRIVILEGE, m));
        if self.memberships.is_admin(&j.user_name) {
            return refused("only admins can control jobs owned by other admins".into());
        }
        if self.control_all {
            return Ok(());
        }
        refused(format!(
            "user {} does not have privileges for job {}",
            self.user, j.id
        ))
    }
}

pub async fn show_jobs(ctx: &mut StmtCtx<'_>, s: &ShowJobs) -> Result<StatementResult> {
    let access = JobAccess::read(ctx).await?;
    let mut records = Box::pin(visible_jobs(ctx, s)).await?;
    let Some(records) = records.as_mut() else {
        return Ok(StatementResult::rows(job_columns(s), Vec::new()));
    };
    // CockroachDB hides what a user may not see; a job named by id says so instead.
    if matches!(s.selection, JobSelection::Id(_))
        && let Some(j) = records.iter().find(|j| !access.may_view(j))
    {
        return Err(SqlError::new(
            errcode::INSUFFICIENT_PRIVILEGE,
            format!(
                "user {} does not have privileges for job {}",
                access.user, j.id
            ),
        ));
    }
    records.retain(|j| access.may_view(j));
    if s.kind == JobKind::Changefeed {
        let Some(format) = ctx.server.changefeed_jobs_formatter() else {
            return Err(SqlError::unimplemented(
                "SHOW CHANGEFEED JOBS is not available yet",
            ));
        };
        return Ok(format(records));
    }
    let rows = records
        .iter()
        .map(|j| job_row(j, s.execution_details))
        .collect();
    Ok(StatementResult::rows(job_columns(s), rows))
}

fn job_columns(s: &ShowJobs) -> Vec<Column> {
    let shown = if s.execution_details {
        JOB_COLUMNS.len()
    } else {
        JOB_COLUMNS_WITHOUT_DETAILS
    };
    JOB_COLUMNS
        .iter()
        .take(shown)
        .map(|(n, c)| Column::new(*n, c.ty()))
        .collect()
}

/// The records SHOW JOBS lists before access is checked; `None` for automatic jobs (there
/// are none).
async fn visible_jobs(ctx: &mut StmtCtx<'_>, s: &ShowJobs) -> Result<Option<Vec<JobRecord>>> {
    let reg = registry(ctx)?;
    let ids = selected_ids(ctx, &s.selection).await?;
    if s.kind == JobKind::Changefeed {
        let mut records = match &ids {
            Some(ids) => selected_records(&reg, ids, s).await?,
            None => reg.list().await.map_err(job_error)?,
        };
        records.retain(|r| r.job_type == jobs::JobType::Changefeed);
        if ids.is_none() {
            records.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
        }
        return Ok(Some(records));
    }
    if s.kind == JobKind::Automatic {
        // Sextant runs no automatic jobs (statistics and span configs are not jobs here).
        return Ok(None);
    }
    let records = match &ids {
        Some(ids) => selected_records(&reg, ids, s).await?,
        None => {
            if s.when_complete {
                return Err(SqlError::syntax(
                    "SHOW JOBS WHEN COMPLETE needs a job id or a query",
                ));
            }
            // The node's clock, which the records' times come from (not the process's wall
            // clock: a node may run with an offset).
            let now = reg.now();
            let mut all: Vec<JobRecord> = reg
                .list()
                .await
                .map_err(job_error)?
                .into_iter()
                .filter(|j| j.finished.is_none_or(|f| now - f < RECENT))
                .collect();
            all.sort_by(|a, b| {
                let fa = a.finished.unwrap_or(now);
                let fb = b.finished.unwrap_or(now);
                fb.cmp(&fa)
                    .then(b.started.cmp(&a.started))
                    .then(b.id.cmp(&a.id))
            });
            all
        }
    };
    Ok(Some(records))
}

/// The records of the jobs `ids` names, in order; with `WHEN COMPLETE`, once each is terminal.
/// `SHOW JOBS <query>` skips ids that are not jobs, like CockroachDB's join against the jobs
/// table; `SHOW JOB <id>` says so.
async fn selected_records(reg: &Registry, ids: &[JobId], s: &ShowJobs) -> Result<Vec<JobRecord>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let rec = if s.when_complete {
            wait_terminal(reg, *id).await?
        } else {
            match reg.get(*id).await {
                Ok(r) => r,
                Err(JobError::NotFound(_)) if matches!(s.selection, JobSelection::Query(_)) => {
                    continue;
                }
                Err(e) => return Err(job_error(e)),
            }
        };
        out.push(rec);
    }
    Ok(out)
}

async fn wait_terminal(reg: &Registry, id: JobId) -> Result<JobRecord> {
    match tokio::time::timeout(WHEN_COMPLETE_TIMEOUT, reg.wait_for_job(id)).await {
        Ok(r) => r.map_err(job_error),
        Err(_) => Err(SqlError::new(
            errcode::OBJECT_NOT_IN_PREREQUISITE_STATE,
            "timed out waiting for jobs",
        )),
    }
}

/// `PAUSE | RESUME | CANCEL  JOB <id> | JOBS <query>`. The tag counts the jobs acted on, as
/// CockroachDB (`PAUSE JOBS 2`).
pub async fn control_jobs(ctx: &mut StmtCtx<'_>, c: &ControlJobs) -> Result<StatementResult> {
    let reg = registry(ctx)?;
    let ids = selected_ids(ctx, &c.selection)
        .await?
        .ok_or_else(|| SqlError::syntax(format!("{} needs a job id or a query", c.command)))?;
    let access = JobAccess::read(ctx).await?;
    for id in &ids {
        access.check_control(&reg.get(*id).await.map_err(job_error)?)?;
    }
    for id in &ids {
        let r = match c.command {
            JobCommand::Pause => reg.pause(*id).await,
            JobCommand::Resume => reg.resume(*id).await,
            JobCommand::Cancel => reg.cancel(*id).await,
        };
        r.map_err(job_error)?;
    }
    let tag = match (&c.selection, c.command) {
        (JobSelection::Query(_), cmd) => format!("{cmd} JOBS {}", ids.len()),
        (_, cmd) => format!("{cmd} JOB"),
    };
    Ok(StatementResult::tag(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 + 100_000), "3.1 MiB");
    }

    #[test]
    fn job_ids_come_from_ints_decimals_and_strings() {
        assert_eq!(job_id_of(&Datum::Int(42)).expect("int"), 42);
        assert_eq!(job_id_of(&Datum::String(" 7 ".into())).expect("str"), 7);
        assert!(job_id_of(&Datum::Bool(true)).is_err());
    }

    /// A record as an older Sextant may have written it: the statement as given, secrets
    /// and all, in its description.
    fn record_with(description: &str) -> JobRecord {
        jobs::testing::record(jobs::JobType::Backup, description, Vec::new())
    }

    /// SHOW JOBS and crdb_internal.jobs (both rows of [`job_row`]) show no secret of a
    /// description, even one written unredacted.
    mod no_secret_is_shown {
        use super::*;
        use crate::parser::redact_tests::secret_statement;
        use base::redact::testing::assert_hidden;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn by_show_jobs(sql in secret_statement()) {
                for details in [false, true] {
                    for d in job_row(&record_with(&sql), details) {
                        assert_hidden(&d.to_string(), &format!("SHOW JOBS of {sql:?}"));
                    }
                }
            }
        }

        #[test]
        fn descriptions_without_secrets_are_kept() {
            let d = "BACKUP DATABASE d INTO 'nodelocal://1/x' WITH OPTIONS (detached)";
            let row = job_row(&record_with(d), false);
            assert_eq!(row[2], Datum::String(d.into()));
            assert_eq!(row[3], Datum::String(d.into()));
        }
    }
}
