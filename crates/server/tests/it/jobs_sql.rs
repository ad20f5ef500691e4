//! Jobs SQL over the wire on a three-region cluster: SHOW JOBS columns, the coordinator chosen
//! by execution locality, PAUSE/RESUME/CANCEL transitions and their errors, SHOW JOB WHEN
//! COMPLETE, `[SHOW JOBS]` as a data source, and the flow plan in `crdb_internal.job_plans`.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use jobs::{FlowPlanSummary, JobContext, JobError, JobType, NewJob, NodePlanSummary, Resumer};
use locality::LocalityFilter;

/// Records progress, a plan and a status, then waits until told to stop.
struct Waiting;

impl Resumer for Waiting {
    fn resume(&self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let me = ctx.node().node_id();
            ctx.set_plan(FlowPlanSummary {
                nodes: vec![NodePlanSummary {
                    node_id: me,
                    locality: ctx.node().locality().to_string(),
                    ranges: 3,
                    bytes: 4096,
                    leaseholder: 2,
                    replica_holder: 1,
                    most_similar: 0,
                    rebalanced: 0,
                }],
            })
            .await?;
            ctx.set_running_status("waiting for the test").await?;
            ctx.update_progress(0.5, b"half".to_vec()).await?;
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                ctx.reload().await?;
            }
        })
    }
}

async fn status_of(c: &tokio_postgres::Client, id: i64) -> String {
    let row = c
        .query_one(&format!("SELECT status FROM [SHOW JOB {id}]"), &[])
        .await
        .expect("show job");
    row.get(0)
}

async fn eventually_status(c: &tokio_postgres::Client, id: i64, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = status_of(c, id).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} is {got}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_pause_resume_cancel_jobs_over_the_wire() {
    let cluster = crate::start_serving_sql(&[
        "region=us-east1,az=b",
        "region=us-west1,az=a",
        "region=europe-west1,az=c",
    ])
    .await;
    let mut registries = Vec::new();
    for i in 0..3 {
        let sql = cluster.sql(i).expect("sql");
        let reg = sql.jobs().expect("job registry");
        reg.register_resumer(JobType::Backup, Arc::new(Waiting));
        registries.push(reg);
    }
    let west = cluster.node(1).node_id();
    let id = registries[0]
        .create_job(NewJob {
            execution_locality: Some(LocalityFilter::parse("region=us-west1").expect("filter")),
            user: "root".into(),
            ..NewJob::new(JobType::Backup, "BACKUP INTO 'nodelocal://1/x' WITH OPTIONS (execution locality = 'region=us-west1')")
        })
        .await
        .expect("create job");

    let client = crate::connect(&cluster, 0).await;

    // Running on the us-west1 node, with its progress.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = client
            .query(
                "SELECT job_id, job_type, status, coordinator_id, fraction_completed, running_status \
                 FROM [SHOW JOBS] WHERE job_id = $1",
                &[&id],
            )
            .await
            .expect("show jobs");
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        let status: String = r.get(2);
        let fraction: f64 = r.get(4);
        if status == "running" && fraction == 0.5 {
            assert_eq!(r.get::<_, String>(1), "BACKUP");
            assert_eq!(r.get::<_, Option<i64>>(3), Some(west.0 as i64));
            assert_eq!(
                r.get::<_, Option<String>>(5).as_deref(),
                Some("waiting for the test")
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job never ran: {status} {fraction}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // SHOW JOBS has CockroachDB's columns.
    let row = client
        .query_one(&format!("SHOW JOB {id}"), &[])
        .await
        .expect("show job");
    let names: Vec<&str> = row.columns().iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [
            "job_id",
            "job_type",
            "description",
            "statement",
            "user_name",
            "status",
            "running_status",
            "created",
            "started",
            "finished",
            "modified",
            "fraction_completed",
            "error",
            "coordinator_id",
            "trace_id",
            "last_run",
            "next_run",
            "num_runs",
            "execution_errors"
        ]
    );

    // The plan, as rows and as text.
    let rows = client
        .query(
            "SELECT node_id, ranges, leaseholder_ranges FROM crdb_internal.job_plans WHERE job_id = $1",
            &[&id],
        )
        .await
        .expect("job_plans");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i64>(0), west.0 as i64);
    assert_eq!(rows[0].get::<_, i64>(1), 3);
    let row = client
        .query_one(&format!("SHOW JOB {id} WITH EXECUTION DETAILS"), &[])
        .await
        .expect("execution details");
    let loc: Option<String> = row.get("execution_locality");
    let details: String = row.get("execution_details");
    assert_eq!(loc.as_deref(), Some("region=us-west1"));
    assert!(
        details.contains("3 ranges") && details.contains("2 leaseholder"),
        "{details}"
    );
    assert!(
        details.starts_with(&format!("{west} region=us-west1")),
        "one line per node, named like n3: {details}"
    );

    // PAUSE, PAUSE again (no-op), RESUME, CANCEL.
    client
        .batch_execute(&format!("PAUSE JOB {id}"))
        .await
        .expect("pause");
    eventually_status(&client, id, "paused").await;
    client
        .batch_execute(&format!("PAUSE JOB {id}"))
        .await
        .expect("pause is a no-op");
    client
        .batch_execute(&format!("RESUME JOB {id}"))
        .await
        .expect("resume");
    eventually_status(&client, id, "running").await;
    client
        .batch_execute(&format!("CANCEL JOB {id}"))
        .await
        .expect("cancel");
    let row = client
        .query_one(&format!("SHOW JOB WHEN COMPLETE {id}"), &[])
        .await
        .expect("when complete");
    assert_eq!(row.get::<_, String>("status"), "canceled");
    assert!(
        row.get::<_, Option<chrono::NaiveDateTime>>("finished")
            .is_some()
    );

    // Errors with CockroachDB's texts and codes.
    let err = client
        .batch_execute(&format!("RESUME JOB {id}"))
        .await
        .expect_err("resume canceled");
    let db = err.as_db_error().expect("db error");
    assert_eq!(db.message(), "job with status canceled cannot be resumed");
    assert_eq!(db.code().code(), "55000");
    client
        .batch_execute(&format!("CANCEL JOB {id}"))
        .await
        .expect("cancel of a canceled job is a no-op");
    let err = client
        .batch_execute("SHOW JOB 12345")
        .await
        .expect_err("unknown job");
    assert_eq!(
        err.as_db_error().expect("db error").message(),
        "job with ID 12345 does not exist"
    );

    // The plural form over a query.
    let row = client
        .query_one(
            "SELECT count(*) FROM [SHOW JOBS] WHERE status = 'canceled'",
            &[],
        )
        .await
        .expect("count");
    assert_eq!(row.get::<_, i64>(0), 1);
    cluster.shutdown().await;
}
