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
    connect_with(dir, sql, user, cert_user, None).await
}

/// Connects as `user` over TLS with an optional client certificate and password.
async fn connect_with(
    dir: &CertsDir,
    sql: &str,
    user: &str,
    cert_user: Option<&str>,
    password: Option<&str>,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let tls = security::client_config(dir, cert_user).expect("client TLS");
    let mut config: tokio_postgres::Config =
        format!("postgresql://{sql}/defaultdb?sslmode=require")
            .parse()
            .expect("url");
    config.user(user);
    if let Some(p) = password {
        config.password(p);
    }
    let (client, conn) = config
        .connect(sextant_client::tls::MakeRustls::new(Arc::new(tls)))
        .await?;
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

/// The ids `SHOW JOBS` lists to `client`.
async fn job_ids(client: &tokio_postgres::Client) -> Vec<i64> {
    let rows = client
        .query("SELECT job_id FROM [SHOW JOBS]", &[])
        .await
        .expect("SHOW JOBS");
    rows.iter().map(|r| r.get::<_, i64>(0)).collect()
}

/// A secure node (not initialised yet) with certificates made in a temporary directory.
async fn start_secure() -> (tempfile::TempDir, CertsDir, RpcTls, Server) {
    crate::init_tracing();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = security::testing::make_certs(tmp.path()).expect("certs");
    let tls = NodeTls::load(&dir).expect("load");
    let rpc_tls = RpcTls::from(&tls);
    let server = Server::start(secure_config(tls)).await.expect("start");
    (tmp, dir, rpc_tls, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secure_node_speaks_tls_on_every_port_and_authenticates_by_certificate() {
    let (_tmp, dir, rpc_tls, server) = start_secure().await;

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

    // No certificate, and root has no password: no way in.
    let Err(e) = connect_with(&dir, &sql, "root", None, Some("guess")).await else {
        panic!("root without a certificate or a password was accepted");
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

/// Password logins (SCRAM-SHA-256) on a secure node: users and roles created by root, a right
/// and a wrong password, an unknown user, NOLOGIN, a non-admin refused user management and
/// BACKUP, EXTERNAL CONNECTION and cluster settings until granted, and failed logins answered
/// later and later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_log_in_with_scram_passwords_and_need_system_privileges() {
    let (_tmp, dir, rpc_tls, server) = start_secure().await;
    client::init(server.rpc_addr(), Some(&rpc_tls))
        .await
        .expect("init over TLS");
    server.wait_sql().await.expect("sql");
    let sql = server.sql_addr().to_string();
    let root = connect_tls(&dir, &sql, "root", Some("root"))
        .await
        .expect("root connects with client.root.crt");
    root.batch_execute(
        "CREATE USER alice WITH PASSWORD 'correct horse'; CREATE ROLE analysts; \
         GRANT analysts TO alice; CREATE USER carol WITH PASSWORD 'x1' NOLOGIN",
    )
    .await
    .expect("create users");
    let users: Vec<(String, String, Vec<String>)> = root
        .query("SHOW USERS", &[])
        .await
        .expect("SHOW USERS")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let find = |name: &str| users.iter().find(|u| u.0 == name).cloned();
    assert_eq!(
        find("alice"),
        Some(("alice".into(), "".into(), vec!["analysts".into()]))
    );
    assert_eq!(find("analysts").map(|u| u.1), Some("NOLOGIN".into()));
    assert_eq!(find("root").map(|u| u.2), Some(vec!["admin".to_string()]));

    // The right password, without a certificate.
    let alice = connect_with(&dir, &sql, "alice", None, Some("correct horse"))
        .await
        .expect("alice logs in with her password");
    let me: String = alice
        .query_one("SELECT current_user", &[])
        .await
        .expect("current_user")
        .get(0);
    assert_eq!(me, "alice");

    // A non-admin manages no users.
    let e = alice
        .batch_execute("CREATE USER mallory")
        .await
        .expect_err("alice created a user");
    assert_eq!(
        sqlstate(&e),
        errcode::INSUFFICIENT_PRIVILEGE.as_str(),
        "{e}"
    );
    assert!(
        message(&e).contains("user alice does not have CREATEROLE privilege"),
        "{e}"
    );

    // System privileges: refused without them, allowed once a role of alice's holds them.
    let e = alice
        .batch_execute("BACKUP INTO 'nodelocal://1/full'")
        .await
        .expect_err("alice backed up the cluster");
    assert_eq!(
        sqlstate(&e),
        errcode::INSUFFICIENT_PRIVILEGE.as_str(),
        "{e}"
    );
    assert_eq!(
        message(&e),
        "only users with the admin role or the BACKUP system privilege are allowed to \
         perform full cluster backups"
    );
    let e = alice
        .batch_execute(
            "CREATE EXTERNAL CONNECTION bucket AS \
             's3://bucket/conn?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=b'",
        )
        .await
        .expect_err("alice created an external connection");
    assert_eq!(
        message(&e),
        "user alice does not have EXTERNALCONNECTION system privilege"
    );
    let e = alice
        .batch_execute("SET CLUSTER SETTING kv.rangefeed.enabled = true")
        .await
        .expect_err("alice set a cluster setting");
    assert_eq!(
        sqlstate(&e),
        errcode::INSUFFICIENT_PRIVILEGE.as_str(),
        "{e}"
    );
    let e = alice
        .batch_execute("GRANT SYSTEM BACKUP TO alice")
        .await
        .expect_err("alice granted herself a privilege");
    assert_eq!(
        sqlstate(&e),
        errcode::INSUFFICIENT_PRIVILEGE.as_str(),
        "{e}"
    );
    root.batch_execute("GRANT SYSTEM BACKUP, EXTERNALCONNECTION TO analysts")
        .await
        .expect("grant");
    // A node's own disk, and its own network, need implicit access on top.
    for (statement, provider) in [
        (
            "BACKUP DATABASE defaultdb INTO 'nodelocal://1/db'",
            "nodelocal",
        ),
        (
            "CREATE EXTERNAL CONNECTION meta AS 'webhook-https://169.254.169.254/latest'",
            "webhook-https",
        ),
    ] {
        let e = alice
            .batch_execute(statement)
            .await
            .expect_err("implicit access without the privilege");
        assert_eq!(
            sqlstate(&e),
            errcode::INSUFFICIENT_PRIVILEGE.as_str(),
            "{e}"
        );
        assert_eq!(
            message(&e),
            format!(
                "only users with the admin role or the EXTERNALIOIMPLICITACCESS system \
                 privilege are allowed to access the specified {provider} URI"
            )
        );
    }
    root.batch_execute("GRANT SYSTEM EXTERNALIOIMPLICITACCESS TO analysts")
        .await
        .expect("grant");
    alice
        .batch_execute("BACKUP DATABASE defaultdb INTO 'nodelocal://1/db'")
        .await
        .expect("alice backs up with BACKUP held by her role");
    alice
        .batch_execute("CREATE EXTERNAL CONNECTION bucket AS 'nodelocal://1/conn'")
        .await
        .expect("alice creates an external connection");
    let grants: Vec<(String, String)> = root
        .query("SHOW SYSTEM GRANTS FOR analysts", &[])
        .await
        .expect("SHOW SYSTEM GRANTS")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        grants,
        vec![
            ("analysts".to_string(), "BACKUP".to_string()),
            ("analysts".to_string(), "EXTERNALCONNECTION".to_string()),
            (
                "analysts".to_string(),
                "EXTERNALIOIMPLICITACCESS".to_string()
            )
        ]
    );
    root.batch_execute("REVOKE SYSTEM BACKUP FROM analysts")
        .await
        .expect("revoke");
    let e = alice
        .batch_execute("BACKUP DATABASE defaultdb INTO 'nodelocal://1/db'")
        .await
        .expect_err("alice backed up after the revoke");
    assert_eq!(
        message(&e),
        "user alice does not have BACKUP privilege on database defaultdb"
    );

    // External connections: their creator holds ALL; others need USAGE to use one and DROP
    // to drop it.
    root.batch_execute(
        "CREATE EXTERNAL CONNECTION vault AS 'nodelocal://1/vault'; \
         GRANT SYSTEM BACKUP TO analysts",
    )
    .await
    .expect("root's connection");
    let e = alice
        .batch_execute("BACKUP DATABASE defaultdb INTO 'external://vault'")
        .await
        .expect_err("alice used root's connection");
    assert_eq!(
        sqlstate(&e),
        errcode::INSUFFICIENT_PRIVILEGE.as_str(),
        "{e}"
    );
    assert_eq!(
        message(&e),
        "user alice does not have USAGE privilege on external_connection vault"
    );
    let e = alice
        .batch_execute("DROP EXTERNAL CONNECTION vault")
        .await
        .expect_err("alice dropped root's connection");
    assert_eq!(
        message(&e),
        "user alice does not have DROP privilege on external_connection vault"
    );
    let e = alice
        .batch_execute("GRANT USAGE ON EXTERNAL CONNECTION vault TO alice")
        .await
        .expect_err("alice granted herself USAGE");
    assert_eq!(
        sqlstate(&e),
        errcode::INSUFFICIENT_PRIVILEGE.as_str(),
        "{e}"
    );
    root.batch_execute("GRANT USAGE ON EXTERNAL CONNECTION vault TO analysts")
        .await
        .expect("grant USAGE");
    alice
        .batch_execute("BACKUP DATABASE defaultdb INTO 'external://vault'")
        .await
        .expect("alice backs up through the connection with USAGE");
    // alice's own connection: hers to drop.
    alice
        .batch_execute("DROP EXTERNAL CONNECTION bucket")
        .await
        .expect("alice drops her own connection");
    // A dropped user's privileges on a connection go with it.
    root.batch_execute(
        "CREATE USER dora; GRANT USAGE ON EXTERNAL CONNECTION vault TO dora; DROP USER dora",
    )
    .await
    .expect("a user with a connection grant, dropped");
    let grants: Vec<(String, String, String)> = root
        .query("SHOW GRANTS ON EXTERNAL CONNECTION vault", &[])
        .await
        .expect("SHOW GRANTS")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        grants,
        vec![
            (
                "vault".to_string(),
                "analysts".to_string(),
                "USAGE".to_string()
            ),
            ("vault".to_string(), "root".to_string(), "ALL".to_string())
        ]
    );

    // Changefeeds into a sink need CHANGEFEED; jobs are seen and controlled by their owner,
    // and by others only with VIEWJOB / CONTROLJOB.
    root.batch_execute(
        "CREATE TABLE feed_t (id INT PRIMARY KEY); CREATE USER bob WITH PASSWORD 'bob-pw'; \
         SET CLUSTER SETTING kv.rangefeed.enabled = true",
    )
    .await
    .expect("setup");
    let feed = "CREATE CHANGEFEED FOR TABLE feed_t INTO 'null://'";
    let e = alice
        .batch_execute(feed)
        .await
        .expect_err("a changefeed without CHANGEFEED");
    assert_eq!(
        message(&e),
        "user alice requires the CHANGEFEED privilege on all target tables to be able to run \
         an enterprise changefeed"
    );
    root.batch_execute("GRANT SYSTEM CHANGEFEED TO alice")
        .await
        .expect("grant");
    let job: i64 = alice
        .query_one(feed, &[])
        .await
        .expect("alice's changefeed")
        .get(0);
    let bob = connect_with(&dir, &sql, "bob", None, Some("bob-pw"))
        .await
        .expect("bob logs in");
    assert!(job_ids(&alice).await.contains(&job));
    assert!(!job_ids(&bob).await.contains(&job), "bob sees alice's job");
    let e = bob
        .batch_execute(&format!("PAUSE JOB {job}"))
        .await
        .expect_err("bob paused alice's job");
    assert_eq!(
        message(&e),
        format!("user bob does not have privileges for job {job}")
    );
    root.batch_execute("GRANT SYSTEM CONTROLJOB TO bob")
        .await
        .expect("grant");
    bob.batch_execute(&format!("PAUSE JOB {job}"))
        .await
        .expect("bob pauses it with CONTROLJOB");
    assert!(job_ids(&bob).await.contains(&job));

    // WITH GRANT OPTION and WITH ADMIN OPTION let a non-admin pass on what it holds.
    root.batch_execute(
        "GRANT SYSTEM VIEWJOB TO alice WITH GRANT OPTION; \
         GRANT analysts TO alice WITH ADMIN OPTION",
    )
    .await
    .expect("grants with options");
    alice
        .batch_execute("GRANT SYSTEM VIEWJOB TO bob; GRANT analysts TO bob")
        .await
        .expect("alice passes on VIEWJOB and analysts");
    let e = alice
        .batch_execute("GRANT SYSTEM RESTORE TO bob")
        .await
        .expect_err("alice granted what she may not grant");
    assert_eq!(
        sqlstate(&e),
        errcode::INSUFFICIENT_PRIVILEGE.as_str(),
        "{e}"
    );

    // A wrong password and an unknown user fail alike.
    for (user, password) in [("alice", "wrong"), ("nobody", "correct horse")] {
        let Err(e) = connect_with(&dir, &sql, user, None, Some(password)).await else {
            panic!("{user} logged in with a wrong password");
        };
        assert_eq!(sqlstate(&e), errcode::INVALID_PASSWORD.as_str(), "{e}");
        assert_eq!(
            message(&e),
            format!("password authentication failed for user {user}")
        );
    }

    // NOLOGIN: the right password is not enough.
    let Err(e) = connect_with(&dir, &sql, "carol", None, Some("x1")).await else {
        panic!("a NOLOGIN user logged in");
    };
    assert_eq!(
        sqlstate(&e),
        errcode::INVALID_AUTHORIZATION_SPECIFICATION.as_str(),
        "{e}"
    );
    assert_eq!(message(&e), "carol does not have login privilege");

    // A password changed by ALTER USER replaces the old one.
    root.batch_execute("ALTER USER alice WITH PASSWORD 'battery staple'")
        .await
        .expect("alter");
    assert!(
        connect_with(&dir, &sql, "alice", None, Some("correct horse"))
            .await
            .is_err()
    );
    connect_with(&dir, &sql, "alice", None, Some("battery staple"))
        .await
        .expect("the new password");

    // After the free failures in a row, each further failure is answered later.
    let free = sql::session::FREE_LOGIN_FAILURES;
    for _ in 0..free {
        let _ = connect_with(&dir, &sql, "eve", None, Some("guess")).await;
    }
    let started = std::time::Instant::now();
    let late = connect_with(&dir, &sql, "eve", None, Some("guess")).await;
    assert!(late.is_err());
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(250),
        "a failure past the free ones was answered after {:?}",
        started.elapsed()
    );

    server.stop().await;
}
