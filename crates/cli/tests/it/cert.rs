//! `sextant cert`: the commands as an operator types them, with the environment variables
//! and the refusals CockroachDB's users know.

use crate::{run, sextant};

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn create_and_list_a_clusters_certificates() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let certs = tmp.path().join("certs");
    let ca_key = tmp.path().join("safe/ca.key");
    let (certs, ca_key) = (
        certs.to_str().expect("utf-8"),
        ca_key.to_str().expect("utf-8"),
    );

    let out = run(&[
        "cert",
        "create-ca",
        "--certs-dir",
        certs,
        "--ca-key",
        ca_key,
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    let out = run(&[
        "cert",
        "create-node",
        "localhost",
        "127.0.0.1",
        "--certs-dir",
        certs,
        "--ca-key",
        ca_key,
    ]);
    assert!(out.status.success(), "{:?}", text(&out));
    // The CA key and the directory from the environment, as COCKROACH_CA_KEY works.
    let out = sextant()
        .args(["cert", "create-client", "root"])
        .env("SEXTANT_CERTS_DIR", certs)
        .env("SEXTANT_CA_KEY", ca_key)
        .output()
        .expect("run");
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).1.contains("client.root.key"), "{:?}", text(&out));

    let out = run(&["cert", "list", "--certs-dir", certs]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], format!("Certificate directory: {certs}"));
    assert!(lines[3].starts_with(" CA     | ca.crt "), "{stdout}");
    assert!(
        lines[4].contains("| node.key ") && lines[4].contains("addresses: localhost,127.0.0.1"),
        "{stdout}"
    );
    assert!(
        lines[5].contains("| client.root.key ") && lines[5].contains("user: root"),
        "{stdout}"
    );
    assert_eq!(lines[6], "(3 rows)");

    // Refusals: exit status 1 and CockroachDB's words.
    for (args, want) in [
        (
            vec![
                "cert",
                "create-node",
                "--certs-dir",
                certs,
                "--ca-key",
                ca_key,
            ],
            "create-node requires at least one host name or address, none was specified",
        ),
        (
            vec!["cert", "create-client", "bob", "--certs-dir", certs],
            "the path to the CA key is required",
        ),
        (
            vec![
                "cert",
                "create-ca",
                "--certs-dir",
                certs,
                "--ca-key",
                ca_key,
                "--overwrite",
            ],
            "exists, but key reuse is disabled",
        ),
        (
            vec![
                "cert",
                "create-client",
                "bob",
                "--certs-dir",
                certs,
                "--ca-key",
                ca_key,
                "--key-size",
                "1024",
            ],
            "unsupported key size 1024",
        ),
    ] {
        let out = run(&args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}
