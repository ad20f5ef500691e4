// Tests: a failed `expect` fails the test, with its message; slicing of known test text may
// panic the same way.
#![allow(clippy::expect_used, clippy::string_slice)]
#![recursion_limit = "256"]
//! server's integration tests: one binary, one module per topic, on the clusters of
//! [`LocalCluster`] (what `sextant demo` runs) and the helpers of kv's test kit
//! ([`kv::testing`]). Shared helpers live here.

mod backup_sql;
mod changefeed_sql;
mod cluster;
mod jobs_sql;
mod secure;
mod status;

use std::time::Duration;

use locality::Locality;
use sextant_server::{LocalCluster, LocalClusterOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use kv::testing::{eventually_async, init_tracing, key};

/// Parses localities (`region=a,az=b`).
pub fn localities(specs: &[&str]) -> Vec<Locality> {
    specs
        .iter()
        .map(|s| Locality::parse(s).expect("locality"))
        .collect()
}

/// Starts one server per locality in this process ([`LocalClusterOptions::for_tests`]) and
/// waits until each serves SQL.
pub async fn start_serving_sql(specs: &[&str]) -> LocalCluster {
    init_tracing();
    let cluster = LocalCluster::start(
        specs.len(),
        localities(specs),
        LocalClusterOptions::for_tests(),
    )
    .await
    .expect("cluster");
    for i in 0..specs.len() {
        cluster
            .server(i)
            .expect("server")
            .wait_sql()
            .await
            .expect("sql");
    }
    cluster
}

/// A tokio-postgres connection as root to node `i`'s SQL address.
pub async fn connect(cluster: &sextant_server::LocalCluster, i: usize) -> tokio_postgres::Client {
    let addr = cluster.server(i).expect("server").sql_addr().to_string();
    let (client, conn) = tokio_postgres::connect(
        &format!("postgresql://root@{addr}/defaultdb?sslmode=disable"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect");
    tokio::spawn(conn);
    client
}

/// A minimal HTTP/1.1 GET: the status code and the body.
pub async fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect http");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.expect("send");
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut resp))
        .await
        .expect("http response in time")
        .expect("read");
    let resp = String::from_utf8_lossy(&resp).to_string();
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an http response: {resp:?}"));
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}
