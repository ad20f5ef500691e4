//! Statements with their secrets redacted, for job descriptions, SHOW JOBS and log lines.
//!
//! Redaction works on the parsed statement, never on its text: every URI (`INTO`, `FROM`,
//! `IN`, `INCREMENTAL FROM`, `kms`, `incremental_location`, a changefeed's sink, an external
//! connection's URI) goes through [`base::redact::redact_uri`], every option value through
//! [`base::redact::redact_option`] (`webhook_auth_header = 'redacted'`,
//! `encryption_passphrase = '*****'`), and the statement is printed again. A quote, a `?` or
//! a `'` inside a value cannot hide a secret from it, and the printed statement parses back.
//! Placeholders (`$1`) are kept: they hold no text.
//!
//! [`redact_sql`] does the same for a statement's text: it parses the text, redacts every
//! statement and prints them again (or returns the text unchanged when nothing was redacted,
//! so a description without secrets keeps its exact form). Text that does not parse is
//! redacted token by token, with the same rules.

use base::redact::{is_secret_option, redact_option, redact_uri};
use sqlparser::tokenizer::Token;

use super::backup::{
    Backup, BackupDestination, BackupOptions, BackupSubdir, ShowBackup, ShowBackupSource,
};
use super::changefeed::{AlterChangefeed, AlterChangefeedCommand, ChangefeedTargets};
use super::common::{KvOption, OptionValue, UriList};
use super::external::CreateExternalConnection;
use super::jobs::{ControlJobs, JobSelection, ShowJobs};
use super::lexer::{Tok, tokenize};
use super::query::QueryStatement;
use super::restore::{Restore, RestoreOptions, RestoreSource};
use super::show::Show;
use super::statement::{Explain, Statement};
use super::{CreateChangefeed, parse};

/// A string value with any URI secret in it redacted (a URI, a subdirectory, a name).
fn value(v: &OptionValue) -> OptionValue {
    match v {
        OptionValue::String(s) => OptionValue::String(redact_uri(s)),
        other => other.clone(),
    }
}

/// The value of option `name`, redacted: a secret option's value is replaced whatever its
/// kind (but a placeholder), any other has the secrets of a URI in it redacted.
fn option(name: &str, v: &OptionValue) -> OptionValue {
    match v {
        OptionValue::Placeholder(_) => v.clone(),
        OptionValue::String(s) => OptionValue::String(redact_option(name, s).into_owned()),
        _ if is_secret_option(name) => OptionValue::String(redact_option(name, "").into_owned()),
        other => other.clone(),
    }
}

fn opt(name: &str, v: &Option<OptionValue>) -> Option<OptionValue> {
    v.as_ref().map(|v| option(name, v))
}

fn uris(list: &UriList) -> UriList {
    UriList(list.0.iter().map(value).collect())
}

fn kv_options(options: &[KvOption]) -> Vec<KvOption> {
    options
        .iter()
        .map(|o| KvOption {
            key: o.key.clone(),
            value: o.value.as_ref().map(|v| option(o.key.as_str(), v)),
        })
        .collect()
}

fn subdir(s: &BackupSubdir) -> BackupSubdir {
    match s {
        BackupSubdir::Latest => BackupSubdir::Latest,
        BackupSubdir::Path(p) => BackupSubdir::Path(value(p)),
    }
}

fn selection(s: &JobSelection) -> JobSelection {
    match s {
        JobSelection::Query(q) => JobSelection::Query(Box::new(q.redacted())),
        other => other.clone(),
    }
}

impl Statement {
    /// This statement with every secret in it redacted (see the [module](self) documentation):
    /// what a job description, SHOW JOBS or a log line may show.
    pub fn redacted(&self) -> Statement {
        match self {
            Statement::Query(q) => Statement::Query(Box::new(q.redacted())),
            Statement::Explain(e) => Statement::Explain(Box::new(Explain {
                analyze: e.analyze,
                options: e.options.clone(),
                statement: e.statement.redacted(),
            })),
            Statement::Backup(b) => Statement::Backup(Box::new(b.redacted())),
            Statement::Restore(r) => Statement::Restore(Box::new(r.redacted())),
            Statement::CreateExternalConnection(c) => {
                Statement::CreateExternalConnection(Box::new(CreateExternalConnection {
                    if_not_exists: c.if_not_exists,
                    name: c.name.clone(),
                    uri: value(&c.uri),
                }))
            }
            Statement::CreateChangefeed(c) => Statement::CreateChangefeed(Box::new(c.redacted())),
            Statement::AlterChangefeed(a) => Statement::AlterChangefeed(Box::new(a.redacted())),
            Statement::ControlJobs(c) => Statement::ControlJobs(Box::new(ControlJobs {
                command: c.command,
                selection: selection(&c.selection),
                reason: c.reason.clone(),
            })),
            Statement::Show(s) => Statement::Show(Box::new(s.redacted())),
            Statement::Role(r) => Statement::Role(Box::new(r.redacted())),
            other => other.clone(),
        }
    }
}

impl QueryStatement {
    /// This query with its statement sources (`[SHOW BACKUP 's3://…']`) redacted.
    pub fn redacted(&self) -> QueryStatement {
        QueryStatement {
            query: self.query.clone(),
            as_of: self.as_of.clone(),
            sources: self.sources.iter().map(Statement::redacted).collect(),
        }
    }
}

impl Backup {
    /// This BACKUP with its URIs and its passphrase redacted: its job description.
    pub fn redacted(&self) -> Backup {
        let destination = match &self.destination {
            BackupDestination::Collection(list) => BackupDestination::Collection(uris(list)),
            BackupDestination::Incremental { full, collection } => BackupDestination::Incremental {
                full: subdir(full),
                collection: uris(collection),
            },
            BackupDestination::Deprecated {
                to,
                incremental_from,
            } => BackupDestination::Deprecated {
                to: uris(to),
                incremental_from: incremental_from.iter().map(value).collect(),
            },
        };
        let o = &self.options;
        Backup {
            targets: self.targets.clone(),
            destination,
            as_of: self.as_of.clone(),
            options: BackupOptions {
                revision_history: opt("revision_history", &o.revision_history),
                encryption_passphrase: opt("encryption_passphrase", &o.encryption_passphrase),
                detached: o.detached,
                kms: o.kms.as_ref().map(uris),
                incremental_location: o.incremental_location.as_ref().map(uris),
                execution_locality: opt("execution locality", &o.execution_locality),
                include_all_secondary_tenants: o.include_all_secondary_tenants.clone(),
                updates_cluster_monitoring_metrics: o.updates_cluster_monitoring_metrics.clone(),
            },
        }
    }
}

impl Restore {
    /// This RESTORE with its URIs and its passphrase redacted: its job description.
    pub fn redacted(&self) -> Restore {
        let source = match &self.source {
            RestoreSource::InCollection {
                subdir: s,
                collection,
            } => RestoreSource::InCollection {
                subdir: subdir(s),
                collection: uris(collection),
            },
            RestoreSource::Deprecated(lists) => {
                RestoreSource::Deprecated(lists.iter().map(uris).collect())
            }
        };
        let o = &self.options;
        Restore {
            targets: self.targets.clone(),
            source,
            as_of: self.as_of.clone(),
            options: RestoreOptions {
                encryption_passphrase: opt("encryption_passphrase", &o.encryption_passphrase),
                kms: o.kms.as_ref().map(uris),
                into_db: opt("into_db", &o.into_db),
                skip_missing_foreign_keys: o.skip_missing_foreign_keys,
                skip_missing_sequences: o.skip_missing_sequences,
                skip_missing_views: o.skip_missing_views,
                detached: o.detached,
                skip_localities_check: o.skip_localities_check,
                new_db_name: opt("new_db_name", &o.new_db_name),
                incremental_location: o.incremental_location.as_ref().map(uris),
                schema_only: o.schema_only,
                execution_locality: opt("execution locality", &o.execution_locality),
            },
        }
    }
}

impl CreateChangefeed {
    /// This changefeed with its sink URI and its secret options (`webhook_auth_header`, ...)
    /// redacted: its job description.
    pub fn redacted(&self) -> CreateChangefeed {
        CreateChangefeed {
            targets: match &self.targets {
                ChangefeedTargets::Query(q) => ChangefeedTargets::Query(Box::new(q.redacted())),
                tables => tables.clone(),
            },
            sink: self.sink.as_ref().map(value),
            options: kv_options(&self.options),
        }
    }
}

impl AlterChangefeed {
    /// This ALTER CHANGEFEED with the options it sets (`sink`, `webhook_auth_header`, ...)
    /// redacted.
    pub fn redacted(&self) -> AlterChangefeed {
        let commands = self
            .commands
            .iter()
            .map(|c| match c {
                AlterChangefeedCommand::Add { targets, options } => AlterChangefeedCommand::Add {
                    targets: targets.clone(),
                    options: kv_options(options),
                },
                AlterChangefeedCommand::Set(options) => {
                    AlterChangefeedCommand::Set(kv_options(options))
                }
                other => other.clone(),
            })
            .collect();
        AlterChangefeed {
            job: self.job.clone(),
            commands,
        }
    }
}

impl Show {
    /// This SHOW with the URIs and options of SHOW BACKUP(S) redacted.
    pub fn redacted(&self) -> Show {
        match self {
            Show::Backups { collection } => Show::Backups {
                collection: uris(collection),
            },
            Show::Backup(b) => Show::Backup(ShowBackup {
                details: b.details,
                source: match &b.source {
                    ShowBackupSource::InCollection {
                        subdir: s,
                        collection,
                    } => ShowBackupSource::InCollection {
                        subdir: subdir(s),
                        collection: uris(collection),
                    },
                    ShowBackupSource::Direct(uri) => ShowBackupSource::Direct(value(uri)),
                },
                options: kv_options(&b.options),
            }),
            Show::Jobs(j) => Show::Jobs(ShowJobs {
                selection: selection(&j.selection),
                ..j.clone()
            }),
            other => other.clone(),
        }
    }
}

/// `sql` with the secrets of its statements redacted, for showing or logging a statement's
/// text (a job description, a statement a panic interrupted). The text comes back unchanged
/// when it holds no secret; otherwise its statements are printed again, redacted, separated
/// by `; `. Text that does not parse is redacted token by token; what follows a place where
/// even the tokenizer gives up (an unterminated string) is left out.
pub fn redact_sql(sql: &str) -> String {
    match parse(sql) {
        Ok(statements) => {
            let redacted: Vec<Statement> = statements.iter().map(Statement::redacted).collect();
            if redacted == statements {
                return sql.to_string();
            }
            redacted
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        }
        Err(_) => redact_tokens(sql),
    }
}

/// What replaces text the tokenizer cannot read.
const WITHHELD: &str = "…";

/// `sql` redacted token by token: every string literal has the secrets of a URI in it
/// redacted, and the value after `<secret option> =` is replaced.
fn redact_tokens(sql: &str) -> String {
    let (toks, text, cut) = match tokenize(sql) {
        Ok(toks) => (toks, sql, false),
        Err(_) => {
            // Keep what comes before the first literal or quoted name, if that reads.
            let end = sql.find(['\'', '"', '$']).unwrap_or(sql.len());
            let head = sql.get(..end).unwrap_or_default();
            match tokenize(head) {
                Ok(toks) => (toks, head, true),
                Err(_) => return WITHHELD.to_string(),
            }
        }
    };
    let mut out = String::with_capacity(text.len());
    // The last two significant tokens: a secret option's name, then `=`.
    let mut recent: [Option<&Tok>; 2] = [None, None];
    for tok in &toks {
        let after_secret = matches!(
            recent,
            [Some(name), Some(eq)]
                if eq.token.token == Token::Eq && word(name).is_some_and(is_secret_option)
        );
        // `PASSWORD 'pw'` in a role statement that does not parse.
        let after_password = recent[1]
            .and_then(word)
            .is_some_and(|w| w.eq_ignore_ascii_case("PASSWORD"));
        let literal = string_literal(&tok.token.token);
        let shown = match (after_secret, literal) {
            _ if tok.is_trivia() => None,
            (_, Some(_)) if after_password => Some("*****".to_string()),
            (true, _) if !matches!(tok.token.token, Token::Placeholder(_)) => {
                let name = recent[0].and_then(word).unwrap_or_default();
                Some(redact_option(name, "").into_owned())
            }
            (_, Some(s)) => {
                let r = redact_uri(s);
                (r != s).then_some(r)
            }
            _ => None,
        };
        match shown {
            Some(v) => out.push_str(&format!("'{}'", v.replace('\'', "''"))),
            None => out.push_str(tok.text(text)),
        }
        if !tok.is_trivia() {
            recent = [recent[1], Some(tok)];
        }
    }
    if cut {
        out.push_str(WITHHELD);
    }
    out
}

/// The word a token is, if it is one.
fn word(tok: &Tok) -> Option<&str> {
    match &tok.token.token {
        Token::Word(w) => Some(w.value.as_str()),
        _ => None,
    }
}

/// The text of a string literal token.
fn string_literal(token: &Token) -> Option<&str> {
    match token {
        Token::SingleQuotedString(s)
        | Token::DoubleQuotedString(s)
        | Token::EscapedStringLiteral(s)
        | Token::NationalStringLiteral(s)
        | Token::UnicodeStringLiteral(s)
        | Token::SingleQuotedByteStringLiteral(s)
        | Token::TripleSingleQuotedString(s) => Some(s),
        Token::DollarQuotedString(d) => Some(&d.value),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use base::redact::testing::{assert_hidden, leaks, secret, secret_uri, sql_string};
    use proptest::prelude::*;

    fn one(sql: &str) -> Statement {
        match parse(sql) {
            Ok(mut s) if s.len() == 1 => s.remove(0),
            other => panic!("{sql}: {other:?}"),
        }
    }

    /// The redacted form of `sql`, checked to parse back to itself.
    fn shown(sql: &str) -> String {
        let statement = one(sql);
        let text = statement.redacted().to_string();
        assert_eq!(
            one(&text).redacted().to_string(),
            text,
            "round trip of {text}"
        );
        // The text, printed again redacted; unchanged when there was nothing to redact.
        let want = if statement.redacted() == statement {
            sql
        } else {
            &text
        };
        assert_eq!(redact_sql(sql), want, "redact_sql({sql})");
        text
    }

    #[test]
    fn backup_and_restore() {
        assert_eq!(
            shown(
                "BACKUP DATABASE d INTO 's3://b/p?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=shh' \
                 WITH OPTIONS (execution locality = 'region=x')"
            ),
            "BACKUP DATABASE d INTO 's3://b/p?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=redacted' \
             WITH OPTIONS (execution locality = 'region=x')"
        );
        assert_eq!(
            shown(
                "BACKUP INTO LATEST IN ('s3://b/a?AWS_SECRET_ACCESS_KEY=x&COCKROACH_LOCALITY=default', \
                 'gs://b/b?CREDENTIALS=y&COCKROACH_LOCALITY=region%3Dus') WITH \
                 incremental_location = 'azure://c/i?AZURE_ACCOUNT_KEY=z', \
                 kms = 'aws:///k?AWS_SECRET_ACCESS_KEY=w', encryption_passphrase = 'pw'"
            ),
            "BACKUP INTO LATEST IN ('s3://b/a?AWS_SECRET_ACCESS_KEY=redacted&\
             COCKROACH_LOCALITY=default', 'gs://b/b?CREDENTIALS=redacted&\
             COCKROACH_LOCALITY=region%3Dus') WITH OPTIONS (encryption_passphrase = '*****', \
             kms = 'aws:///k?AWS_SECRET_ACCESS_KEY=redacted', \
             incremental_location = 'azure://c/i?AZURE_ACCOUNT_KEY=redacted')"
        );
        assert_eq!(
            shown(
                "RESTORE TABLE t FROM '2023/06/01-1' IN 'http://u:pw@h/b' \
                 WITH incremental_location = 'http://u:pw2@h/i', into_db = 'x'"
            ),
            "RESTORE TABLE t FROM '2023/06/01-1' IN 'http://u:redacted@h/b' WITH OPTIONS \
             (into_db = 'x', incremental_location = 'http://u:redacted@h/i')"
        );
        assert_eq!(
            shown(
                "RESTORE FROM 's3://b/full?AWS_SESSION_TOKEN=t', 's3://b/inc?AWS_SESSION_TOKEN=t'"
            ),
            "RESTORE FROM 's3://b/full?AWS_SESSION_TOKEN=redacted', \
             's3://b/inc?AWS_SESSION_TOKEN=redacted'"
        );
    }

    /// Security review: a quote in a URI (the statement text escapes it as `''`) hid the
    /// secret from redaction by string matching.
    #[test]
    fn passwords_of_role_statements() {
        let cases = [
            (
                "CREATE USER alice WITH PASSWORD 'hunter2'",
                "CREATE USER alice WITH PASSWORD '*****'",
            ),
            (
                "ALTER ROLE ops PASSWORD 'hunter2' LOGIN",
                "ALTER ROLE ops WITH PASSWORD '*****' LOGIN",
            ),
            (
                "ALTER USER alice WITH PASSWORD NULL",
                "ALTER USER alice WITH PASSWORD NULL",
            ),
        ];
        for (sql, want) in cases {
            assert_eq!(redact_sql(sql), want, "redact_sql({sql})");
        }
        // Text that does not parse still loses the password.
        let text = redact_sql("CREATE USER alice WITH PASSWORD 'hunter2' BOGUS");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn a_quote_does_not_hide_a_secret() {
        let text = shown("BACKUP INTO 's3://b/p?AWS_SECRET_ACCESS_KEY=ab''s3cr3t&AWS_REGION=x'");
        assert_eq!(
            text,
            "BACKUP INTO 's3://b/p?AWS_SECRET_ACCESS_KEY=redacted&AWS_REGION=x'"
        );
        let text = shown(
            "CREATE CHANGEFEED FOR t INTO 'kafka://h:9092?sasl_password=it''s-a-s3cr3t' \
             WITH webhook_auth_header = 'x'",
        );
        assert!(!text.contains("s3cr3t"), "{text}");
    }

    #[test]
    fn changefeeds() {
        assert_eq!(
            shown(
                "CREATE CHANGEFEED FOR t INTO 'webhook-https://u:pw@h/x?client_key=k' WITH \
                 updated, webhook_auth_header = 'Basic YWxp', resolved = '10s'"
            ),
            "CREATE CHANGEFEED FOR TABLE t INTO 'webhook-https://u:redacted@h/x?client_key=redacted' \
             WITH OPTIONS (updated, webhook_auth_header = 'redacted', resolved = '10s')"
        );
        assert_eq!(
            shown(
                "CREATE CHANGEFEED INTO 'kafka://h?sasl%5Fpassword=s' WITH \
                 \"WEBHOOK_AUTH_HEADER\" = 'x', confluent_schema_registry = 'https://u:p@r' \
                 AS SELECT a FROM t"
            ),
            "CREATE CHANGEFEED INTO 'kafka://h?sasl%5Fpassword=redacted' WITH OPTIONS \
             (\"WEBHOOK_AUTH_HEADER\" = 'redacted', confluent_schema_registry = \
             'https://u:redacted@r') AS SELECT a FROM t"
        );
        assert_eq!(
            shown(
                "ALTER CHANGEFEED 5 SET sink = 'kafka://h?sasl_password=s', \
                 webhook_auth_header = 'x' ADD u WITH initial_scan"
            ),
            "ALTER CHANGEFEED 5 SET sink = 'kafka://h?sasl_password=redacted', \
             webhook_auth_header = 'redacted' ADD TABLE u WITH OPTIONS (initial_scan)"
        );
        // Placeholders hold no text.
        assert_eq!(
            shown("CREATE CHANGEFEED FOR t INTO $1 WITH webhook_auth_header = $2"),
            "CREATE CHANGEFEED FOR TABLE t INTO $1 WITH OPTIONS (webhook_auth_header = $2)"
        );
    }

    #[test]
    fn connections_and_shows() {
        assert_eq!(
            shown("CREATE EXTERNAL CONNECTION c AS 's3://b?AWS_SECRET_ACCESS_KEY=s'"),
            "CREATE EXTERNAL CONNECTION 'c' AS 's3://b?AWS_SECRET_ACCESS_KEY=redacted'"
        );
        assert_eq!(
            shown("SHOW BACKUPS IN 'gs://b?BEARER_TOKEN=t'"),
            "SHOW BACKUPS IN 'gs://b?BEARER_TOKEN=redacted'"
        );
        assert_eq!(
            shown(
                "SHOW BACKUP FROM LATEST IN 'gs://b?BEARER_TOKEN=t' WITH \
                 encryption_passphrase = 'p', kms = 'gs:///k?CREDENTIALS=c'"
            ),
            "SHOW BACKUP FROM LATEST IN 'gs://b?BEARER_TOKEN=redacted' WITH OPTIONS \
             (encryption_passphrase = '*****', kms = 'gs:///k?CREDENTIALS=redacted')"
        );
        let text =
            shown("SELECT * FROM [SHOW BACKUP FROM LATEST IN 's3://b?AWS_SECRET_ACCESS_KEY=zz1']");
        assert!(!text.contains("zz1"), "{text}");
        let text = shown("EXPLAIN BACKUP INTO 's3://b?AWS_SECRET_ACCESS_KEY=zz2'");
        assert!(!text.contains("zz2"), "{text}");
    }

    #[test]
    fn text_without_secrets_is_kept_as_written() {
        for sql in [
            "select  1",
            "BACKUP  INTO 'nodelocal://1/x'",
            "CREATE CHANGEFEED FOR t INTO 'kafka://h:9092?topic_prefix=x'",
            "GC for table 52",
            "",
        ] {
            assert_eq!(redact_sql(sql), sql);
        }
    }

    #[test]
    fn text_that_does_not_parse() {
        for (sql, want) in [
            (
                "FROB INTO 's3://b?AWS_SECRET_ACCESS_KEY=s''s'",
                "FROB INTO 's3://b?AWS_SECRET_ACCESS_KEY=redacted'",
            ),
            (
                "FROB WITH webhook_auth_header = 'Bearer x', \"ENCRYPTION_PASSPHRASE\" = 'p', \
                 client_key = $1, sasl_password = bare",
                "FROB WITH webhook_auth_header = 'redacted', \"ENCRYPTION_PASSPHRASE\" = '*****', \
                 client_key = $1, sasl_password = 'redacted'",
            ),
            ("FROB 's3://b?x=1' 'unterminated", "FROB …"),
            ("FROB ok 'unterminated sasl_password=x", "FROB ok …"),
        ] {
            assert_eq!(redact_sql(sql), want, "{sql}");
        }
    }

    /// A statement holding secrets in every place one goes: URIs of every scheme, secret
    /// options, as string literals or dollar-quoted, nested in a query or an EXPLAIN.
    pub(crate) fn secret_statement() -> impl Strategy<Value = String> {
        let lit = |s: String, dollar: bool| {
            if dollar && !s.contains('$') {
                format!("$${s}$$")
            } else {
                sql_string(&s)
            }
        };
        (
            0..16usize,
            prop::collection::vec(secret_uri(), 3),
            secret(),
            prop::collection::vec(any::<bool>(), 4),
        )
            .prop_map(move |(template, uris, secret, dollar)| {
                let u = |i: usize| lit(uris[i].uri.clone(), dollar[i]);
                let s = lit(secret, dollar[3]);
                let (a, b, c) = (u(0), u(1), u(2));
                match template {
                    0 => format!(
                        "BACKUP DATABASE d INTO {a} WITH incremental_location = {b}, kms = {c}, \
                         encryption_passphrase = {s}, detached"
                    ),
                    1 => format!("BACKUP TABLE t INTO LATEST IN ({a}, {b}) AS OF SYSTEM TIME '-1s'"),
                    2 => format!("BACKUP INTO {a} IN {b}"),
                    3 => format!("BACKUP TO {a} INCREMENTAL FROM {b}, {c}"),
                    4 => format!(
                        "RESTORE TABLE t FROM LATEST IN {a} WITH incremental_location = ({b}, {c}), \
                         encryption_passphrase = {s}"
                    ),
                    5 => format!("RESTORE FROM {a}, ({b}, {c}) WITH kms = {c}"),
                    6 => format!(
                        "CREATE CHANGEFEED FOR t, TABLE u INTO {a} WITH updated, \
                         webhook_auth_header = {s}, confluent_schema_registry = {b}, \
                         kafka_sink_config = '{{\"Flush\": {{\"Messages\": 1}}}}'"
                    ),
                    7 => format!(
                        "CREATE CHANGEFEED INTO {a} WITH \"WEBHOOK_AUTH_HEADER\" = {s}, \
                         client_key = {s} AS SELECT a FROM t"
                    ),
                    8 => format!(
                        "ALTER CHANGEFEED 1 SET sink = {a}, webhook_auth_header = {s} \
                         ADD u WITH initial_scan"
                    ),
                    9 => format!("CREATE EXTERNAL CONNECTION IF NOT EXISTS c AS {a}"),
                    10 => format!(
                        "SHOW BACKUP SCHEMAS FROM LATEST IN {a} WITH encryption_passphrase = {s}, \
                         kms = {b}, incremental_location = {c}"
                    ),
                    11 => format!("SHOW BACKUPS IN ({a}, {b})"),
                    12 => format!(
                        "SELECT * FROM [SHOW BACKUP {a}] AS x WHERE x.y IN \
                         (SELECT 1 FROM [SHOW BACKUPS IN {b}])"
                    ),
                    13 => format!("CREATE USER IF NOT EXISTS alice WITH LOGIN PASSWORD {s}"),
                    14 => format!("ALTER ROLE ops PASSWORD {s}; BACKUP INTO {a}"),
                    _ => format!("EXPLAIN BACKUP INTO {a}; BACKUP INTO {b}"),
                }
            })
    }

    proptest! {
        #[test]
        fn no_secret_survives_statement_redaction(sql in secret_statement()) {
            prop_assert!(leaks(&sql), "the statement holds secrets");
            let shown = redact_sql(&sql);
            assert_hidden(&shown, &format!("redact_sql({sql:?})"));
            match parse(&sql) {
                Ok(statements) => {
                    for s in &statements {
                        let text = s.redacted().to_string();
                        assert_hidden(&text, &format!("the redacted statement of {sql:?}"));
                        // What is shown parses back, to itself.
                        let again = one(&text);
                        prop_assert_eq!(again.redacted().to_string(), text);
                    }
                    prop_assert_eq!(redact_sql(&shown), shown.clone(), "idempotent");
                }
                Err(e) => prop_assert!(false, "{sql:?} does not parse: {e}"),
            }
        }

        #[test]
        fn any_text_is_accepted(sql in "\\PC{0,80}") {
            let _ = redact_sql(&sql);
        }
    }
}
