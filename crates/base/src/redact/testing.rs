//! Proptest strategies for the property tests of redaction (feature `testing-secrets`): URIs
//! of every scheme Sextant reads, with secrets wherever a reader takes one (a secret query
//! parameter, under any spelling of its key, or the password of the user info), and secret
//! option values.
//!
//! Every secret is made of Greek letters, each optionally followed by one other character
//! (quotes, `&`, `=`, `%`, `#`, `?`, `/`, `@`, `:`, `+`, spaces, backslashes, ASCII), and
//! nothing else a generator makes contains a Greek letter. So [`assert_hidden`] can tell a
//! leak of any two consecutive characters of any secret, in any form (as written, decoded,
//! re-encoded), without knowing where the shown text came from.

// A test kit: a failed `expect` fails the test that called it.
#![allow(clippy::expect_used)]

use proptest::prelude::*;
use proptest::sample::select;

use super::SECRET_PARAMS;

/// A generated URI and the secrets in it (decoded, as the reader uses them).
#[derive(Clone, Debug)]
pub struct SecretUri {
    /// The URI as a user writes it.
    pub uri: String,
    /// The secrets it holds.
    pub secrets: Vec<String>,
}

/// The schemes generated: every external storage (with its aliases), KMS-like and sink
/// scheme Sextant reads, and a few it refuses.
pub const SCHEMES: &[&str] = &[
    "s3",
    "gs",
    "azure",
    "azure-blob",
    "azure-storage",
    "nodelocal",
    "http",
    "https",
    "external",
    "userfile",
    "kafka",
    "webhook-https",
    "webhook-http",
    "null",
    "gcpubsub",
    "aws",
];

/// The secret parameters a scheme's reader takes (any other is also generated, less often).
fn secret_keys(scheme: &str) -> &'static [&'static str] {
    match scheme {
        "s3" | "aws" => &["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"],
        "gs" | "gcpubsub" => &["CREDENTIALS", "BEARER_TOKEN"],
        "azure" | "azure-blob" | "azure-storage" => &["AZURE_ACCOUNT_KEY", "AZURE_CLIENT_SECRET"],
        "kafka" => &[
            "sasl_password",
            "sasl_client_secret",
            "client_key",
            "client_cert",
            "ca_cert",
        ],
        "webhook-https" | "webhook-http" => &["client_key", "client_cert", "ca_cert"],
        _ => SECRET_PARAMS,
    }
}

/// Parameters that are not secrets, per scheme.
fn plain_keys(scheme: &str) -> &'static [&'static str] {
    match scheme {
        "s3" | "aws" => &[
            "AWS_ACCESS_KEY_ID",
            "AWS_REGION",
            "AUTH",
            "AWS_ENDPOINT",
            "COCKROACH_LOCALITY",
        ],
        "gs" | "gcpubsub" => &["AUTH", "GOOGLE_BILLING_PROJECT"],
        "azure" | "azure-blob" | "azure-storage" => {
            &["AZURE_ACCOUNT_NAME", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"]
        }
        "kafka" => &[
            "topic_prefix",
            "topic_name",
            "sasl_enabled",
            "sasl_user",
            "sasl_mechanism",
            "tls_enabled",
        ],
        "webhook-https" | "webhook-http" => &["insecure_tls_skip_verify"],
        _ => &["COCKROACH_LOCALITY"],
    }
}

/// Characters that may follow a Greek letter in a secret.
const OTHERS: &[char] = &[
    '\'', '"', '&', '=', '%', '#', '?', '/', '@', ':', '+', ' ', '\\', ';', ',', '(', ')', '$',
    '`', '\n', 'a', 'Z', '0', '_', '-', '.', '~', '*', '!', '[', ']', '{', '}', '<', '>', '|',
];

/// A secret: 1 to 12 Greek letters, each optionally followed by another character.
pub fn secret() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::char::range('α', 'ω'),
            prop::option::of(select(OTHERS)),
        ),
        1..12,
    )
    .prop_map(|units| {
        units
            .into_iter()
            .flat_map(|(g, o)| std::iter::once(g).chain(o))
            .collect()
    })
}

/// How a character of a value is written in a URI.
#[derive(Clone, Copy, Debug)]
enum Encode {
    Raw,
    Upper,
    Lower,
}

fn encoding() -> impl Strategy<Value = Encode> {
    prop_oneof![Just(Encode::Raw), Just(Encode::Upper), Just(Encode::Lower)]
}

/// `c` percent-encoded (every UTF-8 byte).
fn escape(c: char, e: Encode) -> String {
    let mut buf = [0; 4];
    c.encode_utf8(&mut buf)
        .bytes()
        .map(|b| match e {
            Encode::Lower => format!("%{b:02x}"),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `s` written into a URI: the characters in `must` always encoded, the others encoded or not
/// as `how` says (cycled).
fn write(s: &str, must: &[char], how: &[Encode]) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            let e = how
                .get(i % how.len().max(1))
                .copied()
                .unwrap_or(Encode::Raw);
            match e {
                Encode::Raw if !must.contains(&c) && !c.is_control() => c.to_string(),
                Encode::Raw => escape(c, Encode::Upper),
                e => escape(c, e),
            }
        })
        .collect()
}

/// What a query value must encode: `&` ends it, `%` starts an escape, `+` reads as a space.
const QUERY_MUST: &[char] = &['&', '%', '+'];
/// What a password must encode: what ends the authority or the user info, and `%`.
const PASSWORD_MUST: &[char] = &['/', '?', '#', '%', '\\', ' '];

/// A key of a secret parameter, spelt as a user might: as listed, in another case, or with
/// some characters percent-encoded.
fn spell_key(key: &'static str) -> impl Strategy<Value = String> {
    (0..4u8, prop::collection::vec(any::<bool>(), key.len())).prop_map(move |(case, enc)| {
        let key = match case {
            0 => key.to_string(),
            1 => key.to_ascii_lowercase(),
            2 => key.to_ascii_uppercase(),
            _ => key
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect(),
        };
        key.chars()
            .zip(enc.iter().chain(std::iter::repeat(&false)))
            .map(|(c, e)| {
                if *e {
                    escape(c, Encode::Upper)
                } else {
                    c.to_string()
                }
            })
            .collect()
    })
}

/// A secret parameter `key=value` of `scheme`: the pair as written and the secret.
fn secret_pair(scheme: &'static str) -> impl Strategy<Value = (String, String)> {
    let keys = prop_oneof![
        4 => select(secret_keys(scheme)),
        1 => select(SECRET_PARAMS),
    ];
    (
        keys.prop_flat_map(spell_key),
        secret(),
        prop::collection::vec(encoding(), 1..4),
    )
        .prop_map(|(key, secret, how)| {
            (
                format!("{key}={}", write(&secret, QUERY_MUST, &how)),
                secret,
            )
        })
}

/// A plain value: ASCII letters and digits, quotes and a few punctuation characters.
fn plain_value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9'\"._(),-]{0,8}"
}

/// A plain parameter of `scheme`.
fn plain_pair(scheme: &'static str) -> impl Strategy<Value = String> {
    (select(plain_keys(scheme)), plain_value())
        .prop_map(|(k, v)| format!("{k}={}", write(&v, QUERY_MUST, &[Encode::Raw])))
}

/// A URI of any scheme with one to four secrets in it.
pub fn secret_uri() -> impl Strategy<Value = SecretUri> {
    select(SCHEMES).prop_flat_map(secret_uri_of)
}

/// A URI of `scheme` with one to four secrets in it (a password, secret parameters), plain
/// parameters around them in any order, and a host and path of the scheme's kind.
pub fn secret_uri_of(scheme: &'static str) -> impl Strategy<Value = SecretUri> {
    let host = match scheme {
        "nodelocal" => select(&["1", "2", "self"][..])
            .prop_map(str::to_string)
            .boxed(),
        "kafka" => "[a-z][a-z0-9.-]{0,8}(:[0-9]{2,5})?".boxed(),
        "null" => Just(String::new()).boxed(),
        _ => "[a-z][a-z0-9.-]{0,8}".boxed(),
    };
    let password = prop::option::of((
        "[a-z][a-z0-9._-]{0,6}",
        secret(),
        prop::collection::vec(encoding(), 1..4),
    ));
    (
        host,
        "(/[a-z0-9_.-]{1,6}){0,3}",
        password,
        prop::collection::vec(secret_pair(scheme), 0..3),
        prop::collection::vec(plain_pair(scheme), 0..4),
    )
        .prop_filter("at least one secret", |(_, _, password, secrets, _)| {
            password.is_some() || !secrets.is_empty()
        })
        .prop_flat_map(move |(host, path, password, secrets, plain)| {
            let mut pairs: Vec<String> = plain;
            let mut found = Vec::new();
            for (pair, secret) in secrets {
                pairs.push(pair);
                found.push(secret);
            }
            let userinfo = match password {
                Some((user, secret, how)) => {
                    let written = write(&secret, PASSWORD_MUST, &how);
                    found.push(secret);
                    format!("{user}:{written}@")
                }
                None => String::new(),
            };
            let head = format!("{scheme}://{userinfo}{host}{path}");
            (Just(head), Just(pairs).prop_shuffle(), Just(found))
        })
        .prop_map(|(head, pairs, secrets)| SecretUri {
            uri: if pairs.is_empty() {
                head
            } else {
                format!("{head}?{}", pairs.join("&"))
            },
            secrets,
        })
}

/// `s` as an SQL string literal (`'` doubled).
pub fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Panics, naming `what`, if `shown` holds any character of a generated secret, as written
/// or percent-encoded (once or twice, upper or lower case hex).
pub fn assert_hidden(shown: &str, what: &str) {
    assert!(!leaks(shown), "{what} shows a secret: {shown}");
}

/// Whether `shown` holds any character of a generated secret, as written or percent-encoded
/// (once or twice, upper or lower case hex).
pub fn leaks(shown: &str) -> bool {
    let mut text = shown.to_string();
    for _ in 0..3 {
        if text.chars().any(is_secret_char) {
            return true;
        }
        text = super::percent_decode_lossy(&text);
    }
    false
}

/// Whether `c` is of the alphabet secrets are made of (the Greek block, any case).
pub fn is_secret_char(c: char) -> bool {
    ('\u{0370}'..='\u{03FF}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest! {
        #[test]
        fn secrets_are_where_readers_take_them(s in secret_uri()) {
            prop_assert!(!s.secrets.is_empty());
            prop_assert!(s.secrets.iter().all(|x| x.chars().any(is_secret_char)));
            prop_assert!(leaks(&s.uri), "the generated URI holds its secrets: {}", s.uri);
        }
    }
}
