//! The test kit's cluster ([`kv::testing`]) with a SQL layer on each node: its
//! [`SqlServer`] and a PostgreSQL wire listener on a free loopback port ([`Sql::sql_addr`]).

use kv::testing::{Layer, NodeContext};
use sextant_sql::SqlServer;
use tokio::sync::oneshot;

/// What each node runs above KV.
pub struct Sql {
    /// Its SQL server.
    pub sql: SqlServer,
    /// Where its PostgreSQL wire listener is (`127.0.0.1:port`).
    pub sql_addr: String,
    _stop: oneshot::Sender<()>,
}

impl Layer for Sql {}

impl Sql {
    /// Starts the SQL server of `n`'s node and serves the wire protocol for it.
    pub fn start(n: &NodeContext<'_>) -> Sql {
        let sql = SqlServer::new(n.node.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind sql");
        listener.set_nonblocking(true).expect("nonblocking");
        let listener = tokio::net::TcpListener::from_std(listener).expect("sql listener");
        let sql_addr = listener.local_addr().expect("sql addr").to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(sextant_sql::pgwire::serve(
            listener,
            sql.clone(),
            None,
            async {
                let _ = stopped.await;
            },
        ));
        Sql {
            sql,
            sql_addr,
            _stop: stop,
        }
    }
}

/// An in-process cluster of SQL nodes.
pub struct TestCluster(kv::testing::TestCluster<Sql>);

impl TestCluster {
    /// Starts one node per locality; returns once every node sees every other live.
    pub async fn start(localities: &[&str]) -> TestCluster {
        let c = kv::testing::TestCluster::builder(localities)
            .layer(Sql::start)
            .start()
            .await;
        TestCluster(c)
    }

    /// A tokio-postgres connection to node `i` as `root`, on `database`.
    pub async fn connect(&self, i: usize, database: &str) -> tokio_postgres::Client {
        connect(&self.nodes[i].sql_addr, database).await
    }

    /// Stops every node.
    pub async fn shutdown(self) {
        self.0.shutdown().await;
    }
}

kv::deref_test_cluster!(TestCluster => 0: Sql);

/// A tokio-postgres connection as `root` to the SQL listener at `addr`.
pub async fn connect(addr: &str, database: &str) -> tokio_postgres::Client {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(host)
        .port(port.parse().expect("port"))
        .user("root")
        .dbname(database);
    let (client, conn) = cfg
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}
