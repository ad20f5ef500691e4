//! A sinkless changefeed over the wire: `EXPERIMENTAL CHANGEFEED FOR t` without an end streams
//! its rows to the client as they are committed, resolved messages included, until the client
//! goes away.

use std::time::Duration;

use crate::connect;
use futures::StreamExt;
use tokio_postgres::SimpleQueryMessage;

/// BYTES come as `\x` and hex digits in text format.
fn unhex(text: &str) -> String {
    let Some(hex) = text.strip_prefix("\\x") else {
        return text.to_string();
    };
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The next data row of the stream as `table | key | value` (resolved: `NULL | NULL | ...`).
async fn next_row(
    stream: &mut (
             impl futures::Stream<Item = Result<SimpleQueryMessage, tokio_postgres::Error>> + Unpin
         ),
) -> String {
    loop {
        let item = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("a row within 20 s")
            .expect("the stream goes on")
            .expect("no error");
        if let SimpleQueryMessage::Row(r) = item {
            return (0..3)
                .map(|i| r.get(i).map_or("NULL".to_string(), unhex))
                .collect::<Vec<_>>()
                .join(" | ");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_sinkless_changefeed_streams_rows_as_they_commit() {
    let cluster = crate::start_serving_sql(&["region=us-east1,az=b"]).await;
    let writer = connect(&cluster, 0).await;
    writer
        .batch_execute(
            "CREATE TABLE t (a INT PRIMARY KEY, b STRING); INSERT INTO t VALUES (1, 'x'), (2, 'y')",
        )
        .await
        .expect("schema");

    let reader = connect(&cluster, 0).await;
    let mut feed = Box::pin(
        reader
            .simple_query_raw("EXPERIMENTAL CHANGEFEED FOR t WITH resolved = '1s'")
            .await
            .expect("feed starts"),
    );
    // The initial scan, then the changes committed while the statement runs, in order per key.
    let mut first = vec![next_row(&mut feed).await, next_row(&mut feed).await];
    first.retain(|r| !r.starts_with("NULL"));
    assert_eq!(
        first,
        [
            r#"t | [1] | {"after": {"a": 1, "b": "x"}}"#,
            r#"t | [2] | {"after": {"a": 2, "b": "y"}}"#,
        ]
    );
    writer
        .batch_execute("INSERT INTO t VALUES (3, 'z'); UPDATE t SET b = 'x2' WHERE a = 1; DELETE FROM t WHERE a = 2")
        .await
        .expect("changes");
    let mut changes = Vec::new();
    let mut resolved = 0;
    while changes.len() < 3 || resolved == 0 {
        let row = next_row(&mut feed).await;
        if row.starts_with("NULL | NULL | ") {
            assert!(row.contains(r#"{"resolved":""#), "{row}");
            resolved += 1;
        } else {
            changes.push(row);
        }
    }
    changes.sort();
    assert_eq!(
        changes,
        [
            r#"t | [1] | {"after": {"a": 1, "b": "x2"}}"#,
            r#"t | [2] | {"after": null}"#,
            r#"t | [3] | {"after": {"a": 3, "b": "z"}}"#,
        ]
    );
    // The client goes away; the node goes on serving others.
    drop(feed);
    drop(reader);
    let rows = writer
        .simple_query("SELECT count(*) FROM t")
        .await
        .expect("query after the feed");
    assert!(
        rows.iter()
            .any(|m| matches!(m, SimpleQueryMessage::Row(r) if r.get(0) == Some("2"))),
        "{rows:?}"
    );
    cluster.shutdown().await;
}
