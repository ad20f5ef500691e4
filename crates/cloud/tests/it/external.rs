//! `external://name` through a `ConnectionResolver`.

use crate::{ctx, open};
use bytes::Bytes;
use cloud::testing::SeaweedFs;
use cloud::{CloudError, InMemoryConnections};
use std::sync::Arc;

#[tokio::test]
async fn external_connections_resolve_and_append_paths() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let conns = Arc::new(InMemoryConnections::new());
    conns.insert("backups", "nodelocal://self/conn-base")?;
    let c = ctx(dir.path()).with_connections(conns.clone());

    let whole = open("external://backups", &c);
    whole.put("top", Bytes::from_static(b"1")).await?;
    let sub = open("external://backups/2023/06", &c);
    sub.put("data/1.sst", Bytes::from_static(b"2")).await?;
    assert!(dir.path().join("conn-base/top").exists());
    assert!(dir.path().join("conn-base/2023/06/data/1.sst").exists());
    assert_eq!(whole.list("", Some("/")).await?, ["2023/", "top"]);
    assert_eq!(sub.uri().to_string(), "nodelocal://self/conn-base/2023/06");

    match cloud::open("external://nope/x", &c) {
        Err(e @ CloudError::ConnectionNotFound { .. }) => {
            assert_eq!(e.to_string(), "external connection \"nope\" does not exist")
        }
        other => panic!("{:?}", other.map(|s| s.uri().to_string())),
    }
    let nested = conns.insert("loop", "external://backups");
    assert!(
        matches!(nested, Err(CloudError::InvalidUri { .. })),
        "{nested:?}"
    );
    let bad = conns.insert("bad", "s3://b/p?NOPE=1");
    assert!(matches!(bad, Err(CloudError::InvalidUri { .. })), "{bad:?}");
    assert!(conns.remove("backups"));
    assert!(cloud::open("external://backups", &c).is_err());
    Ok(())
}

#[tokio::test]
async fn external_connection_to_s3_keeps_secrets_out_of_sight() -> anyhow::Result<()> {
    let Some(server) = SeaweedFs::start().await else {
        return Ok(());
    };
    let conns = Arc::new(InMemoryConnections::new());
    conns.insert("s3conn", &server.uri(&server.bucket, "via-conn"))?;
    let c = ctx(&std::env::temp_dir()).with_connections(conns);
    let storage = open("external://s3conn/sub", &c);
    storage
        .put("f", Bytes::from_static(b"through a connection"))
        .await?;
    assert_eq!(
        storage.get("f").await?,
        Bytes::from_static(b"through a connection")
    );
    let shown = storage.uri().to_string();
    assert!(!shown.contains(&server.secret_key), "{shown}");
    assert!(shown.contains("AWS_SECRET_ACCESS_KEY=redacted"), "{shown}");
    let direct = open(&server.uri(&server.bucket, "via-conn/sub"), &c);
    assert_eq!(
        direct.get("f").await?,
        Bytes::from_static(b"through a connection")
    );
    Ok(())
}
