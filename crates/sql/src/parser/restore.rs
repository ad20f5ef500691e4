//! `RESTORE`.

use std::fmt;

use sqlparser::tokenizer::Token;

use super::backup::{
    BackupSubdir, BackupTargets, OptionWriter, execution_locality_spelling, parse_as_of,
    parse_subdir_in, parse_targets, parse_with_options, set_once,
};
use super::common::{AsOfSystemTime, OptionValue, UriList, comma_list};
use super::cursor::{Cursor, Result};
use super::lexer::Tok;

/// `RESTORE [targets] FROM {LATEST | 'subdir'} IN collection [AS OF SYSTEM TIME t]
/// [WITH options]`, or the deprecated `RESTORE [targets] FROM 'uri' [, 'uri' ...]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Restore {
    /// What to restore; `None` is the whole cluster.
    pub targets: Option<BackupTargets>,
    /// Which backup.
    pub source: RestoreSource,
    /// `AS OF SYSTEM TIME`: restore to this time (needs a `revision_history` backup).
    pub as_of: Option<AsOfSystemTime>,
    /// The `WITH` options.
    pub options: RestoreOptions,
}

impl Restore {
    /// Whether this is the deprecated form without `IN`, which earns a NOTICE.
    pub fn is_deprecated_syntax(&self) -> bool {
        matches!(self.source, RestoreSource::Deprecated(_))
    }
}

/// The backup a RESTORE reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreSource {
    /// `{LATEST | 'subdir'} IN collection`.
    InCollection {
        /// The backup in the collection.
        subdir: BackupSubdir,
        /// The collection.
        collection: UriList,
    },
    /// Deprecated: the full backup's URIs, then each incremental's.
    Deprecated(Vec<UriList>),
}

/// RESTORE's options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// `encryption_passphrase = 'x'`.
    pub encryption_passphrase: Option<OptionValue>,
    /// `kms = 'uri' | (...)`.
    pub kms: Option<UriList>,
    /// `into_db = 'db'`: restore tables into this database.
    pub into_db: Option<OptionValue>,
    /// `skip_missing_foreign_keys`.
    pub skip_missing_foreign_keys: bool,
    /// `skip_missing_sequences`.
    pub skip_missing_sequences: bool,
    /// `skip_missing_views`.
    pub skip_missing_views: bool,
    /// `detached`: return the job id at once.
    pub detached: bool,
    /// `skip_localities_check`.
    pub skip_localities_check: bool,
    /// `new_db_name = 'db'`: restore a database under a new name.
    pub new_db_name: Option<OptionValue>,
    /// `incremental_location = 'uri' | (...)`.
    pub incremental_location: Option<UriList>,
    /// `schema_only`: restore descriptors without data.
    pub schema_only: bool,
    /// `EXECUTION LOCALITY = 'filter'`.
    pub execution_locality: Option<OptionValue>,
}

impl RestoreOptions {
    /// Whether no option is set.
    pub fn is_default(&self) -> bool {
        *self == RestoreOptions::default()
    }
}

impl fmt::Display for RestoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut w = OptionWriter::new(f);
        w.value("encryption_passphrase", self.encryption_passphrase.as_ref())?;
        w.value("kms", self.kms.as_ref())?;
        w.value("into_db", self.into_db.as_ref())?;
        w.flag("skip_missing_foreign_keys", self.skip_missing_foreign_keys)?;
        w.flag("skip_missing_sequences", self.skip_missing_sequences)?;
        w.flag("skip_missing_views", self.skip_missing_views)?;
        w.flag("detached", self.detached)?;
        w.flag("skip_localities_check", self.skip_localities_check)?;
        w.value("new_db_name", self.new_db_name.as_ref())?;
        w.value("incremental_location", self.incremental_location.as_ref())?;
        w.flag("schema_only", self.schema_only)?;
        w.value("execution locality", self.execution_locality.as_ref())
    }
}

impl fmt::Display for Restore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RESTORE ")?;
        if let Some(targets) = &self.targets {
            write!(f, "{targets} ")?;
        }
        match &self.source {
            RestoreSource::InCollection { subdir, collection } => {
                write!(f, "FROM {subdir} IN {collection}")?
            }
            RestoreSource::Deprecated(lists) => {
                f.write_str("FROM ")?;
                comma_list(f, lists)?;
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

/// Parses `RESTORE ...` (the cursor is at `RESTORE`).
pub(crate) fn parse_restore(c: &mut Cursor) -> Result<Restore> {
    c.expect_kw("RESTORE")?;
    if c.peek_kws(&["SYSTEM", "USERS"]) {
        return Err(c.unimplemented("RESTORE SYSTEM USERS"));
    }
    let targets = if c.peek_kw("FROM") {
        None
    } else {
        Some(parse_targets(c)?)
    };
    c.expect_kw("FROM")?;
    let source = match parse_subdir_in(c)? {
        (Some(subdir), collection) => RestoreSource::InCollection { subdir, collection },
        (None, first) => {
            let mut lists = vec![first];
            while c.eat_token(&Token::Comma) {
                lists.push(c.uri_list()?);
            }
            RestoreSource::Deprecated(lists)
        }
    };
    let as_of = parse_as_of(c)?;
    let mut options = RestoreOptions::default();
    parse_with_options(c, |c, key, name| restore_option(c, key, name, &mut options))?;
    c.expect_end()?;
    Ok(Restore {
        targets,
        source,
        as_of,
        options,
    })
}

const RESTORE_OPTIONS: &str = "encryption_passphrase, kms, into_db, skip_missing_foreign_keys, \
    skip_missing_sequences, skip_missing_views, detached, skip_localities_check, new_db_name, \
    incremental_location, schema_only, EXECUTION LOCALITY";

/// Sets a flag option, refusing a second occurrence.
fn set_flag(c: &Cursor, key: &Tok, name: &str, flag: &mut bool) -> Result<()> {
    if *flag {
        return Err(c.error_at(key, &format!("{name} option specified multiple times")));
    }
    *flag = true;
    Ok(())
}

/// Reads one RESTORE option into `options`.
fn restore_option(
    c: &mut Cursor,
    key: &Tok,
    name: &str,
    options: &mut RestoreOptions,
) -> Result<()> {
    let o = options;
    match name {
        "skip_missing_foreign_keys" => set_flag(c, key, name, &mut o.skip_missing_foreign_keys),
        "skip_missing_sequences" => set_flag(c, key, name, &mut o.skip_missing_sequences),
        "skip_missing_views" => set_flag(c, key, name, &mut o.skip_missing_views),
        "detached" => set_flag(c, key, name, &mut o.detached),
        "skip_localities_check" => set_flag(c, key, name, &mut o.skip_localities_check),
        "schema_only" => set_flag(c, key, name, &mut o.schema_only),
        "kms" | "incremental_location" => {
            c.expect_token(&Token::Eq)?;
            let value = c.uri_list()?;
            let slot = if name == "kms" {
                &mut o.kms
            } else {
                &mut o.incremental_location
            };
            set_once(c, key, name, slot, value)
        }
        "encryption_passphrase" | "into_db" | "new_db_name" | "execution locality" => {
            c.expect_token(&Token::Eq)?;
            let value = c.string_or_placeholder()?;
            let slot = match name {
                "encryption_passphrase" => &mut o.encryption_passphrase,
                "into_db" => &mut o.into_db,
                "new_db_name" => &mut o.new_db_name,
                _ => &mut o.execution_locality,
            };
            set_once(c, key, name, slot, value)
        }
        "execution_locality" => Err(execution_locality_spelling(c, key, "RESTORE")),
        _ => Err(c
            .error_at(key, &format!("unknown RESTORE option \"{name}\""))
            .with_hint(format!("valid options: {RESTORE_OPTIONS}"))),
    }
}
