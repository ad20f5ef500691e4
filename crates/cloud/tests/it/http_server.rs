//! A small HTTP storage server inside the test process: PUT, GET (with `Range`), HEAD,
//! DELETE, MKCOL, and WebDAV `PROPFIND` (depth 1 and infinity) for listing, over an in-memory
//! map. Optionally requires basic authentication.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const LAST_MODIFIED: &str = "Mon, 01 Jan 2024 00:00:00 GMT";

#[derive(Clone, Default)]
struct Files {
    /// Percent-encoded request path (with leading '/') -> content.
    by_path: Arc<Mutex<BTreeMap<String, Bytes>>>,
    /// `Authorization` header value required, if any.
    auth: Option<String>,
}

/// A running server; stops when dropped.
pub struct HttpStorageServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpStorageServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpStorageServer {
    /// Starts a server; with `basic_auth = Some((user, password))` it requires those.
    pub async fn start(basic_auth: Option<(&str, &str)>) -> anyhow::Result<HttpStorageServer> {
        let files = Files {
            auth: basic_auth.map(|(u, p)| format!("Basic {}", base64(&format!("{u}:{p}")))),
            ..Files::default()
        };
        let app = axum::Router::new().fallback(handle).with_state(files);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(HttpStorageServer { url, task })
    }
}

async fn handle(State(files): State<Files>, req: Request) -> Response {
    if let Some(required) = &files.auth {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(required.as_str()) {
            return (StatusCode::UNAUTHORIZED, "bad credentials").into_response();
        }
    }
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let headers = req.headers().clone();
    let body = match axum::body::to_bytes(req.into_body(), usize::MAX).await {
        Ok(b) => b,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let mut map = match files.by_path.lock() {
        Ok(m) => m,
        Err(p) => p.into_inner(),
    };
    match method.as_str() {
        "PUT" => {
            map.insert(path, body);
            StatusCode::CREATED.into_response()
        }
        "MKCOL" => StatusCode::CREATED.into_response(),
        "DELETE" => match map.remove(&path) {
            Some(_) => StatusCode::NO_CONTENT.into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        },
        "GET" | "HEAD" => match map.get(&path) {
            Some(data) => read(data, &headers, method == Method::HEAD),
            None => StatusCode::NOT_FOUND.into_response(),
        },
        "PROPFIND" => {
            let depth = headers
                .get("Depth")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("1");
            propfind(&map, &path, depth == "1")
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

fn read(data: &Bytes, headers: &HeaderMap, head: bool) -> Response {
    let total = data.len();
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)));
    let (status, body, content_range) = match range {
        Some((start, end)) if start < total => {
            let end = end.min(total - 1);
            (
                StatusCode::PARTIAL_CONTENT,
                data.slice(start..=end),
                Some(format!("bytes {start}-{end}/{total}")),
            )
        }
        Some(_) => return StatusCode::RANGE_NOT_SATISFIABLE.into_response(),
        None => (StatusCode::OK, data.clone(), None),
    };
    let mut resp = Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, body.len())
        .header(header::LAST_MODIFIED, LAST_MODIFIED);
    if let Some(cr) = content_range {
        resp = resp.header(header::CONTENT_RANGE, cr);
    }
    let body = if head {
        Body::empty()
    } else {
        Body::from(body)
    };
    resp.body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A WebDAV multistatus listing of `dir`: files below it (all of them, or with `shallow`
/// only direct children plus one collection per subdirectory).
fn propfind(map: &BTreeMap<String, Bytes>, dir: &str, shallow: bool) -> Response {
    let dir = format!("{}/", dir.trim_end_matches('/'));
    let mut entries = String::new();
    let mut collections = std::collections::BTreeSet::new();
    let mut any = false;
    for (path, data) in map.range(dir.clone()..) {
        let Some(rest) = path.strip_prefix(&dir) else {
            break;
        };
        any = true;
        match (shallow, rest.find('/')) {
            (true, Some(i)) => {
                collections.insert(format!("{dir}{}/", &rest[..i]));
            }
            _ => entries.push_str(&response(path, Some(data.len()))),
        }
    }
    if !any && dir != "/" {
        return StatusCode::NOT_FOUND.into_response();
    }
    for c in collections {
        entries.push_str(&response(&c, None));
    }
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><multistatus xmlns=\"DAV:\">{entries}</multistatus>"
    );
    (
        StatusCode::MULTI_STATUS,
        [(header::CONTENT_TYPE, "application/xml")],
        xml,
    )
        .into_response()
}

fn response(href: &str, size: Option<usize>) -> String {
    let (kind, len) = match size {
        Some(n) => (
            "<resourcetype/>".to_string(),
            format!("<getcontentlength>{n}</getcontentlength>"),
        ),
        None => (
            "<resourcetype><collection/></resourcetype>".to_string(),
            String::new(),
        ),
    };
    format!(
        "<response><href>{href}</href><propstat><prop><getlastmodified>{LAST_MODIFIED}</getlastmodified>\
         {len}{kind}</prop><status>HTTP/1.1 200 OK</status></propstat></response>"
    )
}

fn base64(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &c)| acc | (u32::from(c) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
