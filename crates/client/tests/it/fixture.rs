//! The PostgreSQL fixture's two durability modes.

use sextant_client::conn;
use sextant_client::testing::{Durability, PgServer};

async fn settings(pg: &PgServer) -> Vec<String> {
    let client = conn::connect(&pg.config("postgres"))
        .await
        .expect("connect");
    let mut out = Vec::new();
    for name in ["fsync", "full_page_writes", "synchronous_commit"] {
        let row = client
            .query_one(&format!("SHOW {name}"), &[])
            .await
            .expect(name);
        out.push(row.get::<_, String>(0));
    }
    out
}

#[tokio::test]
async fn fast_turns_durability_off_and_durable_leaves_the_defaults() {
    let Some(fast) = PgServer::start() else {
        return;
    };
    assert_eq!(fast.durability(), Durability::Fast);
    assert_eq!(settings(&fast).await, ["off", "off", "off"]);
    drop(fast);
    let Some(durable) = PgServer::start_durable() else {
        return;
    };
    assert_eq!(durable.durability(), Durability::Durable);
    assert_eq!(settings(&durable).await, ["on", "on", "on"]);
}
