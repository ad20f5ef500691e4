//! Bad input: wrong credentials, missing buckets, unreachable endpoints, malformed URIs,
//! unwritable directories. Every error is precise and never shows a secret.

use crate::http_server::HttpStorageServer;
use crate::{ctx, open};
use bytes::Bytes;
use cloud::CloudError;
use cloud::testing::{Azurite, Moto, S3Server, SeaweedFs, closed_port};
use std::time::{Duration, Instant};

const WRONG_SECRET: &str = "Wr0ngSecretValue-do-not-print";

fn tmp() -> std::path::PathBuf {
    std::env::temp_dir()
}

async fn expect_bucket_not_found(server: &S3Server) {
    let storage = open(&server.uri("no-such-bucket", "p"), &ctx(&tmp()));
    let put = storage.put("f", Bytes::from_static(b"x")).await;
    let get = storage.get("f").await.map(|_| ());
    let list = storage.list("", None).await.map(|_| ());
    for (op, r) in [("put", put), ("get", get), ("list", list)] {
        match r {
            Err(CloudError::BucketNotFound { bucket, .. }) => assert_eq!(bucket, "no-such-bucket"),
            other => panic!("{}: {op} on a missing bucket: {other:?}", server.name),
        }
    }
    let text = storage
        .get("f")
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    eprintln!("{}: {text}", server.name);
    assert!(
        text.contains("bucket \"no-such-bucket\" does not exist"),
        "{text}"
    );
    assert!(!text.contains(&server.secret_key), "{text}");
}

#[tokio::test]
async fn s3_seaweedfs_bad_input() {
    let Some(server) = SeaweedFs::start().await else {
        return;
    };

    // A wrong secret: AccessDenied with S3's reason, and the secret never appears.
    let wrong = server.uri_with_secret(&server.bucket, "p", WRONG_SECRET);
    let storage = open(&wrong, &ctx(&tmp()));
    for (op, r) in [
        ("put", storage.put("f", Bytes::from_static(b"x")).await),
        ("get", storage.get("f").await.map(|_| ())),
        ("list", storage.list("", None).await.map(|_| ())),
    ] {
        match &r {
            Err(e @ CloudError::AccessDenied { detail, .. }) => {
                let text = format!("{e} {e:?}");
                eprintln!("wrong secret, {op}: {e}");
                assert!(!text.contains(WRONG_SECRET), "{op}: secret leaked: {text}");
                assert!(detail.contains("SignatureDoesNotMatch"), "{op}: {detail}");
                assert!(!e.is_retryable());
            }
            other => panic!("{op} with a wrong secret: {other:?}"),
        }
    }
    assert!(!storage.uri().to_string().contains(WRONG_SECRET));

    // An unknown access key is refused too.
    let unknown_key = wrong.replace(&server.access_key, "NOSUCHKEY");
    let r = open(&unknown_key, &ctx(&tmp())).get("f").await;
    assert!(matches!(r, Err(CloudError::AccessDenied { .. })), "{r:?}");

    expect_bucket_not_found(&server).await;
}

#[tokio::test]
async fn s3_moto_bad_input() {
    let Some(server) = Moto::start().await else {
        return;
    };
    expect_bucket_not_found(&server).await;
}

#[tokio::test]
async fn azure_azurite_bad_input() {
    let Some(server) = Azurite::start().await else {
        return;
    };
    // A wrong (but well-formed) account key.
    let wrong_key = "V3IwbmdTZWNyZXRWYWx1ZS1kby1ub3QtcHJpbnQ=";
    let storage = open(
        &server.uri_with_key(&server.container, "p", wrong_key),
        &ctx(&tmp()),
    );
    for (op, r) in [
        ("put", storage.put("f", Bytes::from_static(b"x")).await),
        ("get", storage.get("f").await.map(|_| ())),
    ] {
        match &r {
            Err(e @ CloudError::AccessDenied { .. }) => {
                eprintln!("wrong azure key, {op}: {e}");
                assert!(
                    !format!("{e} {e:?}").contains(wrong_key),
                    "{op}: key leaked: {e}"
                );
            }
            other => panic!("{op} with a wrong key: {other:?}"),
        }
    }
    // A container that does not exist.
    let missing = open(&server.uri("no-such-container", "p"), &ctx(&tmp()));
    for (op, r) in [
        ("put", missing.put("f", Bytes::from_static(b"x")).await),
        ("get", missing.get("f").await.map(|_| ())),
    ] {
        match r {
            Err(CloudError::BucketNotFound { bucket, .. }) => {
                assert_eq!(bucket, "no-such-container")
            }
            other => panic!("{op} on a missing container: {other:?}"),
        }
    }
}

#[tokio::test]
async fn unreachable_endpoints_fail_fast() {
    let port = closed_port();
    let uris = [
        format!(
            "s3://bucket/p?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY={WRONG_SECRET}&AWS_ENDPOINT=http://127.0.0.1:{port}"
        ),
        format!("http://user:{WRONG_SECRET}@127.0.0.1:{port}/p"),
        format!(
            "azure://container/p?AZURE_ACCOUNT_NAME=acct&AZURE_ACCOUNT_KEY=c2VjcmV0&AZURE_ENDPOINT=http://127.0.0.1:{port}/acct"
        ),
    ];
    for uri in uris {
        let storage = open(&uri, &ctx(&tmp()));
        let started = Instant::now();
        let r = storage.put("f", Bytes::from_static(b"x")).await;
        let took = started.elapsed();
        match &r {
            Err(e @ CloudError::Unreachable { detail, .. }) => {
                let text = e.to_string();
                eprintln!("unreachable after {took:?}: {text}");
                assert!(!text.contains(WRONG_SECRET), "secret leaked: {text}");
                assert!(detail.to_lowercase().contains("connect"), "{text}");
                assert!(e.is_retryable());
            }
            other => panic!(
                "{}: expected Unreachable, got {other:?}",
                cloud::redact(&uri)
            ),
        }
        assert!(
            took < Duration::from_secs(5),
            "{}: took {took:?}",
            cloud::redact(&uri)
        );
    }
}

#[tokio::test]
async fn http_credentials_are_checked_and_redacted() -> anyhow::Result<()> {
    let server = HttpStorageServer::start(Some(("alice", "s3cr3t-pw"))).await?;
    let host = server.url.trim_start_matches("http://");
    let good = open(&format!("http://alice:s3cr3t-pw@{host}/b"), &ctx(&tmp()));
    good.put("f", Bytes::from_static(b"ok")).await?;
    assert_eq!(good.get("f").await?, Bytes::from_static(b"ok"));
    assert_eq!(
        good.uri().to_string(),
        format!("http://alice:redacted@{host}/b")
    );

    let bad = open(
        &format!("http://alice:{WRONG_SECRET}@{host}/b"),
        &ctx(&tmp()),
    );
    match bad.get("f").await {
        Err(e @ CloudError::AccessDenied { .. }) => {
            assert!(!format!("{e} {e:?}").contains(WRONG_SECRET), "{e}");
        }
        other => panic!("wrong password: {other:?}"),
    }
    Ok(())
}

#[test]
fn malformed_uris_are_invalid() {
    let c = ctx(&tmp());
    for (uri, want) in [
        ("not a uri", "unsupported storage scheme"),
        ("ftp://host/p", "unsupported storage scheme: \"ftp\""),
        (
            "s3://bucket/p?AWS_REGION=x&FOO=1",
            "unknown S3 query parameters: FOO",
        ),
        ("s3:///p?AWS_SECRET_ACCESS_KEY=abc", "must specify a bucket"),
        ("nodelocal://two/p", "must be a node ID"),
        (
            "s3://b/p?AWS_SECRET_ACCESS_KEY=abc",
            "AWS_ACCESS_KEY_ID is not set",
        ),
        (
            "gs://b/p?AUTH=specified",
            "CREDENTIALS or BEARER_TOKEN must be set",
        ),
        (
            "s3://b/p%G1?AWS_SECRET_ACCESS_KEY=abc",
            "invalid URL escape",
        ),
    ] {
        match cloud::open(uri, &c) {
            Err(e @ CloudError::InvalidUri { .. }) => {
                let text = e.to_string();
                assert!(text.contains(want), "{uri}: {text}");
                assert!(!format!("{e:?}").contains("abc"), "{uri}: {e:?}");
            }
            Err(e) => panic!("{uri}: expected InvalidUri, got {e:?}"),
            Ok(s) => panic!("{uri}: opened {}", s.uri()),
        }
    }
    match cloud::open("userfile://defaultdb.public.userfiles_root/x", &c) {
        Err(e @ CloudError::Unsupported { .. }) => {
            assert!(e.to_string().starts_with("unimplemented: userfile"), "{e}")
        }
        other => panic!("userfile: {:?}", other.map(|s| s.uri().to_string())),
    }
}

#[tokio::test]
async fn unwritable_nodelocal_directory() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // A file where the external IO directory should be: no directory can be made there.
    let blocked = dir.path().join("extern");
    std::fs::write(&blocked, b"not a directory")?;
    let c = ctx(&blocked);
    match cloud::open("nodelocal://self/backups", &c) {
        Err(e @ CloudError::Io { .. }) => {
            let text = e.to_string();
            assert!(text.contains("cannot use external IO directory"), "{text}");
            assert!(text.contains(&blocked.display().to_string()), "{text}");
        }
        other => panic!("expected Io, got {:?}", other.map(|s| s.uri().to_string())),
    }

    // A file where a subdirectory of the base should be.
    let ok_dir = dir.path().join("extern2");
    let storage = open("nodelocal://1/b", &ctx(&ok_dir));
    storage.put("x", Bytes::from_static(b"file")).await?;
    match storage.put("x/y", Bytes::from_static(b"z")).await {
        Err(e @ (CloudError::Io { .. } | CloudError::AccessDenied { .. })) => {
            assert!(e.to_string().contains("nodelocal://1/b/x/y"), "{e}");
        }
        other => panic!("write under a file: {other:?}"),
    }
    Ok(())
}
