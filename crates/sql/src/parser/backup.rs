//! `BACKUP` and `SHOW BACKUP(S)`, plus the pieces RESTORE shares: targets, subdirectories and the
//! `WITH` option list reader.

use std::fmt;

use sqlparser::tokenizer::Token;

use super::common::{
    AsOfSystemTime, KvOption, Name, OptionValue, QualifiedName, UriList, comma_list,
};
use super::cursor::{Cursor, Result};
use super::lexer::Tok;

/// `BACKUP [targets] {INTO ... | TO ...} [AS OF SYSTEM TIME t] [WITH options]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Backup {
    /// What to back up; `None` is the whole cluster.
    pub targets: Option<BackupTargets>,
    /// Where to write it.
    pub destination: BackupDestination,
    /// `AS OF SYSTEM TIME`.
    pub as_of: Option<AsOfSystemTime>,
    /// The `WITH` options.
    pub options: BackupOptions,
}

impl Backup {
    /// Whether this is the deprecated `BACKUP ... TO` form, which earns a NOTICE.
    pub fn is_deprecated_syntax(&self) -> bool {
        matches!(self.destination, BackupDestination::Deprecated { .. })
    }
}

/// The objects a BACKUP or RESTORE names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackupTargets {
    /// `TABLE t1, db.t2, db.*` (the `TABLE` keyword is optional).
    Tables(Vec<TablePattern>),
    /// `DATABASE d1, d2`.
    Databases(Vec<Name>),
}

impl fmt::Display for BackupTargets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackupTargets::Tables(tables) => {
                f.write_str("TABLE ")?;
                comma_list(f, tables)
            }
            BackupTargets::Databases(dbs) => {
                f.write_str("DATABASE ")?;
                comma_list(f, dbs)
            }
        }
    }
}

/// A table, or every table under a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TablePattern {
    /// One table.
    Table(QualifiedName),
    /// `prefix.*`, or `*` for every table of the current database.
    All(Option<QualifiedName>),
}

impl fmt::Display for TablePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TablePattern::Table(name) => write!(f, "{name}"),
            TablePattern::All(Some(prefix)) => write!(f, "{prefix}.*"),
            TablePattern::All(None) => f.write_str("*"),
        }
    }
}

/// A backup inside a collection: the newest full backup, or one named by its subdirectory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackupSubdir {
    /// `LATEST` (also the string `'latest'`, any case).
    Latest,
    /// A subdirectory such as `'2023/06/01-123456.78'`, or a placeholder.
    Path(OptionValue),
}

impl fmt::Display for BackupSubdir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackupSubdir::Latest => f.write_str("LATEST"),
            BackupSubdir::Path(path) => write!(f, "{path}"),
        }
    }
}

/// Where a BACKUP writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackupDestination {
    /// `INTO 'collection'`: a new full backup in a new subdirectory of the collection.
    Collection(UriList),
    /// `INTO LATEST IN 'collection'` or `INTO 'subdir' IN 'collection'`: an incremental backup
    /// appended to that full backup.
    Incremental {
        /// The full backup to append to.
        full: BackupSubdir,
        /// The collection.
        collection: UriList,
    },
    /// Deprecated `TO 'uri' [INCREMENTAL FROM 'uri', ...]`.
    Deprecated {
        /// The destination.
        to: UriList,
        /// Earlier backups this one is incremental to.
        incremental_from: Vec<OptionValue>,
    },
}

/// BACKUP's options. `None` means not given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupOptions {
    /// `revision_history [= bool]`: keep every MVCC revision, not just the latest.
    pub revision_history: Option<OptionValue>,
    /// `encryption_passphrase = 'x'`.
    pub encryption_passphrase: Option<OptionValue>,
    /// `detached [= TRUE | FALSE]`: return the job id at once.
    pub detached: bool,
    /// `kms = 'uri' | ('uri', ...)`.
    pub kms: Option<UriList>,
    /// `incremental_location = 'uri' | (...)`.
    pub incremental_location: Option<UriList>,
    /// `EXECUTION LOCALITY = 'filter'`: only nodes matching the locality filter run the job.
    pub execution_locality: Option<OptionValue>,
    /// `include_all_secondary_tenants [= bool]` (alias `include_all_virtual_clusters`).
    pub include_all_secondary_tenants: Option<OptionValue>,
    /// `updates_cluster_monitoring_metrics [= bool]`.
    pub updates_cluster_monitoring_metrics: Option<OptionValue>,
}

impl BackupOptions {
    /// Whether no option is set (so no `WITH` clause is printed).
    pub fn is_default(&self) -> bool {
        *self == BackupOptions::default()
    }
}

/// Writes `name = value` items of a CockroachDB option list, skipping absent ones.
pub(crate) struct OptionWriter<'a, 'b> {
    f: &'a mut fmt::Formatter<'b>,
    first: bool,
}

impl<'a, 'b> OptionWriter<'a, 'b> {
    pub(crate) fn new(f: &'a mut fmt::Formatter<'b>) -> Self {
        OptionWriter { f, first: true }
    }

    /// Writes `name` alone.
    pub(crate) fn flag(&mut self, name: &str, set: bool) -> fmt::Result {
        if !set {
            return Ok(());
        }
        self.sep()?;
        self.f.write_str(name)
    }

    /// Writes `name = value` when there is a value.
    pub(crate) fn value<T: fmt::Display>(&mut self, name: &str, value: Option<&T>) -> fmt::Result {
        let Some(value) = value else { return Ok(()) };
        self.sep()?;
        write!(self.f, "{name} = {value}")
    }

    fn sep(&mut self) -> fmt::Result {
        if !self.first {
            self.f.write_str(", ")?;
        }
        self.first = false;
        Ok(())
    }
}

impl fmt::Display for BackupOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut w = OptionWriter::new(f);
        w.value("revision_history", self.revision_history.as_ref())?;
        w.value("encryption_passphrase", self.encryption_passphrase.as_ref())?;
        w.flag("detached", self.detached)?;
        w.value("kms", self.kms.as_ref())?;
        w.value("incremental_location", self.incremental_location.as_ref())?;
        w.value("execution locality", self.execution_locality.as_ref())?;
        w.value(
            "include_all_secondary_tenants",
            self.include_all_secondary_tenants.as_ref(),
        )?;
        w.value(
            "updates_cluster_monitoring_metrics",
            self.updates_cluster_monitoring_metrics.as_ref(),
        )
    }
}

impl fmt::Display for Backup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BACKUP ")?;
        if let Some(targets) = &self.targets {
            write!(f, "{targets} ")?;
        }
        match &self.destination {
            BackupDestination::Collection(uris) => write!(f, "INTO {uris}")?,
            BackupDestination::Incremental { full, collection } => {
                write!(f, "INTO {full} IN {collection}")?
            }
            BackupDestination::Deprecated {
                to,
                incremental_from,
            } => {
                write!(f, "TO {to}")?;
                if !incremental_from.is_empty() {
                    f.write_str(" INCREMENTAL FROM ")?;
                    comma_list(f, incremental_from)?;
                }
            }
        }
        if let Some(as_of) = &self.as_of {
            write!(f, " {as_of}")?;
        }
        if !self.options.is_default() {
            write!(f, " WITH OPTIONS ({})", self.options)?;
        }
        Ok(())
    }
}

/// Parses `BACKUP ...` (the cursor is at `BACKUP`).
pub(crate) fn parse_backup(c: &mut Cursor) -> Result<Backup> {
    c.expect_kw("BACKUP")?;
    let targets = if c.peek_kw("INTO") || c.peek_kw("TO") {
        None
    } else {
        Some(parse_targets(c)?)
    };
    let destination = if c.eat_kw("INTO") {
        match parse_subdir_in(c)? {
            (Some(full), collection) => BackupDestination::Incremental { full, collection },
            (None, collection) => BackupDestination::Collection(collection),
        }
    } else if c.eat_kw("TO") {
        let to = c.uri_list()?;
        let mut incremental_from = Vec::new();
        if c.eat_kws(&["INCREMENTAL", "FROM"]) {
            incremental_from.push(c.string_or_placeholder()?);
            while c.eat_token(&Token::Comma) {
                incremental_from.push(c.string_or_placeholder()?);
            }
        }
        BackupDestination::Deprecated {
            to,
            incremental_from,
        }
    } else {
        return Err(c.error_why("expected INTO"));
    };
    let as_of = parse_as_of(c)?;
    let mut options = BackupOptions::default();
    let mut detached_seen = false;
    parse_with_options(c, |c, key, name| {
        backup_option(c, key, name, &mut options, &mut detached_seen)
    })?;
    c.expect_end()?;
    Ok(Backup {
        targets,
        destination,
        as_of,
        options,
    })
}

/// `[TABLE] pattern, ... | DATABASE name, ...`.
pub(crate) fn parse_targets(c: &mut Cursor) -> Result<BackupTargets> {
    if c.peek_kw("TENANT") || c.peek_kws(&["VIRTUAL", "CLUSTER"]) {
        return Err(c.unimplemented("backup and restore of virtual clusters"));
    }
    if c.eat_kw("DATABASE") {
        return Ok(BackupTargets::Databases(c.name_list()?));
    }
    c.eat_kw("TABLE");
    let mut tables = vec![parse_table_pattern(c)?];
    while c.eat_token(&Token::Comma) {
        tables.push(parse_table_pattern(c)?);
    }
    Ok(BackupTargets::Tables(tables))
}

/// `t`, `db.t`, `db.*`, `*`.
fn parse_table_pattern(c: &mut Cursor) -> Result<TablePattern> {
    if c.eat_token(&Token::Mul) {
        return Ok(TablePattern::All(None));
    }
    let name = c.qualified_name()?;
    if c.eat_token(&Token::Period) {
        c.expect_token(&Token::Mul)?;
        return Ok(TablePattern::All(Some(name)));
    }
    Ok(TablePattern::Table(name))
}

/// `{LATEST | 'subdir'} IN collection`, or just `collection`: the subdirectory is `None` when
/// there is no `IN`.
pub(crate) fn parse_subdir_in(c: &mut Cursor) -> Result<(Option<BackupSubdir>, UriList)> {
    if c.eat_kw("LATEST") {
        c.expect_kw("IN")?;
        return Ok((Some(BackupSubdir::Latest), c.uri_list()?));
    }
    let list_start = c.peek();
    let first = c.uri_list()?;
    if !c.peek_kw("IN") {
        return Ok((None, first));
    }
    let subdir = match <[OptionValue; 1]>::try_from(first.0) {
        Ok([subdir]) => subdir_of(subdir),
        Err(_) => {
            let at = list_start.map_or_else(
                || c.error(),
                |t| c.error_at(t, "a backup subdirectory is a single string"),
            );
            return Err(at);
        }
    };
    c.expect_kw("IN")?;
    Ok((Some(subdir), c.uri_list()?))
}

/// A subdirectory value, with the string `'latest'` read as `LATEST`.
pub(crate) fn subdir_of(value: OptionValue) -> BackupSubdir {
    match &value {
        OptionValue::String(s) if s.eq_ignore_ascii_case("latest") => BackupSubdir::Latest,
        _ => BackupSubdir::Path(value),
    }
}

/// `[AS OF SYSTEM TIME expr]`.
pub(crate) fn parse_as_of(c: &mut Cursor) -> Result<Option<AsOfSystemTime>> {
    if !c.eat_kws(&["AS", "OF", "SYSTEM", "TIME"]) {
        return Ok(None);
    }
    Ok(Some(AsOfSystemTime(c.expr()?)))
}

/// Reads `[WITH [OPTIONS (] option [, ...] [)]]`, calling `each` with the cursor after each
/// option's name, the name's token and the lower-cased name (`execution locality` for the
/// two-word option).
pub(crate) fn parse_with_options<'a>(
    c: &mut Cursor<'a>,
    mut each: impl FnMut(&mut Cursor<'a>, &'a Tok, &str) -> Result<()>,
) -> Result<()> {
    if !c.eat_kw("WITH") {
        return Ok(());
    }
    let parens = c.eat_kw("OPTIONS");
    if parens {
        c.expect_token(&Token::LParen)?;
    }
    loop {
        let Some(key) = c.peek() else {
            return Err(c.error());
        };
        let name = if c.eat_kws(&["EXECUTION", "LOCALITY"]) {
            "execution locality".to_string()
        } else {
            match &key.token.token {
                Token::Word(w) if w.quote_style.is_none() => w.value.to_lowercase(),
                _ => return Err(c.error_why("expected an option name")),
            }
        };
        if name != "execution locality" {
            c.next();
        }
        each(c, key, &name)?;
        if !c.eat_token(&Token::Comma) {
            break;
        }
    }
    if parens {
        c.expect_token(&Token::RParen)?;
    }
    Ok(())
}

/// Stores an option's value, refusing a second occurrence.
pub(crate) fn set_once<T>(
    c: &Cursor,
    key: &Tok,
    name: &str,
    slot: &mut Option<T>,
    value: T,
) -> Result<()> {
    if slot.is_some() {
        return Err(c.error_at(key, &format!("{name} option specified multiple times")));
    }
    *slot = Some(value);
    Ok(())
}

/// `= TRUE | = FALSE | = $n` or nothing, which means true.
pub(crate) fn optional_bool(c: &mut Cursor) -> Result<OptionValue> {
    if c.eat_token(&Token::Eq) {
        c.bool_or_placeholder()
    } else {
        Ok(OptionValue::Bool(true))
    }
}

/// The error for the one-word spelling of `EXECUTION LOCALITY`.
pub(crate) fn execution_locality_spelling(
    c: &Cursor,
    key: &Tok,
    statement: &str,
) -> super::error::ParseError {
    c.error_at(
        key,
        &format!("unknown {statement} option \"execution_locality\""),
    )
    .with_hint("write EXECUTION LOCALITY = '<filter>', two words")
}

const BACKUP_OPTIONS: &str = "revision_history, detached, encryption_passphrase, kms, \
    incremental_location, EXECUTION LOCALITY, include_all_secondary_tenants, \
    updates_cluster_monitoring_metrics";

/// Reads one BACKUP option's value into `options`.
fn backup_option(
    c: &mut Cursor,
    key: &Tok,
    name: &str,
    options: &mut BackupOptions,
    detached_seen: &mut bool,
) -> Result<()> {
    match name {
        "revision_history" => {
            let value = optional_bool(c)?;
            set_once(c, key, name, &mut options.revision_history, value)
        }
        "detached" => {
            let value = if c.eat_token(&Token::Eq) {
                if c.eat_kw("TRUE") {
                    true
                } else {
                    c.expect_kw("FALSE")?;
                    false
                }
            } else {
                true
            };
            if std::mem::replace(detached_seen, true) {
                return Err(c.error_at(key, "detached option specified multiple times"));
            }
            options.detached = value;
            Ok(())
        }
        "encryption_passphrase" => {
            c.expect_token(&Token::Eq)?;
            let value = c.string_or_placeholder()?;
            set_once(c, key, name, &mut options.encryption_passphrase, value)
        }
        "kms" => {
            c.expect_token(&Token::Eq)?;
            let value = c.uri_list()?;
            set_once(c, key, name, &mut options.kms, value)
        }
        "incremental_location" => {
            c.expect_token(&Token::Eq)?;
            let value = c.uri_list()?;
            set_once(c, key, name, &mut options.incremental_location, value)
        }
        "execution locality" => {
            c.expect_token(&Token::Eq)?;
            let value = c.string_or_placeholder()?;
            set_once(c, key, name, &mut options.execution_locality, value)
        }
        "include_all_secondary_tenants" | "include_all_virtual_clusters" => {
            let value = optional_bool(c)?;
            let name = "include_all_secondary_tenants";
            set_once(
                c,
                key,
                name,
                &mut options.include_all_secondary_tenants,
                value,
            )
        }
        "updates_cluster_monitoring_metrics" => {
            let value = optional_bool(c)?;
            set_once(
                c,
                key,
                name,
                &mut options.updates_cluster_monitoring_metrics,
                value,
            )
        }
        "execution_locality" => Err(execution_locality_spelling(c, key, "BACKUP")),
        _ => Err(c
            .error_at(key, &format!("unknown BACKUP option \"{name}\""))
            .with_hint(format!("valid options: {BACKUP_OPTIONS}"))),
    }
}

/// `SHOW BACKUP [details] [FROM] {LATEST | 'subdir'} IN collection [WITH options]`, or the
/// deprecated `SHOW BACKUP [details] 'uri'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShowBackup {
    /// What to show about the backup.
    pub details: ShowBackupDetails,
    /// Which backup.
    pub source: ShowBackupSource,
    /// `WITH` options: `check_files`, `privileges`, `debug_ids`, `as_json`,
    /// `encryption_passphrase`, `kms`, `incremental_location`, `encryption_info_dir`.
    pub options: Vec<KvOption>,
}

impl ShowBackup {
    /// Whether this is the deprecated form without `IN`.
    pub fn is_deprecated_syntax(&self) -> bool {
        matches!(self.source, ShowBackupSource::Direct(_))
    }
}

/// What `SHOW BACKUP` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShowBackupDetails {
    /// One row per object.
    Objects,
    /// `SCHEMAS`: adds `create_statement`.
    Schemas,
    /// `FILES`: one row per data file.
    Files,
    /// `RANGES`: one row per range.
    Ranges,
    /// `VALIDATE`: checks the files.
    Validate,
}

/// The backup a `SHOW BACKUP` reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShowBackupSource {
    /// `{LATEST | 'subdir'} IN collection`.
    InCollection {
        /// The backup in the collection.
        subdir: BackupSubdir,
        /// The collection.
        collection: UriList,
    },
    /// Deprecated: the backup's own URI.
    Direct(OptionValue),
}

impl fmt::Display for ShowBackup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW BACKUP ")?;
        match self.details {
            ShowBackupDetails::Objects => {}
            ShowBackupDetails::Schemas => f.write_str("SCHEMAS ")?,
            ShowBackupDetails::Files => f.write_str("FILES ")?,
            ShowBackupDetails::Ranges => f.write_str("RANGES ")?,
            ShowBackupDetails::Validate => f.write_str("VALIDATE ")?,
        }
        match &self.source {
            ShowBackupSource::InCollection { subdir, collection } => {
                write!(f, "FROM {subdir} IN {collection}")?
            }
            ShowBackupSource::Direct(uri) => write!(f, "{uri}")?,
        }
        if !self.options.is_empty() {
            f.write_str(" WITH OPTIONS (")?;
            comma_list(f, &self.options)?;
            f.write_str(")")?;
        }
        Ok(())
    }
}

const SHOW_BACKUP_OPTIONS: &[&str] = &[
    "as_json",
    "check_files",
    "debug_ids",
    "privileges",
    "encryption_passphrase",
    "kms",
    "incremental_location",
    "encryption_info_dir",
];

/// Parses what follows `SHOW BACKUP`.
pub(crate) fn parse_show_backup(c: &mut Cursor) -> Result<ShowBackup> {
    let details = if c.eat_kw("SCHEMAS") {
        ShowBackupDetails::Schemas
    } else if c.eat_kw("FILES") {
        ShowBackupDetails::Files
    } else if c.eat_kw("RANGES") {
        ShowBackupDetails::Ranges
    } else if c.eat_kw("VALIDATE") {
        ShowBackupDetails::Validate
    } else {
        ShowBackupDetails::Objects
    };
    let from = c.eat_kw("FROM");
    let source = match parse_subdir_in(c)? {
        (Some(subdir), collection) => ShowBackupSource::InCollection { subdir, collection },
        (None, _) if from => return Err(c.error_why("expected IN")),
        (None, UriList(uris)) => match <[OptionValue; 1]>::try_from(uris) {
            Ok([uri]) => ShowBackupSource::Direct(uri),
            Err(_) => return Err(c.error_why("expected IN")),
        },
    };
    let mut options = Vec::new();
    parse_with_options(c, |c, key, name| {
        if !SHOW_BACKUP_OPTIONS.contains(&name) {
            return Err(c
                .error_at(key, &format!("unknown SHOW BACKUP option \"{name}\""))
                .with_hint(format!("valid options: {}", SHOW_BACKUP_OPTIONS.join(", "))));
        }
        if options.iter().any(|o: &KvOption| o.key.as_str() == name) {
            return Err(c.error_at(key, &format!("{name} option specified multiple times")));
        }
        let value = if c.eat_token(&Token::Eq) {
            Some(if name == "kms" || name == "incremental_location" {
                list_value(c)?
            } else {
                c.option_value()?
            })
        } else {
            None
        };
        options.push(KvOption {
            key: Name::new(name),
            value,
        });
        Ok(())
    })?;
    c.expect_end()?;
    Ok(ShowBackup {
        details,
        source,
        options,
    })
}

/// A single string or placeholder for a list-valued generic option. A parenthesised list is
/// not representable as one [`OptionValue`], so it is refused here.
fn list_value(c: &mut Cursor) -> Result<OptionValue> {
    if c.peek_token(&Token::LParen) {
        return Err(c.unimplemented("a list of URIs in a SHOW BACKUP option"));
    }
    c.string_or_placeholder()
}
