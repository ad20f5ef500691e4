//! Secrets in what Sextant shows or logs: the one place that decides what is a secret and how
//! it is shown.
//!
//! Everything a user or a log line sees that may hold a URI or a statement's option goes
//! through here: job descriptions, SHOW JOBS, SHOW CHANGEFEED JOBS' `sink_uri`, SHOW EXTERNAL
//! CONNECTIONS, error messages, log lines. The statement-level redaction (which works on the
//! parsed statement, in `sql::parser`) uses [`redact_uri`] for every URI and [`redact_option`]
//! for every option value.
//!
//! - **URIs** ([`redact_uri`]): the password of the user info (`user:password@host`) and the
//!   value of every secret query parameter ([`SECRET_PARAMS`]) become `redacted`, as
//!   CockroachDB's `SanitizeExternalStorageURI` shows them. A key is matched after
//!   percent-decoding it (a sink reads `sasl%5Fpassword=` as `sasl_password`) and without
//!   regard to case. Everything else is kept as written, in its order, so a URI without
//!   secrets is shown unchanged. The scan is lenient: it never fails and never panics, and it
//!   reads the URI as every consumer in Sextant does (the query starts at the first `?`, a
//!   parameter's value runs to the next `&`, the authority ends at the first `/` and its user
//!   info at the last `@`), so whatever a consumer would use as a secret is hidden.
//! - **Options** ([`redact_option`]): `webhook_auth_header` (the `Authorization` header) and
//!   the other [`SECRET_OPTIONS`] become `redacted`, `encryption_passphrase` becomes `*****`
//!   (CockroachDB's password substitute), and any other value is redacted as a URI, so
//!   `kms`, `incremental_location`, `confluent_schema_registry` or `sink` hide theirs.
//! - **Text from elsewhere** (a server's or a library's error message): [`scrub`] replaces the
//!   secret values a URI held ([`uri_secrets`]) wherever they appear.

use std::borrow::Cow;

#[cfg(any(test, feature = "testing-secrets"))]
pub mod testing;

/// What a redacted secret is replaced with (CockroachDB's marker).
pub const REDACTION_MARKER: &str = "redacted";

/// What an `encryption_passphrase` is shown as (CockroachDB's `PasswordSubstitution`).
pub const PASSWORD_SUBSTITUTE: &str = "*****";

/// URI query parameters whose values are secrets, in every external storage, KMS and sink
/// URI. Matched after percent-decoding and without regard to case.
pub const SECRET_PARAMS: &[&str] = &[
    // External storage and KMS (CockroachDB's registered list).
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "CREDENTIALS",
    "BEARER_TOKEN",
    "AZURE_ACCOUNT_KEY",
    "AZURE_CLIENT_SECRET",
    // Kafka and webhook sinks (CockroachDB redacts the TLS material in descriptions too).
    "sasl_password",
    "sasl_client_secret",
    "client_key",
    "client_cert",
    "ca_cert",
    "shared_access_key",
    "api_secret",
    "authorization",
];

/// Statement options whose values are secrets (besides the [`SECRET_PARAMS`] names, also
/// secrets as options). Matched without regard to case.
pub const SECRET_OPTIONS: &[&str] = &[
    "webhook_auth_header",
    "webhook_client_side_key",
    "encryption_passphrase",
];

/// The option whose value is shown as [`PASSWORD_SUBSTITUTE`].
const PASSPHRASE_OPTION: &str = "encryption_passphrase";

/// Whether a decoded query parameter name is a secret one.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.trim();
    SECRET_PARAMS.iter().any(|p| p.eq_ignore_ascii_case(key))
}

/// Whether a query parameter name as written (percent-encoded or not) is a secret one.
pub fn is_secret_param(raw_key: &str) -> bool {
    is_secret_key(raw_key) || is_secret_key(&percent_decode_lossy(raw_key))
}

/// Whether a statement option's value is a secret.
pub fn is_secret_option(name: &str) -> bool {
    let name = name.trim();
    SECRET_OPTIONS.iter().any(|o| o.eq_ignore_ascii_case(name)) || is_secret_key(name)
}

/// `uri` with the password of its user info and the value of every secret query parameter
/// replaced by `redacted`; everything else as written. Never fails: any string is accepted,
/// and one that is not a URI comes back unchanged unless it has a `?key=value` query with a
/// secret key.
pub fn redact_uri(uri: &str) -> String {
    let (head, query) = match uri.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (uri, None),
    };
    let mut out = redact_userinfo(head);
    if let Some(query) = query {
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((key, _)) if is_secret_param(key) => {
                    out.push_str(key);
                    out.push('=');
                    out.push_str(REDACTION_MARKER);
                }
                _ => out.push_str(pair),
            }
        }
    }
    out
}

/// `scheme://user:password@host/path` with the password redacted. The authority ends at the
/// first `/` (every reader ends it there or earlier) and the user info at its last `@`.
fn redact_userinfo(head: &str) -> String {
    let Some((scheme, rest)) = head.split_once("://") else {
        return head.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((info, host)) => match info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:{REDACTION_MARKER}@{host}{path}"),
            None => head.to_string(),
        },
        None => head.to_string(),
    }
}

/// The value of option `name` as it may be shown: `redacted` for a secret option,
/// `*****` for `encryption_passphrase`, else the value with any URI in it redacted.
pub fn redact_option<'a>(name: &str, value: &'a str) -> Cow<'a, str> {
    if name.trim().eq_ignore_ascii_case(PASSPHRASE_OPTION) {
        return Cow::Borrowed(PASSWORD_SUBSTITUTE);
    }
    if is_secret_option(name) {
        return Cow::Borrowed(REDACTION_MARKER);
    }
    let redacted = redact_uri(value);
    if redacted == value {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(redacted)
    }
}

/// The secret values `uri` holds, as written and decoded: its password and the values of its
/// secret parameters (empty ones left out). For [`scrub`]bing text that came from elsewhere.
pub fn uri_secrets(uri: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |raw: &str| {
        for v in [raw.to_string(), percent_decode_lossy(raw)] {
            if !v.is_empty() && !out.contains(&v) {
                out.push(v);
            }
        }
    };
    let (head, query) = uri.split_once('?').unwrap_or((uri, ""));
    if let Some((_, rest)) = head.split_once("://") {
        let authority = rest.split('/').next().unwrap_or_default();
        if let Some((info, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = info.split_once(':')
        {
            push(password);
        }
    }
    for pair in query.split('&') {
        if let Some((key, value)) = pair.split_once('=')
            && is_secret_param(key)
        {
            push(value);
        }
    }
    out
}

/// `text` with every secret of `secrets` (at least 3 bytes long, shorter ones would mangle
/// the text) replaced by `redacted`, longest first.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| s.len() >= 3).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.into_iter().fold(text.to_string(), |t, s| {
        t.replace(s.as_str(), REDACTION_MARKER)
    })
}

/// Decodes `%XX` escapes and `+` (as a space) the way the sinks read a query: an invalid
/// escape is kept as written, invalid UTF-8 becomes U+FFFD.
fn percent_decode_lossy(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = match b {
            b'%' => bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
            _ => None,
        };
        match (escaped, b) {
            (Some(decoded), _) => {
                out.push(decoded);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::testing::{assert_hidden, secret, secret_uri};
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn no_secret_survives_uri_redaction(s in secret_uri()) {
            let shown = redact_uri(&s.uri);
            assert_hidden(&shown, &format!("redact_uri({:?})", s.uri));
            prop_assert_eq!(redact_uri(&shown), shown.clone(), "redaction is idempotent");
            for name in ["kms", "incremental_location", "sink", "confluent_schema_registry"] {
                assert_hidden(&redact_option(name, &s.uri), name);
            }
            // A text from elsewhere that quotes the URI's secrets, as written and decoded, is
            // scrubbed of them (those of 3 bytes or more: shorter ones are left alone).
            let secrets = uri_secrets(&s.uri);
            let long: Vec<&str> =
                secrets.iter().filter(|x| x.len() >= 3).map(String::as_str).collect();
            let text = format!("failed: {}", long.join(" and "));
            assert_hidden(&scrub(&text, &secrets), "scrub");
        }

        #[test]
        fn secret_options_are_hidden(name in prop::sample::select(SECRET_OPTIONS), v in secret()) {
            assert_hidden(&redact_option(name, &v), name);
            assert_hidden(&redact_option(&name.to_uppercase(), &v), name);
        }

        #[test]
        fn any_text_is_accepted(s in "\\PC*") {
            let _ = redact_uri(&s);
            let _ = uri_secrets(&s);
            let _ = redact_option("x", &s);
        }
    }

    #[test]
    fn storage_uris_show_as_cockroachdb_shows_them() {
        for (uri, shown) in [
            (
                "s3://b/p?AWS_ACCESS_KEY_ID=AKID&AWS_SECRET_ACCESS_KEY=shh&AWS_REGION=x",
                "s3://b/p?AWS_ACCESS_KEY_ID=AKID&AWS_SECRET_ACCESS_KEY=redacted&AWS_REGION=x",
            ),
            (
                "s3://b/p?AWS_SECRET_ACCESS_KEY=a&AWS_SESSION_TOKEN=t",
                "s3://b/p?AWS_SECRET_ACCESS_KEY=redacted&AWS_SESSION_TOKEN=redacted",
            ),
            (
                "gs://b/p?AUTH=specified&CREDENTIALS=ZXlK",
                "gs://b/p?AUTH=specified&CREDENTIALS=redacted",
            ),
            (
                "gs://b/p?BEARER_TOKEN=ya29.x",
                "gs://b/p?BEARER_TOKEN=redacted",
            ),
            (
                "azure-blob://c/p?AZURE_ACCOUNT_NAME=a&AZURE_ACCOUNT_KEY=a2V5",
                "azure-blob://c/p?AZURE_ACCOUNT_NAME=a&AZURE_ACCOUNT_KEY=redacted",
            ),
            (
                "azure://c/p?AZURE_CLIENT_ID=i&azure_client_secret=cs&AZURE_TENANT_ID=t",
                "azure://c/p?AZURE_CLIENT_ID=i&azure_client_secret=redacted&AZURE_TENANT_ID=t",
            ),
            (
                "http://alice:pw@host:8080/x",
                "http://alice:redacted@host:8080/x",
            ),
            ("nodelocal://1/foo/bar", "nodelocal://1/foo/bar"),
            ("external://conn/sub", "external://conn/sub"),
            ("userfile:///a/b", "userfile:///a/b"),
        ] {
            assert_eq!(redact_uri(uri), shown, "{uri}");
        }
    }

    #[test]
    fn sink_uris() {
        for (uri, shown) in [
            (
                "kafka://h:9092?topic_prefix=x&sasl_password=secret&sasl_user=u",
                "kafka://h:9092?topic_prefix=x&sasl_password=redacted&sasl_user=u",
            ),
            (
                "kafka://h:9092?tls_enabled=true&ca_cert=Q0E&client_cert=Y2VydA&client_key=a2V5",
                "kafka://h:9092?tls_enabled=true&ca_cert=redacted&client_cert=redacted&\
                 client_key=redacted",
            ),
            (
                "kafka://h:9092?sasl_mechanism=OAUTHBEARER&sasl_client_secret=cs",
                "kafka://h:9092?sasl_mechanism=OAUTHBEARER&sasl_client_secret=redacted",
            ),
            (
                "webhook-https://user:pw@host/path?insecure_tls_skip_verify=true",
                "webhook-https://user:redacted@host/path?insecure_tls_skip_verify=true",
            ),
            // A user without a password has nothing to hide.
            ("webhook-https://user@host/p", "webhook-https://user@host/p"),
            ("null://", "null://"),
        ] {
            assert_eq!(redact_uri(uri), shown, "{uri}");
        }
    }

    #[test]
    fn keys_are_matched_decoded_and_without_case() {
        for uri in [
            "kafka://h?sasl%5Fpassword=zzz",
            "kafka://h?%73asl_password=zzz",
            "kafka://h?SASL_PASSWORD=zzz",
            "kafka://h?Sasl_Password=zzz&sasl_password=zzz",
            "s3://b?aws_secret_access_key=zzz",
            "s3://b?AWS%5FSECRET%5FACCESS%5FKEY=zzz",
        ] {
            let shown = redact_uri(uri);
            assert!(!shown.contains("zzz"), "{shown}");
        }
        // The key is kept as written.
        assert_eq!(
            redact_uri("kafka://h?sasl%5Fpassword=zzz"),
            "kafka://h?sasl%5Fpassword=redacted"
        );
    }

    #[test]
    fn odd_characters_in_secrets() {
        for (uri, secret) in [
            ("s3://b?AWS_SECRET_ACCESS_KEY=a'b''c&X=1", "b''c"),
            ("kafka://h?sasl_password=a#b?c=d", "b?c=d"),
            ("kafka://h?sasl_password=a b\"c", "b\"c"),
            ("https://u:p'a@ss@h/x", "p'a@ss"),
            ("https://u:p:w@h?x=1", "p:w"),
            ("kafka://h?sasl_password=%zz%E2%82%ACq", "%zz%E2"),
        ] {
            let shown = redact_uri(uri);
            assert!(!shown.contains(secret), "{shown}");
        }
        // Not a URI at all: unchanged, whatever the bytes.
        for s in [
            "",
            "?",
            "&",
            "=",
            "a@b",
            "://",
            "x://@",
            "x://:@",
            "é?é=é&é",
        ] {
            let _ = redact_uri(s);
        }
        assert_eq!(redact_uri("x://:@"), "x://:redacted@");
    }

    #[test]
    fn options() {
        assert_eq!(
            redact_option("webhook_auth_header", "Basic YWxp"),
            REDACTION_MARKER
        );
        assert_eq!(redact_option("WEBHOOK_AUTH_HEADER", "x"), REDACTION_MARKER);
        assert_eq!(redact_option("client_key", "x"), REDACTION_MARKER);
        assert_eq!(redact_option("sasl_password", "x"), REDACTION_MARKER);
        assert_eq!(
            redact_option("encryption_passphrase", "x"),
            PASSWORD_SUBSTITUTE
        );
        assert_eq!(
            redact_option("kms", "aws:///k?AWS_SECRET_ACCESS_KEY=s&REGION=r"),
            "aws:///k?AWS_SECRET_ACCESS_KEY=redacted&REGION=r"
        );
        assert_eq!(
            redact_option("confluent_schema_registry", "https://u:p@reg"),
            "https://u:redacted@reg"
        );
        assert!(matches!(
            redact_option("envelope", "wrapped"),
            Cow::Borrowed("wrapped")
        ));
    }

    #[test]
    fn secrets_of_a_uri_and_scrubbing() {
        let uri = "https://al:p%40ss@h/x?AWS_SECRET_ACCESS_KEY=k%2Fey&X=1&sasl_password=";
        assert_eq!(uri_secrets(uri), vec!["p%40ss", "p@ss", "k%2Fey", "k/ey"]);
        assert_eq!(
            scrub("denied for p@ss and k/ey (ab)", &uri_secrets(uri),),
            "denied for redacted and redacted (ab)"
        );
        assert_eq!(scrub("ab abc", &["ab".into(), "abc".into()]), "ab redacted");
    }
}
