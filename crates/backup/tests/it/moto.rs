//! Full and incremental backups of movr to moto, a second S3 implementation, restored into a
//! new database and compared with the source table by table, row for row.

use client::workload::movr::data::Sizes;
use sql::Datum;

use crate::cluster::{TestCluster, TestNode};
use crate::movr;

/// Changes about one row in a hundred of every movr table: updates, deletes and inserts.
async fn change_one_percent(node: &TestNode) -> usize {
    let mut changed = 0;
    let every =
        |rows: &[Vec<String>]| -> Vec<Vec<String>> { rows.iter().step_by(100).cloned().collect() };
    let users = movr::rows(node, "movr", "users").await;
    for u in every(&users) {
        // users: (id, city, name, address, credit_card)
        node.ok(
            "movr",
            &format!(
                "UPDATE users SET name = 'renamed {}' WHERE city = '{}' AND id = '{}'",
                u[0], u[1], u[0]
            ),
        )
        .await;
        changed += 1;
    }
    let rides = movr::rows(node, "movr", "rides").await;
    for r in every(&rides) {
        node.ok(
            "movr",
            &format!(
                "UPDATE rides SET revenue = 1.25, end_address = NULL WHERE city = '{}' AND id = '{}'",
                r[1], r[0]
            ),
        )
        .await;
        changed += 1;
    }
    let histories = movr::rows(node, "movr", "vehicle_location_histories").await;
    for h in every(&histories) {
        // vehicle_location_histories: (city, ride_id, timestamp, lat, long)
        node.ok(
            "movr",
            &format!(
                "DELETE FROM vehicle_location_histories \
                 WHERE city = '{}' AND ride_id = '{}' AND \"timestamp\" = '{}'",
                h[0], h[1], h[2]
            ),
        )
        .await;
        changed += 1;
    }
    let codes = movr::rows(node, "movr", "promo_codes").await;
    for p in every(&codes) {
        node.ok(
            "movr",
            &format!(
                "UPDATE promo_codes SET description = 'changed' WHERE code = '{}'",
                p[0]
            ),
        )
        .await;
        changed += 1;
    }
    node.ok(
        "movr",
        "INSERT INTO promo_codes (code, description) VALUES ('new_code_1', 'added'), ('new_code_2', 'added')",
    )
    .await;
    changed + 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn movr_full_and_incremental_backup_to_moto() {
    let Some(s3) = cloud::testing::Moto::start().await else {
        return;
    };
    let c = TestCluster::start(&["region=us-east1,zone=us-east1-a"]).await;
    let node = &c.nodes[0];
    let loaded = movr::load(node, "movr", Sizes::default()).await;
    let total = movr::total(&loaded);
    let coll = s3.uri(&s3.bucket, "movr");

    let r = node
        .ok("defaultdb", &format!("BACKUP DATABASE movr INTO '{coll}'"))
        .await;
    assert_eq!(r.rows[0][1], Datum::String("succeeded".into()));
    assert_eq!(r.rows[0][3], Datum::Int(total as i64), "{loaded:?}");

    let changed = change_one_percent(node).await;
    assert!(
        changed * 100 >= total as usize / 2 && changed * 100 <= total as usize * 2,
        "about 1% changed: {changed} of {total}"
    );
    let r = node
        .ok(
            "defaultdb",
            &format!("BACKUP DATABASE movr INTO LATEST IN '{coll}'"),
        )
        .await;
    assert_eq!(r.rows[0][1], Datum::String("succeeded".into()));
    let incremental_rows = match r.rows[0][3] {
        Datum::Int(n) => n as usize,
        ref other => panic!("rows: {other:?}"),
    };
    assert!(
        incremental_rows > 0 && incremental_rows <= changed,
        "the incremental holds the changed rows only: {incremental_rows} rows for {changed} \
         changes"
    );

    let backups = node
        .ok("defaultdb", &format!("SHOW BACKUPS IN '{coll}'"))
        .await;
    assert_eq!(
        backups.rows.len(),
        1,
        "one full backup with its incremental"
    );
    node.ok(
        "defaultdb",
        &format!("RESTORE DATABASE movr FROM LATEST IN '{coll}' WITH new_db_name = 'movr_moto'"),
    )
    .await;
    movr::assert_same(node, "movr", "movr_moto").await;
    c.shutdown().await;
}
