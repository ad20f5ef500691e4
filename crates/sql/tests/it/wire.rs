//! The PostgreSQL wire protocol, from the client's side: tokio-postgres for the extended
//! protocol (prepared statements, typed parameters, binary results, portals, errors), and a
//! raw socket for what drivers hide (ReadyForQuery states, command tags, SSL refusal,
//! malformed input).

use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::error::SqlState;

use crate::cluster::TestCluster;

/// What the raw client saw in answer to one query.
#[derive(Debug, Default)]
struct Reply {
    /// Message type bytes in order.
    kinds: Vec<u8>,
    /// CommandComplete tags.
    tags: Vec<String>,
    /// SQLSTATEs of ErrorResponses.
    errors: Vec<String>,
    /// Error positions.
    positions: Vec<String>,
    /// The ReadyForQuery status.
    status: u8,
}

struct Raw {
    stream: TcpStream,
}

impl Raw {
    async fn connect(addr: &str) -> Raw {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        // SSLRequest first, as psql with sslmode=prefer does: refused with 'N'.
        stream
            .write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
            .await
            .expect("ssl request");
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer).await.expect("ssl answer");
        assert_eq!(&answer, b"N");
        let mut body = 196_608u32.to_be_bytes().to_vec();
        body.extend_from_slice(b"user\0root\0database\0defaultdb\0\0");
        let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        packet.extend_from_slice(&body);
        stream.write_all(&packet).await.expect("startup");
        let mut raw = Raw { stream };
        let r = raw.until_ready().await;
        assert_eq!(r.kinds.first(), Some(&b'R'), "{r:?}");
        assert!(r.kinds.contains(&b'S') && r.kinds.contains(&b'K'), "{r:?}");
        assert_eq!(r.status, b'I');
        raw
    }

    async fn send(&mut self, kind: u8, body: &[u8]) {
        let mut m = vec![kind];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        self.stream.write_all(&m).await.expect("send");
    }

    /// Reads one message; `None` at EOF.
    async fn message(&mut self) -> Option<(u8, Vec<u8>)> {
        let kind = self.stream.read_u8().await.ok()?;
        let len = self.stream.read_u32().await.ok()? as usize;
        let mut body = vec![0; len - 4];
        self.stream.read_exact(&mut body).await.ok()?;
        Some((kind, body))
    }

    async fn until_ready(&mut self) -> Reply {
        let mut r = Reply::default();
        loop {
            let (kind, body) = tokio::time::timeout(Duration::from_secs(30), self.message())
                .await
                .expect("reply in time")
                .expect("connection open");
            r.kinds.push(kind);
            match kind {
                b'C' => r
                    .tags
                    .push(String::from_utf8_lossy(&body[..body.len() - 1]).into_owned()),
                b'E' => {
                    for field in body.split(|b| *b == 0) {
                        match field.split_first() {
                            Some((b'C', code)) => {
                                r.errors.push(String::from_utf8_lossy(code).into_owned())
                            }
                            Some((b'P', pos)) => {
                                r.positions.push(String::from_utf8_lossy(pos).into_owned())
                            }
                            _ => {}
                        }
                    }
                }
                b'Z' => {
                    r.status = body[0];
                    return r;
                }
                _ => {}
            }
        }
    }

    async fn query(&mut self, sql: &str) -> Reply {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        self.send(b'Q', &body).await;
        self.until_ready().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_protocol_tags_and_transaction_states() {
    let c = TestCluster::start(&["region=us-east1,az=b"]).await;
    let addr = c.nodes[0].sql_addr.clone();
    let mut raw = Raw::connect(&addr).await;

    let r = raw
        .query("CREATE TABLE k (id INT PRIMARY KEY); INSERT INTO k VALUES (1), (2), (3); SELECT id FROM k WHERE id < 3 ORDER BY id")
        .await;
    assert_eq!(r.tags, ["CREATE TABLE", "INSERT 0 3", "SELECT 2"], "{r:?}");
    assert_eq!(r.kinds.iter().filter(|k| **k == b'T').count(), 1);
    assert_eq!(r.kinds.iter().filter(|k| **k == b'D').count(), 2);
    assert_eq!(r.status, b'I');

    // An empty query.
    let r = raw.query(" ; ").await;
    assert!(r.kinds.contains(&b'I'), "{r:?}");

    // A syntax error runs nothing and says where.
    let r = raw.query("INSERT INTO k VALUES (9); SELEC 1").await;
    assert_eq!(r.errors, ["42601"], "{r:?}");
    let at: usize = r
        .positions
        .first()
        .and_then(|p| p.parse().ok())
        .expect("a position");
    assert!(at >= 27, "position {at} is not in the second statement");
    assert!(r.tags.is_empty());

    // I -> T -> E -> I.
    assert_eq!(raw.query("BEGIN").await.status, b'T');
    let r = raw.query("INSERT INTO k VALUES (4)").await;
    assert_eq!((r.tags[0].as_str(), r.status), ("INSERT 0 1", b'T'));
    let r = raw.query("SELECT 1 / 0").await;
    assert_eq!((r.errors[0].as_str(), r.status), ("22012", b'E'), "{r:?}");
    let r = raw.query("SELECT 1").await;
    assert_eq!((r.errors[0].as_str(), r.status), ("25P02", b'E'), "{r:?}");
    let r = raw.query("ROLLBACK").await;
    assert_eq!((r.tags[0].as_str(), r.status), ("ROLLBACK", b'I'));
    let r = raw.query("SELECT count(*) FROM k").await;
    assert_eq!(r.tags, ["SELECT 1"]);

    // The first failing statement of a string ends it; the ones before it ran.
    let r = raw
        .query("INSERT INTO k VALUES (5); INSERT INTO k VALUES (5); INSERT INTO k VALUES (6)")
        .await;
    assert_eq!(r.tags, ["INSERT 0 1"], "{r:?}");
    assert_eq!(r.errors, ["23505"], "{r:?}");

    // A malformed message is a protocol violation that closes the connection...
    raw.send(b'B', &[0, 0, 0xff]).await;
    let (kind, body) = raw.message().await.expect("error response");
    assert_eq!(kind, b'E');
    assert!(String::from_utf8_lossy(&body).contains("08P01"));
    assert!(raw.message().await.is_none(), "connection closed");
    // ...as does a cancel request, answered with nothing; garbage startup packets too.
    let mut cancel = TcpStream::connect(&addr).await.expect("connect");
    cancel
        .write_all(&[0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 0, 0, 0, 2])
        .await
        .expect("cancel");
    assert_eq!(cancel.read(&mut [0u8; 8]).await.expect("eof"), 0);
    let mut garbage = TcpStream::connect(&addr).await.expect("connect");
    garbage
        .write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])
        .await
        .expect("garbage");
    let mut rest = Vec::new();
    let _ = garbage.read_to_end(&mut rest).await;
    // The server still serves.
    let mut again = Raw::connect(&addr).await;
    assert_eq!(again.query("SELECT 1").await.tags, ["SELECT 1"]);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_protocol_with_typed_parameters() {
    let c = TestCluster::start(&["region=us-east1,az=b"]).await;
    let client = c.connect(0, "defaultdb").await;
    client
        .batch_execute(
            "CREATE TABLE v (id INT PRIMARY KEY, i2 INT2, i4 INT4, f4 FLOAT4, f8 FLOAT8, \
             n DECIMAL(10,3), s STRING, vc VARCHAR(10), b BOOL, by BYTES, u UUID, d DATE, \
             ts TIMESTAMP, tz TIMESTAMPTZ, iv INTERVAL, j JSONB, a INT[])",
        )
        .await
        .expect("create");
    let insert = client
        .prepare(
            "INSERT INTO v VALUES ($1, $2, $3, $4, $5, 12345.678, $6, $7, $8, $9, $10, $11, \
             $12, $13, '1 day 02:00:00', $14, $15)",
        )
        .await
        .expect("prepare insert");
    let day = NaiveDate::from_ymd_opt(2024, 2, 29).expect("date");
    let ts = day.and_hms_micro_opt(13, 14, 15, 123_456).expect("ts");
    let tz = Utc.from_utc_datetime(&ts);
    let u = uuid::Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
    let j = serde_json::json!({"k": [1, "two", null]});
    let a: Vec<i64> = vec![3, 1, 2];
    let n = client
        .execute(
            &insert,
            &[
                &1i64,
                &-7i16,
                &70_000i32,
                &1.5f32,
                &-2.25f64,
                &"héllo",
                &"short",
                &true,
                &vec![0u8, 1, 255],
                &u,
                &day,
                &ts,
                &tz,
                &j,
                &a,
            ],
        )
        .await
        .expect("insert");
    assert_eq!(n, 1);

    // Binary results, read back as Rust types.
    let row = client
        .query_one(
            "SELECT id, i2, i4, f4, f8, s, vc, b, by, u, d, ts, tz, j, a, n::STRING, iv::STRING \
             FROM v WHERE id = $1",
            &[&1i64],
        )
        .await
        .expect("select");
    assert_eq!(row.get::<_, i64>(0), 1);
    assert_eq!(row.get::<_, i16>(1), -7);
    assert_eq!(row.get::<_, i32>(2), 70_000);
    assert_eq!(row.get::<_, f32>(3), 1.5);
    assert_eq!(row.get::<_, f64>(4), -2.25);
    assert_eq!(row.get::<_, String>(5), "héllo");
    assert_eq!(row.get::<_, String>(6), "short");
    assert!(row.get::<_, bool>(7));
    assert_eq!(row.get::<_, Vec<u8>>(8), vec![0, 1, 255]);
    assert_eq!(row.get::<_, uuid::Uuid>(9), u);
    assert_eq!(row.get::<_, NaiveDate>(10), day);
    assert_eq!(row.get::<_, chrono::NaiveDateTime>(11), ts);
    assert_eq!(row.get::<_, chrono::DateTime<Utc>>(12), tz);
    assert_eq!(row.get::<_, serde_json::Value>(13), j);
    assert_eq!(row.get::<_, Vec<i64>>(14), a);
    assert_eq!(row.get::<_, String>(15), "12345.678");
    assert_eq!(row.get::<_, String>(16), "1 day 02:00:00");

    // Text parameters and results through the simple protocol agree.
    let rows = client
        .simple_query("SELECT b, tz, a FROM v")
        .await
        .expect("simple");
    let first = rows
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .expect("a row");
    assert_eq!(first.get(0), Some("t"));
    assert_eq!(first.get(1), Some("2024-02-29 13:14:15.123456+00"));
    assert_eq!(first.get(2), Some("{3,1,2}"));

    // Errors carry their SQLSTATE.
    let e = client
        .execute(
            &insert,
            &[
                &1i64,
                &0i16,
                &0i32,
                &0f32,
                &0f64,
                &"",
                &"",
                &false,
                &Vec::<u8>::new(),
                &u,
                &day,
                &ts,
                &tz,
                &j,
                &a,
            ],
        )
        .await
        .expect_err("duplicate key");
    assert_eq!(e.code(), Some(&SqlState::UNIQUE_VIOLATION), "{e:?}");
    let e = client
        .query("SELECT * FROM missing", &[])
        .await
        .expect_err("missing table");
    assert_eq!(e.code(), Some(&SqlState::UNDEFINED_TABLE));
    let e = client.prepare("SELEC 1").await.expect_err("syntax");
    assert_eq!(e.code(), Some(&SqlState::SYNTAX_ERROR));
    let e = client
        .execute(
            "INSERT INTO v (id, vc) VALUES ($1, $2)",
            &[&2i64, &"far too long"],
        )
        .await
        .expect_err("too long");
    assert_eq!(
        e.code(),
        Some(&SqlState::STRING_DATA_RIGHT_TRUNCATION),
        "{e:?}"
    );
    // The connection is fine after errors.
    let one: i64 = client.query_one("SELECT 1", &[]).await.expect("one").get(0);
    assert_eq!(one, 1);

    // Transactions: ROLLBACK discards, COMMIT keeps.
    let add = client
        .prepare("INSERT INTO v (id, s) VALUES ($1, $2)")
        .await
        .expect("prepare add");
    client.batch_execute("BEGIN").await.expect("begin");
    client.execute(&add, &[&10i64, &"gone"]).await.expect("add");
    client.batch_execute("ROLLBACK").await.expect("rollback");
    let mut client = client;
    let txn = client.transaction().await.expect("begin");
    for id in 20..25i64 {
        txn.execute(&add, &[&id, &format!("row {id}")])
            .await
            .expect("add");
    }
    // A portal read two rows at a time (Execute with a row limit, PortalSuspended).
    let stmt = txn
        .prepare("SELECT id FROM v WHERE id >= $1 ORDER BY id")
        .await
        .expect("prepare scan");
    let portal = txn.bind(&stmt, &[&20i64]).await.expect("bind");
    let mut seen = Vec::new();
    loop {
        let batch = txn.query_portal(&portal, 2).await.expect("portal");
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 2);
        seen.extend(batch.iter().map(|r| r.get::<_, i64>(0)));
    }
    assert_eq!(seen, vec![20, 21, 22, 23, 24]);
    txn.commit().await.expect("commit");
    let ids: Vec<i64> = client
        .query("SELECT id FROM v ORDER BY id", &[])
        .await
        .expect("ids")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, vec![1, 20, 21, 22, 23, 24]);
    c.shutdown().await;
}

/// `statement_timeout`: a read waiting on another transaction's write is canceled with 57014
/// once the timeout passes; inside an explicit transaction the transaction is then aborted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_cancels_a_waiting_statement() {
    let c = TestCluster::start(&["region=us-east1,az=b"]).await;
    let holder = c.connect(0, "defaultdb").await;
    holder
        .batch_execute("CREATE TABLE st (id INT PRIMARY KEY, v INT); INSERT INTO st VALUES (1, 1)")
        .await
        .expect("setup");
    // A transaction holds a write on the row, and stays open.
    holder
        .batch_execute("BEGIN; UPDATE st SET v = 2 WHERE id = 1")
        .await
        .expect("holder's write");
    let waiter = c.connect(0, "defaultdb").await;
    waiter
        .batch_execute("SET statement_timeout = '300ms'")
        .await
        .expect("set");
    let started = std::time::Instant::now();
    let e = waiter
        .query_one("SELECT v FROM st WHERE id = 1", &[])
        .await
        .expect_err("the read waited forever, or read around the write");
    assert_eq!(
        e.code().map(|c| c.code()),
        Some(base::errcode::QUERY_CANCELED.as_str()),
        "{e}"
    );
    assert!(
        e.as_db_error()
            .is_some_and(|d| d.message() == "query execution canceled due to statement timeout"),
        "{e}"
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    // Inside a transaction, the timeout leaves it aborted.
    waiter.batch_execute("BEGIN").await.expect("begin");
    let e = waiter
        .query_one("SELECT v FROM st WHERE id = 1", &[])
        .await
        .expect_err("timed out");
    assert_eq!(
        e.code().map(|c| c.code()),
        Some(base::errcode::QUERY_CANCELED.as_str())
    );
    let e = waiter
        .query_one("SELECT 1", &[])
        .await
        .expect_err("the transaction is aborted");
    assert_eq!(e.code().map(|c| c.code()), Some("25P02"), "{e}");
    waiter.batch_execute("ROLLBACK").await.expect("rollback");
    // Once the holder finishes, the same read succeeds within the timeout.
    holder.batch_execute("COMMIT").await.expect("commit");
    let v: i64 = waiter
        .query_one("SELECT v FROM st WHERE id = 1", &[])
        .await
        .expect("read after commit")
        .get(0);
    assert_eq!(v, 2);
    c.shutdown().await;
}

/// `idle_in_transaction_session_timeout`: a session idle inside a transaction past the limit
/// is closed and its writes rolled back; an idle session outside a transaction stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_in_transaction_sessions_are_closed() {
    let c = TestCluster::start(&["region=us-east1,az=b"]).await;
    let admin = c.connect(0, "defaultdb").await;
    admin
        .batch_execute("CREATE TABLE idle (id INT PRIMARY KEY)")
        .await
        .expect("setup");
    let idle = c.connect(0, "defaultdb").await;
    idle.batch_execute(
        "SET idle_in_transaction_session_timeout = '200ms'; BEGIN; INSERT INTO idle VALUES (1)",
    )
    .await
    .expect("write in a transaction");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !idle.is_closed() {
        assert!(
            std::time::Instant::now() < deadline,
            "the idle session was not closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let n: i64 = admin
        .query_one("SELECT count(*) FROM idle", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 0, "the idle transaction's write survived");

    // Outside a transaction the limit does not apply.
    let resting = c.connect(0, "defaultdb").await;
    resting
        .batch_execute("SET idle_in_transaction_session_timeout = '100ms'")
        .await
        .expect("set");
    tokio::time::sleep(Duration::from_millis(400)).await;
    resting
        .batch_execute("SELECT 1")
        .await
        .expect("an idle session outside a transaction stays open");
    c.shutdown().await;
}
