//! The conformance suite on every implementation.

use crate::http_server::HttpStorageServer;
use crate::{ctx, open};
use cloud::testing::conformance::{Suite, run};
use cloud::testing::{Azurite, Moto, SeaweedFs};
use std::time::Instant;

#[tokio::test]
async fn nodelocal() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ctx = ctx(dir.path());
    for uri in ["nodelocal://1/suite", "nodelocal://self/suite2"] {
        run(open(uri, &ctx).as_ref(), Suite::default()).await;
    }
    assert!(
        dir.path().join("suite/wr/large").exists(),
        "files live under the node's dir"
    );
    Ok(())
}

#[tokio::test]
async fn s3_seaweedfs() {
    let Some(server) = SeaweedFs::start().await else {
        return;
    };
    let started = Instant::now();
    let storage = open(
        &server.uri(&server.bucket, "conformance"),
        &ctx(std::env::temp_dir().as_path()),
    );
    run(storage.as_ref(), Suite::default()).await;
    // A storage rooted at the bucket itself works too.
    server
        .create_bucket("rooted")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let root = open(
        &server.uri("rooted", ""),
        &ctx(std::env::temp_dir().as_path()),
    );
    run(root.as_ref(), Suite::default()).await;
    eprintln!("SeaweedFS conformance: {:?}", started.elapsed());
}

#[tokio::test]
async fn s3_moto() {
    let Some(server) = Moto::start().await else {
        return;
    };
    let started = Instant::now();
    let storage = open(
        &server.uri(&server.bucket, "conformance/base"),
        &ctx(std::env::temp_dir().as_path()),
    );
    run(storage.as_ref(), Suite::default()).await;
    eprintln!("moto conformance: {:?}", started.elapsed());
}

#[tokio::test]
async fn http() -> anyhow::Result<()> {
    let server = HttpStorageServer::start(None).await?;
    let storage = open(
        &format!("{}/base/dir", server.url),
        &ctx(std::env::temp_dir().as_path()),
    );
    // Plain HTTP has no multipart: the writer buffers and PUTs once; keep the file modest.
    run(
        storage.as_ref(),
        Suite {
            large_file_bytes: 3 << 20,
        },
    )
    .await;
    Ok(())
}

#[tokio::test]
async fn azure_azurite() {
    let Some(server) = Azurite::start().await else {
        return;
    };
    let started = Instant::now();
    let storage = open(
        &server.uri(&server.container, "conformance"),
        &ctx(std::env::temp_dir().as_path()),
    );
    run(storage.as_ref(), Suite::default()).await;
    eprintln!("Azurite conformance: {:?}", started.elapsed());
}
