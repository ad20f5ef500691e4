//! Which external URIs act with the node's own reach rather than credentials a user supplies:
//! a node's local disk (`nodelocal`), plain HTTP storage, `AUTH=implicit` (the node's cloud
//! credentials), and anything addressed to the node's own network — loopback, link-local,
//! unspecified, and the cloud metadata services that hand out the node's credentials. SQL
//! refuses them to users without the `EXTERNALIOIMPLICITACCESS` system privilege, as
//! CockroachDB refuses implicit access, so that a SQL user cannot make a node read its
//! metadata service or talk to services listening on it.
//!
//! Pure functions over the URI text: host names are judged by their spelling (`localhost`,
//! `*.localhost`, the metadata services' names), not resolved.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Query parameters that name a custom endpoint of a storage provider.
const ENDPOINT_PARAMS: &[&str] = &["AWS_ENDPOINT", "AZURE_ENDPOINT", "GS_ENDPOINT"];

/// Host names of cloud metadata services.
const METADATA_NAMES: &[&str] = &["metadata.google.internal", "metadata", "instance-data"];

/// The provider (the URI's scheme) when `uri` needs implicit access, else `None`.
pub fn implicit_access(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme == "external" {
        // A named connection: its URI was judged when it was created.
        return None;
    }
    if matches!(scheme.as_str(), "nodelocal" | "http" | "https") {
        return Some(scheme);
    }
    let (authority, query) = match rest.split_once('?') {
        Some((head, q)) => (head.split('/').next().unwrap_or_default(), q),
        None => (rest.split('/').next().unwrap_or_default(), ""),
    };
    if is_internal_host(&host_of(authority)) {
        return Some(scheme);
    }
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key).to_ascii_uppercase();
        let value = percent_decode(value);
        if key == "AUTH" && value.eq_ignore_ascii_case("implicit") {
            return Some(scheme);
        }
        if ENDPOINT_PARAMS.contains(&key.as_str()) {
            let endpoint = value.split_once("://").map_or(value.as_str(), |(_, r)| r);
            let authority = endpoint.split('/').next().unwrap_or_default();
            if is_internal_host(&host_of(authority)) {
                return Some(scheme);
            }
        }
    }
    None
}

/// The host of an authority (`user:pw@host:port`, `[::1]:80`), lower case.
fn host_of(authority: &str) -> String {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    percent_decode(host).to_ascii_lowercase()
}

/// Whether `host` (a name or an address) is the node itself, its link, or a metadata service.
pub fn is_internal_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    if host == "localhost" || host.ends_with(".localhost") || METADATA_NAMES.contains(&host) {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => internal_v4(ip),
        Ok(IpAddr::V6(ip)) => internal_v6(ip),
        Err(_) => false,
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        // Alibaba Cloud's metadata service.
        || ip == Ipv4Addr::new(100, 100, 100, 200)
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || (ip.segments()[0] & 0xffc0) == 0xfe80
        // AWS's metadata service over IPv6.
        || ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_providers() {
        for (uri, want) in [
            ("nodelocal://1/backups", Some("nodelocal")),
            ("http://example.com/b", Some("http")),
            ("https://storage.example.com/b", Some("https")),
            ("s3://bucket/p?AUTH=implicit", Some("s3")),
            ("gs://bucket/p?auth=IMPLICIT", Some("gs")),
            ("s3://bucket/p?%41UTH=implicit", Some("s3")),
            ("s3://b/p?AWS_ENDPOINT=http://127.0.0.1:9000", Some("s3")),
            (
                "s3://b/p?AWS_ENDPOINT=http%3A%2F%2F169.254.169.254",
                Some("s3"),
            ),
            ("webhook-https://127.0.0.1:8443/hook", Some("webhook-https")),
            ("webhook-https://[::1]:8443/hook", Some("webhook-https")),
            ("kafka://localhost:9092", Some("kafka")),
            (
                "kafka://user:pw@LOCALHOST:9092?topic_prefix=x",
                Some("kafka"),
            ),
            (
                "webhook-http://169.254.169.254/latest/meta-data",
                Some("webhook-http"),
            ),
            (
                "webhook-https://metadata.google.internal/x",
                Some("webhook-https"),
            ),
            ("webhook-https://[fd00:ec2::254]/x", Some("webhook-https")),
            (
                "webhook-https://[::ffff:127.0.0.1]/x",
                Some("webhook-https"),
            ),
            ("webhook-https://0.0.0.0:80/x", Some("webhook-https")),
            (
                "s3://bucket/p?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=b",
                None,
            ),
            ("s3://b/p?AWS_ENDPOINT=https://minio.example.com", None),
            ("kafka://broker.example.com:9092", None),
            ("webhook-https://10.0.0.5/hook", None),
            ("external://conn", None),
            ("not a uri", None),
        ] {
            assert_eq!(implicit_access(uri).as_deref(), want, "{uri}");
        }
    }
}
