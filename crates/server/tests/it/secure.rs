//! A secure node (certificates from `--certs-dir`): SQL only over TLS with certificate
//! authentication, node-to-node RPC only with a node certificate, HTTPS status.

use base::errcode;
use rpc::RpcTls;
use security::{CertsDir, NodeTls};
use server::{AdminError, Server, ServerConfig, StoreSpec, client};
use sextant_server as server;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::ServerName;

fn secure_config(tls: NodeTls) -> ServerConfig {
    ServerConfig {
        store: StoreSpec::Memory,
        listen_addr: "127.0.0.1:0".into(),
        http_addr: "127.0.0.1:0".into(),
        sql_addr: "127.0.0.1:0".into(),
        tls: Some(tls),
        ..ServerConfig::default().with_test_timings()
    }
}

/// Connects as `user` over TLS, presenting `client.<cert_user>.crt` when given.
async fn connect_tls(
    dir: &CertsDir,
    sql: &str,
    user: &str,
    cert_user: Option<&str>,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let tls = security::client_config(dir, cert_user).expect("client TLS");
    let url = format!("postgresql://{user}@{sql}/defaultdb?sslmode=require");
    let (client, conn) =
        tokio_postgres::connect(&url, sextant_client::tls::MakeRustls::new(Arc::new(tls))).await?;
    tokio::spawn(conn);
    Ok(client)
}

fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_string()).unwrap_or_default()
}

fn message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |db| db.message().to_string())
}

/// `GET path` over HTTPS, trusting the cluster CA; the status line.
async fn https_status_line(dir: &CertsDir, addr: &str, path: &str) -> String {
    let mut tls = security::client_config(dir, None).expect("client TLS");
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let mut stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the HTTP listener");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    response.lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secure_node_speaks_tls_on_every_port_and_authenticates_by_certificate() {
    crate::init_tracing();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = security::testing::make_certs(tmp.path()).expect("certs");
    let tls = NodeTls::load(&dir).expect("load");
    let rpc_tls = RpcTls::from(&tls);
    let server = Server::start(secure_config(tls)).await.expect("start");

    // Admin RPC without TLS is refused; with the node certificate it initialises the node.
    let plain = client::init(server.rpc_addr(), None).await;
    assert!(
        matches!(plain, Err(AdminError::Unreachable { .. })),
        "plaintext init: {plain:?}"
    );
    client::init(server.rpc_addr(), Some(&rpc_tls))
        .await
        .expect("init over TLS");
    server.wait_started().await.expect("started");
    server.wait_sql().await.expect("sql");
    let sql = server.sql_addr().to_string();

    // root with its client certificate.
    let root = connect_tls(&dir, &sql, "root", Some("root"))
        .await
        .expect("root connects with client.root.crt");
    let row = root.query_one("SELECT 1 + 1", &[]).await.expect("query");
    assert_eq!(row.get::<_, i64>(0), 2);

    // No certificate: no password authentication yet, so no way in.
    let Err(e) = connect_tls(&dir, &sql, "root", None).await else {
        panic!("no certificate was accepted");
    };
    assert_eq!(sqlstate(&e), errcode::INVALID_PASSWORD.as_str(), "{e}");
    assert!(
        message(&e).contains("password authentication failed for user root"),
        "{e}"
    );

    // root's certificate, another user.
    let Err(e) = connect_tls(&dir, &sql, "bob", Some("root")).await else {
        panic!("root's certificate was accepted for bob");
    };
    assert_eq!(
        sqlstate(&e),
        errcode::INVALID_AUTHORIZATION_SPECIFICATION.as_str(),
        "{e}"
    );
    assert!(
        message(&e).contains("certificate authentication failed for user \"bob\""),
        "{e}"
    );

    // Plain text.
    let url = format!("postgresql://root@{sql}/defaultdb?sslmode=disable");
    let Err(e) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await else {
        panic!("plaintext was accepted");
    };
    assert_eq!(sqlstate(&e), errcode::PROTOCOL_VIOLATION.as_str(), "{e}");
    assert!(
        message(&e).contains("node is running secure mode, SSL connection required"),
        "{e}"
    );

    // HTTPS status; plain HTTP gets nothing.
    let http = server.http_listen_addr().to_string();
    let line = https_status_line(&dir, &http, "/health").await;
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let mut plain = tokio::net::TcpStream::connect(&http)
        .await
        .expect("connect");
    plain
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        plain.read_to_end(&mut answer),
    )
    .await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "plain HTTP answered on a secure node"
    );

    server.stop().await;
}
