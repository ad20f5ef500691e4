//! The RESTORE statement, its job and its `restore.ingest` processor.
//!
//! 1. [`RestoreHook`] (gateway): reads the chain of manifests (like CockroachDB, RESTORE
//!    planning reads the backup on the gateway), picks the layers up to `AS OF SYSTEM TIME`
//!    (which must fall in a `revision_history` layer), selects the descriptors to restore,
//!    refuses names that exist already (no job is created), allocates new descriptor ids and
//!    rewrites every descriptor to them ([`rewrite_descriptors`]), and creates the job.
//! 2. [`RestoreResumer`] (coordinator): plans the new tables' spans and runs the
//!    `restore.ingest` flow. Nothing is visible yet: the descriptors and names are written
//!    only at the end, in one transaction with the zone configurations, so a half-restored
//!    table can never be seen. A failed or canceled restore deletes the ingested data
//!    ([`Resumer::on_fail_or_cancel`]).
//! 3. [`IngestProcessor`] (every planned node): reads each file overlapping its spans from the
//!    URI of the file's locality, checks it, rewrites its keys from the old table id to the
//!    new one, keeps the versions at or below the restore time, and ingests them range by
//!    range. It reports each span when done, and the coordinator checkpoints the finished
//!    spans, so an adopted restore ingests only the others. Ingesting the same versions twice
//!    writes the same keys at the same timestamps, so a span ingested again after a crash
//!    duplicates nothing.
//!
//! A full-cluster restore (`RESTORE FROM ... IN ...` without targets) takes a full-cluster
//! backup only, and a cluster without user data only (CockroachDB's "full cluster restore can
//! only be run on a cluster with no tables or databases but found N descriptors: ..."): no
//! database but `system`, `defaultdb` and `postgres`, and those empty. It restores every
//! database of the backup under its own name; the empty `defaultdb` and `postgres` it restores
//! are removed in the transaction that publishes the restored descriptors.

use std::collections::BTreeMap;

use base::errcode;
use base::{Key, Span, Timestamp};
use futures::future::BoxFuture;
use jobs::{JobContext, JobError, JobType, Processor, ProcessorContext, ProgressSender, Resumer};
use kv::api::{BatchRequest, Header, Request};
use serde::{Deserialize, Serialize};
use sql::catalog::{Descriptor, zone_key};
use sql::parser::{BackupSubdir, BackupTargets, Restore, RestoreSource, TablePattern};
use sql::session::{HookContext, StatementHook, StatementResult};
use sql::types::Type;
use sql::{SqlError, Statement};
use storage::mvcc::ExportEntry;

use crate::backup::{BackupResult, locality_filter, start_job};
use crate::collection::{self, Destinations};
use crate::env::{
    Env, from_json, is_row_key, option_text, reject_unimplemented, rewrite_key, spawn_flow,
    table_span, to_json, uri_texts,
};
use crate::error::{BackupError, Result, run_txn};
use crate::manifest::{self, BackupFile, Manifest};

/// The processor name of the ingest flow.
pub const INGEST_PROCESSOR: &str = "restore.ingest";
/// Versions per Ingest request.
pub const INGEST_BATCH: usize = 2000;

/// A name to create at the end: `(parent, schema, name, id)`.
pub type NameEntry = (u64, u64, String, u64);

/// The job's details.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RestoreDetails {
    /// The backup's URIs.
    pub uris: Vec<String>,
    /// Keep versions at or below this time.
    pub as_of: Timestamp,
    /// The files to ingest, oldest layer first.
    pub files: Vec<BackupFile>,
    /// Old table id → new table id.
    pub id_map: Vec<(u64, u64)>,
    /// The new descriptors, written at the end.
    pub descriptors: Vec<Descriptor>,
    /// The names, written at the end.
    pub names: Vec<NameEntry>,
    /// Zone configurations: key name (`<id>` or `<id>/<suffix>`) and value.
    pub zones: Vec<(String, Vec<u8>)>,
    /// The new tables' spans.
    pub spans: Vec<Span>,
    /// A full-cluster restore: the empty default databases it replaces (name, database id,
    /// public schema id), removed when the restored descriptors are published.
    #[serde(default)]
    pub replace: Vec<(String, u64, u64)>,
}

/// The checkpoint: new spans fully ingested.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RestoreProgress {
    /// Spans done.
    pub done: Vec<Span>,
    /// Rows ingested so far.
    pub rows: u64,
    /// Index entries ingested so far.
    pub index_entries: u64,
    /// Bytes ingested so far.
    pub bytes: u64,
}

/// What each processor is told.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IngestSpec {
    /// The backup's URIs.
    pub uris: Vec<String>,
    /// Restore time.
    pub as_of: Timestamp,
    /// The files.
    pub files: Vec<BackupFile>,
    /// Old → new table ids.
    pub id_map: Vec<(u64, u64)>,
}

/// A processor's report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IngestDone {
    /// Spans finished.
    pub spans: Vec<Span>,
    /// Counts ingested for them.
    pub result: BackupResult,
}

/// Reads the manifests of the backup `subdir` names in the collection, oldest first.
pub async fn read_chain(
    env: &Env,
    dests: &Destinations,
    subdir: &BackupSubdir,
    params: &[sql::Datum],
) -> Result<Vec<Manifest>> {
    let storage = env.open(dests.default_uri()).await?;
    let full = match subdir {
        BackupSubdir::Latest => collection::read_latest(storage.as_ref()).await?,
        BackupSubdir::Path(p) => collection::normalize_subdir(&option_text(p, params)?),
    };
    let mut out = Vec::new();
    for dir in collection::resolve_chain(storage.as_ref(), &full).await? {
        out.push(manifest::read_manifest(storage.as_ref(), &dir).await?);
    }
    Ok(out)
}

/// The layers to restore for `as_of` (`None`: the end of the chain), and the restore time.
pub fn layers_for(chain: &[Manifest], as_of: Option<Timestamp>) -> Result<(usize, Timestamp)> {
    let last = chain
        .last()
        .ok_or_else(|| BackupError::Internal("empty backup chain".into()))?;
    let Some(t) = as_of else {
        return Ok((chain.len(), last.end_time));
    };
    let bad = |m: &str| {
        BackupError::sql(
            errcode::INVALID_PARAMETER_VALUE,
            format!("invalid RESTORE timestamp: {m}"),
        )
    };
    for (i, m) in chain.iter().enumerate() {
        if t == m.end_time {
            return Ok((i + 1, t));
        }
        if t > m.start_time && t < m.end_time {
            if !m.revision_history {
                return Err(bad(
                    "restoring to arbitrary time requires that BACKUP for requested time be \
                     created with 'revision_history' option.",
                ));
            }
            return Ok((i + 1, t));
        }
    }
    Err(bad("supplied backups do not cover requested time"))
}

/// Executes RESTORE.
pub struct RestoreHook {
    /// This node.
    pub env: Env,
}

impl StatementHook for RestoreHook {
    fn execute<'a>(
        &'a self,
        ctx: HookContext,
        stmt: &'a Statement,
    ) -> BoxFuture<'a, sql::error::Result<StatementResult>> {
        Box::pin(async move {
            let Statement::Restore(r) = stmt else {
                return Err(SqlError::internal("not a RESTORE statement"));
            };
            plan_restore(&self.env, &ctx, r)
                .await
                .map_err(SqlError::from)
        })
    }
}

async fn plan_restore(env: &Env, ctx: &HookContext, r: &Restore) -> Result<StatementResult> {
    let o = &r.options;
    reject_unimplemented(
        "RESTORE",
        &[
            (o.encryption_passphrase.is_some(), "encryption_passphrase"),
            (o.kms.is_some(), "kms"),
            (o.incremental_location.is_some(), "incremental_location"),
            (o.schema_only, "schema_only"),
            (o.skip_missing_sequences, "skip_missing_sequences"),
            (o.skip_missing_views, "skip_missing_views"),
            (o.skip_localities_check, "skip_localities_check"),
        ],
    )?;
    let filter = locality_filter(o.execution_locality.as_ref(), &ctx.params)?;
    let RestoreSource::InCollection { subdir, collection } = &r.source else {
        return Err(SqlError::unimplemented(
            "RESTORE ... FROM 'uri' without IN; use RESTORE ... FROM LATEST IN 'collection'",
        )
        .into());
    };
    let uris = uri_texts(&collection.0, &ctx.params)?;
    let dests = collection::parse_destinations(&uris)?;
    let as_of = match &r.as_of {
        Some(a) => {
            let session = ctx.server.session(&ctx.user, &ctx.database);
            Some(sql::exec::show::as_of_timestamp(&session, &a.0, &ctx.params).await?)
        }
        None => None,
    };
    let chain = read_chain(env, &dests, subdir, &ctx.params).await?;
    let (n, as_of) = layers_for(&chain, as_of)?;
    let layers = &chain[..n];
    let last = &layers[n - 1];
    for l in layers {
        for loc in &l.localities {
            if dests.uri_of(Some(loc)).is_none() {
                return Err(BackupError::sql(
                    errcode::INVALID_PARAMETER_VALUE,
                    format!("the backup has data in locality {loc}, but no URI for it was given"),
                ));
            }
        }
    }
    let new_db_name = o
        .new_db_name
        .as_ref()
        .map(|v| option_text(v, &ctx.params))
        .transpose()?;
    let into_db = o
        .into_db
        .as_ref()
        .map(|v| option_text(v, &ctx.params))
        .transpose()?;
    let selected = select(
        last,
        r.targets.as_ref(),
        &ctx.database,
        new_db_name.as_deref(),
    )?;
    let replace = if r.targets.is_none() {
        if into_db.is_some() {
            return Err(BackupError::sql(
                errcode::INVALID_PARAMETER_VALUE,
                "into_db can only be used for RESTORE TABLE",
            ));
        }
        let restored: Vec<&str> = selected.databases.iter().map(|(_, n)| n.as_str()).collect();
        cluster_restore_check(env, &restored).await?
    } else {
        Vec::new()
    };
    let plan = allocate(
        env,
        last,
        &selected,
        &replace,
        into_db,
        o.skip_missing_foreign_keys,
    )
    .await?;
    let files: Vec<BackupFile> = layers
        .iter()
        .flat_map(|l| l.files.iter())
        .filter(|f| {
            plan.id_map
                .iter()
                .any(|(old, _)| table_span(*old).intersect(&f.span).is_some())
        })
        .cloned()
        .collect();
    let spans = plan
        .id_map
        .iter()
        .map(|(_, new)| table_span(*new))
        .collect();
    let details = RestoreDetails {
        uris,
        as_of,
        files,
        id_map: plan.id_map,
        descriptors: plan.descriptors,
        names: plan.names,
        zones: plan.zones,
        spans,
        replace,
    };
    let description = r.redacted().to_string();
    start_job(
        env,
        ctx,
        JobType::Restore,
        description,
        &details,
        filter,
        o.detached,
    )
    .await
}

/// What to restore, by old id.
#[derive(Debug, Default)]
pub struct Selection {
    /// Databases restored whole, with their new names.
    pub databases: Vec<(u64, String)>,
    /// Tables restored alone into an existing database.
    pub tables: Vec<u64>,
}

/// Picks the descriptors the targets name from the manifest.
pub fn select(
    m: &Manifest,
    targets: Option<&BackupTargets>,
    current_db: &str,
    new_db_name: Option<&str>,
) -> Result<Selection> {
    let Some(targets) = targets else {
        if !m.full_cluster {
            return Err(BackupError::sql(
                errcode::INVALID_PARAMETER_VALUE,
                "full cluster RESTORE can only be used on full cluster BACKUP files",
            ));
        }
        if new_db_name.is_some() {
            return Err(BackupError::sql(
                errcode::INVALID_PARAMETER_VALUE,
                "new_db_name can only be used for RESTORE DATABASE with a single target database",
            ));
        }
        let mut sel = Selection::default();
        for db in m.databases().filter(|d| m.complete_dbs.contains(&d.id)) {
            sel.databases.push((db.id, db.name.clone()));
        }
        return Ok(sel);
    };
    let mut sel = Selection::default();
    match targets {
        BackupTargets::Databases(names) => {
            if new_db_name.is_some() && names.len() != 1 {
                return Err(BackupError::sql(
                    errcode::INVALID_PARAMETER_VALUE,
                    "new_db_name can only be used for RESTORE DATABASE with a single target database",
                ));
            }
            for n in names {
                let db = m
                    .databases()
                    .find(|d| d.name == n.as_str() && m.complete_dbs.contains(&d.id))
                    .ok_or_else(|| {
                        BackupError::sql(
                            errcode::UNDEFINED_DATABASE,
                            format!("database {:?} does not exist in the backup", n.as_str()),
                        )
                    })?;
                sel.databases
                    .push((db.id, new_db_name.unwrap_or(&db.name).to_string()));
            }
        }
        BackupTargets::Tables(patterns) => {
            if new_db_name.is_some() {
                return Err(BackupError::sql(
                    errcode::INVALID_PARAMETER_VALUE,
                    "new_db_name can only be used for RESTORE DATABASE",
                ));
            }
            for p in patterns {
                let (db_name, table) = match p {
                    TablePattern::Table(q) => {
                        let parts: Vec<&str> = q.0.iter().map(|n| n.as_str()).collect();
                        match parts.as_slice() {
                            [t] => (None, Some(*t)),
                            [d, t] | [d, _, t] => (Some(*d), Some(*t)),
                            _ => return Err(SqlError::undefined_table(&q.to_string()).into()),
                        }
                    }
                    TablePattern::All(q) => (
                        q.as_ref().and_then(|q| q.0.first()).map(|n| n.as_str()),
                        None,
                    ),
                };
                let db_name = db_name.unwrap_or(current_db);
                let found: Vec<u64> = m
                    .tables()
                    .filter(|t| table.is_none_or(|n| n == t.name))
                    .filter(|t| {
                        m.descriptor(t.parent_id).is_some_and(|d| match d {
                            Descriptor::Database(d) => d.name == db_name,
                            _ => false,
                        })
                    })
                    .map(|t| t.id)
                    .collect();
                if found.is_empty() {
                    let what = table.map_or_else(
                        || format!("{db_name}.*"),
                        |t| format!("{db_name}.public.{t}"),
                    );
                    return Err(BackupError::sql(
                        errcode::UNDEFINED_TABLE,
                        format!("table {what:?} does not exist in the backup"),
                    ));
                }
                sel.tables.extend(found);
            }
            sel.tables.sort();
            sel.tables.dedup();
        }
    }
    Ok(sel)
}

/// New ids and rewritten descriptors.
#[derive(Debug, Default)]
pub struct Allocation {
    /// Old table id → new.
    pub id_map: Vec<(u64, u64)>,
    /// Rewritten descriptors.
    pub descriptors: Vec<Descriptor>,
    /// Names to create.
    pub names: Vec<NameEntry>,
    /// Zone records to write.
    pub zones: Vec<(String, Vec<u8>)>,
}

/// A full-cluster restore needs a cluster without user data: no database but `system` and the
/// default databases, and those empty. Returns the default databases the restore replaces
/// (those it restores too): name, database id, public schema id.
async fn cluster_restore_check(env: &Env, restored: &[&str]) -> Result<Vec<(String, u64, u64)>> {
    let cat = &env.sql.inner().catalog;
    let sender = env.sql.node().sender().clone();
    // Every database but `system`, with its public schema and every other object's name.
    let listing = run_txn(&sender, |txn| async move {
        let r = sql::kvio::Reader::Txn(txn.clone(), Default::default());
        let mut out = Vec::new();
        for (name, db) in cat.list(&r, 0, 0).await? {
            if name == crate::targets::SYSTEM_DATABASE {
                continue;
            }
            let mut objects = Vec::new();
            let mut public = None;
            for (schema_name, schema) in cat.list(&r, db, 0).await? {
                if schema_name == "public" {
                    public = Some(schema);
                } else {
                    objects.push(format!("{name}.{schema_name}"));
                }
                for (object, _) in cat.list(&r, db, schema).await? {
                    objects.push(format!("{name}.{schema_name}.{object}"));
                }
            }
            out.push((name, db, public, objects));
        }
        Ok(out)
    })
    .await?;
    let mut found = Vec::new();
    let mut replace = Vec::new();
    for (name, db, public, objects) in listing {
        let default = crate::targets::DEFAULT_DATABASES.contains(&name.as_str());
        if !default {
            found.push(name.clone());
        }
        found.extend(objects.iter().cloned());
        if default && objects.is_empty() && restored.contains(&name.as_str()) {
            replace.push((name, db, public.unwrap_or_default()));
        }
    }
    if !found.is_empty() {
        return Err(BackupError::sql(
            errcode::INVALID_PARAMETER_VALUE,
            format!(
                "full cluster restore can only be run on a cluster with no tables or databases \
                 but found {} descriptors: {}",
                found.len(),
                found.join(", ")
            ),
        ));
    }
    Ok(replace)
}

async fn allocate(
    env: &Env,
    m: &Manifest,
    sel: &Selection,
    replace: &[(String, u64, u64)],
    into_db: Option<String>,
    skip_missing_fks: bool,
) -> Result<Allocation> {
    let cat = &env.sql.inner().catalog;
    let sender = env.sql.node().sender().clone();
    // Old descriptors to restore, and where table-only restores land.
    let mut old: Vec<Descriptor> = Vec::new();
    let mut renames: BTreeMap<u64, String> = BTreeMap::new();
    for (db, name) in &sel.databases {
        renames.insert(*db, name.clone());
        for d in &m.descriptors {
            let parent = match d {
                Descriptor::Database(x) => x.id == *db,
                Descriptor::Schema(x) => x.parent_id == *db,
                Descriptor::Table(x) => x.parent_id == *db,
                Descriptor::Type(x) => x.parent_id == *db,
            };
            if parent {
                old.push(d.clone());
            }
        }
    }
    for t in &sel.tables {
        if let Some(d) = m.descriptor(*t) {
            old.push(d.clone());
        }
    }
    let tables_only = sel.databases.is_empty();
    let (ids, target_db) = run_txn(&sender, |txn| {
        let old = old.clone();
        let renames = renames.clone();
        let into_db = into_db.clone();
        async move {
            let r = sql::kvio::Reader::Txn(txn.clone(), Default::default());
            // Name checks.
            let mut target_db = None;
            if tables_only {
                for d in &old {
                    let Descriptor::Table(t) = d else { continue };
                    let db_name = match &into_db {
                        Some(n) => n.clone(),
                        None => match m.descriptor(t.parent_id) {
                            Some(Descriptor::Database(d)) => d.name.clone(),
                            _ => String::new(),
                        },
                    };
                    let Some(db) = cat.lookup(&r, 0, 0, &db_name, true).await? else {
                        return Err(BackupError::sql(
                            errcode::UNDEFINED_DATABASE,
                            format!("a database named \"{db_name}\" needs to exist to restore table \"{}\"", t.name),
                        ));
                    };
                    let Some(Descriptor::Database(dbd)) = cat.get(&r, db, true).await?.map(|a| (*a).clone()) else {
                        return Err(BackupError::Internal("database descriptor missing".into()));
                    };
                    if cat
                        .lookup(&r, db, dbd.public_schema_id, &t.name, true)
                        .await?
                        .is_some()
                    {
                        return Err(BackupError::sql(
                            errcode::DUPLICATE_TABLE,
                            format!("relation \"{}\" already exists", t.name),
                        ));
                    }
                    if t.columns.iter().any(|c| matches!(c.ty, Type::Enum { .. })) || t.locality.is_some() {
                        return Err(SqlError::unimplemented(format!(
                            "RESTORE TABLE of {:?}, which uses user-defined types or a multi-region locality; restore its database instead",
                            t.name
                        )).into());
                    }
                    target_db = Some((db, dbd.public_schema_id));
                }
            } else {
                for name in renames.values() {
                    if replace.iter().any(|(n, _, _)| n == name) {
                        continue;
                    }
                    if cat.lookup(&r, 0, 0, name, true).await?.is_some() {
                        return Err(BackupError::sql(
                            errcode::DUPLICATE_DATABASE,
                            format!("database \"{name}\" already exists"),
                        ));
                    }
                }
            }
            let mut ids: BTreeMap<u64, u64> = BTreeMap::new();
            for d in &old {
                if matches!(d, Descriptor::Table(_)) || !tables_only {
                    ids.insert(d.id(), cat.next_id(&txn).await?);
                }
            }
            Ok((ids, target_db))
        }
    })
    .await?;
    let descriptors = rewrite_descriptors(&old, &ids, &renames, target_db, skip_missing_fks)?;
    let mut names = Vec::new();
    for d in &descriptors {
        match d {
            Descriptor::Database(x) => names.push((0, 0, x.name.clone(), x.id)),
            Descriptor::Schema(x) => names.push((x.parent_id, 0, x.name.clone(), x.id)),
            Descriptor::Table(x) => names.push((x.parent_id, x.schema_id, x.name.clone(), x.id)),
            Descriptor::Type(x) => names.push((x.parent_id, x.schema_id, x.name.clone(), x.id)),
        }
    }
    let zones = m
        .zones
        .iter()
        .filter_map(|z| {
            ids.get(&z.id)
                .map(|new| (format!("{new}{}", z.suffix), z.value.clone()))
        })
        .collect();
    let id_map = old
        .iter()
        .filter(|d| matches!(d, Descriptor::Table(_)))
        .filter_map(|d| ids.get(&d.id()).map(|n| (d.id(), *n)))
        .collect();
    Ok(Allocation {
        id_map,
        descriptors,
        names,
        zones,
    })
}

/// Rewrites descriptors to their new ids. `ids` maps every restored descriptor; a table-only
/// restore puts tables into `target` (database id, schema id).
pub fn rewrite_descriptors(
    old: &[Descriptor],
    ids: &BTreeMap<u64, u64>,
    renames: &BTreeMap<u64, String>,
    target: Option<(u64, u64)>,
    skip_missing_fks: bool,
) -> Result<Vec<Descriptor>> {
    let map = |id: u64| ids.get(&id).copied();
    let remap_type = |ty: &mut Type| {
        if let Type::Enum { id, .. } = ty
            && let Some(n) = map(*id)
        {
            *id = n;
        }
        if let Type::Array(inner) = ty
            && let Type::Enum { id, .. } = inner.as_mut()
            && let Some(n) = map(*id)
        {
            *id = n;
        }
    };
    let mut out = Vec::new();
    for d in old {
        let Some(new_id) = map(d.id()) else { continue };
        let mut d = d.clone();
        match &mut d {
            Descriptor::Database(x) => {
                if let Some(n) = renames.get(&x.id) {
                    x.name = n.clone();
                }
                x.id = new_id;
                x.public_schema_id = map(x.public_schema_id).unwrap_or(x.public_schema_id);
                x.region_enum_id = x.region_enum_id.and_then(map);
                x.version = 0;
            }
            Descriptor::Schema(x) => {
                x.id = new_id;
                x.parent_id = map(x.parent_id).unwrap_or(x.parent_id);
                x.version = 0;
            }
            Descriptor::Type(x) => {
                x.id = new_id;
                x.parent_id = map(x.parent_id).unwrap_or(x.parent_id);
                x.schema_id = map(x.schema_id).unwrap_or(x.schema_id);
                x.version = 0;
            }
            Descriptor::Table(x) => {
                x.id = new_id;
                match target {
                    Some((db, schema)) => {
                        x.parent_id = db;
                        x.schema_id = schema;
                    }
                    None => {
                        x.parent_id = map(x.parent_id).unwrap_or(x.parent_id);
                        x.schema_id = map(x.schema_id).unwrap_or(x.schema_id);
                    }
                }
                x.version = 0;
                for c in &mut x.columns {
                    remap_type(&mut c.ty);
                }
                let mut fks = Vec::new();
                for mut fk in std::mem::take(&mut x.foreign_keys) {
                    match map(fk.ref_table) {
                        Some(n) => {
                            fk.ref_table = n;
                            fks.push(fk);
                        }
                        None if skip_missing_fks => {}
                        None => {
                            return Err(BackupError::sql(
                                errcode::INVALID_PARAMETER_VALUE,
                                format!(
                                    "cannot restore table \"{}\" without referenced table {} (or \
                                     \"skip_missing_foreign_keys\" option)",
                                    x.name, fk.ref_table
                                ),
                            ));
                        }
                    }
                }
                x.foreign_keys = fks;
                x.inbound_fks = x
                    .inbound_fks
                    .iter()
                    .filter_map(|(t, n)| map(*t).map(|t| (t, n.clone())))
                    .collect();
            }
        }
        out.push(d);
    }
    Ok(out)
}

/// The RESTORE job's coordinator.
pub struct RestoreResumer {
    /// This node.
    pub env: Env,
}

impl Resumer for RestoreResumer {
    fn resume(&self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        let env = self.env.clone();
        Box::pin(async move { run_restore(env, ctx).await })
    }

    fn on_fail_or_cancel(
        &self,
        ctx: JobContext,
        _reason: &JobError,
    ) -> BoxFuture<'static, Result<(), JobError>> {
        let env = self.env.clone();
        Box::pin(async move {
            let d: RestoreDetails = from_json(&ctx.details(), "restore details")?;
            let sender = env.sql.node().sender();
            for span in d.spans {
                sender
                    .send(BatchRequest {
                        header: Header::default(),
                        requests: vec![Request::DeleteRange { span }],
                    })
                    .await?;
            }
            Ok(())
        })
    }
}

async fn run_restore(env: Env, ctx: JobContext) -> Result<(), JobError> {
    let d: RestoreDetails = from_json(&ctx.details(), "restore details")?;
    let mut progress: RestoreProgress = if ctx.progress().is_empty() {
        RestoreProgress::default()
    } else {
        from_json(&ctx.progress(), "restore progress")?
    };
    let todo = jobs::span_set::subtract(d.spans.clone(), &progress.done);
    if !todo.is_empty() {
        let spec = IngestSpec {
            uris: d.uris.clone(),
            as_of: d.as_of,
            files: d.files.clone(),
            id_map: d.id_map.clone(),
        };
        let shared = std::sync::Arc::new(parking_lot::Mutex::new(progress.clone()));
        let sink = shared.clone();
        let mut flow = spawn_flow(
            ctx.clone(),
            todo,
            INGEST_PROCESSOR,
            to_json(&spec),
            move |_, msg| {
                let Ok(m) = serde_json::from_slice::<IngestDone>(&msg) else {
                    return Vec::new();
                };
                let mut p = sink.lock();
                // A span can be reported twice (a processor the flow gave up on finishes it
                // while its re-planned replacement ingests it again): count it once.
                if jobs::span_set::subtract(m.spans.clone(), &p.done).is_empty() {
                    return m.spans;
                }
                p.done.extend(m.spans.iter().cloned());
                p.rows += m.result.rows;
                p.index_entries += m.result.index_entries;
                p.bytes += m.result.bytes;
                m.spans
            },
        );
        let mut ticker = tokio::time::interval(crate::backup::CHECKPOINT_INTERVAL);
        let total = d.spans.len().max(1);
        loop {
            tokio::select! {
                r = &mut flow => {
                    r.map_err(|e| JobError::failed(format!("restore flow panicked: {e}")))??;
                    break;
                }
                _ = ticker.tick() => {
                    let p = shared.lock().clone();
                    let frac = (p.done.len() as f32 / total as f32).min(0.99);
                    ctx.update_progress(frac, to_json(&p)).await?;
                }
            }
        }
        progress = shared.lock().clone();
        ctx.update_progress(0.99, to_json(&progress)).await?;
    }
    publish(&env, &d).await.map_err(JobError::from)?;
    ctx.set_result(to_json(&BackupResult {
        rows: progress.rows,
        index_entries: progress.index_entries,
        bytes: progress.bytes,
    }))
    .await?;
    ctx.update_progress(1.0, to_json(&progress)).await?;
    Ok(())
}

/// Writes the descriptors, names and zones in one transaction: the restored objects appear
/// all at once.
async fn publish(env: &Env, d: &RestoreDetails) -> Result<()> {
    let cat = &env.sql.inner().catalog;
    let sender = env.sql.node().sender();
    run_txn(sender, |txn| async move {
        let r = sql::kvio::Reader::Txn(txn.clone(), Default::default());
        for (name, db, schema) in &d.replace {
            cat.remove_name(&txn, *db, 0, "public").await?;
            cat.remove(&txn, *schema).await?;
            cat.remove_name(&txn, 0, 0, name).await?;
            cat.remove(&txn, *db).await?;
        }
        for (parent, schema, name, id) in &d.names {
            if let Some(existing) = cat.lookup(&r, *parent, *schema, name, true).await? {
                if existing == *id {
                    continue;
                }
                let e = if *parent == 0 {
                    BackupError::sql(
                        errcode::DUPLICATE_DATABASE,
                        format!("database \"{name}\" already exists"),
                    )
                } else {
                    BackupError::sql(
                        errcode::DUPLICATE_TABLE,
                        format!("relation \"{name}\" already exists"),
                    )
                };
                return Err(e);
            }
        }
        for desc in &d.descriptors {
            let mut desc = desc.clone();
            cat.write(&txn, &mut desc).await?;
        }
        for (parent, schema, name, id) in &d.names {
            cat.write_name(&txn, *parent, *schema, name, *id).await?;
        }
        for (name, value) in &d.zones {
            txn.put(&zone_key(name), value.clone()).await?;
        }
        cat.bump_generation(&txn).await?;
        Ok(())
    })
    .await?;
    cat.invalidate();
    Ok(())
}

/// Ingests backup files into the new tables' spans on the node it runs on.
pub struct IngestProcessor {
    /// This node.
    pub env: Env,
}

impl Processor for IngestProcessor {
    fn run(
        &self,
        ctx: ProcessorContext,
        spec: Vec<u8>,
        spans: Vec<Span>,
        progress: ProgressSender,
    ) -> BoxFuture<'static, Result<(), JobError>> {
        let env = self.env.clone();
        Box::pin(async move {
            let spec: IngestSpec = from_json(&spec, "ingest spec")?;
            // Table by table, each piece reported when done: the coordinator checkpoints
            // finished spans, and a resumed restore ingests only the others again. (The plan
            // merges adjacent tables' spans and cuts them at range boundaries, so a span can
            // hold several tables.)
            for span in table_pieces(&spans, &spec.id_map) {
                if let Some(d) = env.knobs.ingest_span_delay() {
                    tokio::time::sleep(d).await;
                }
                let result = ingest(&env, &ctx, &spec, std::slice::from_ref(&span))
                    .await
                    .map_err(JobError::from)?;
                progress
                    .send(to_json(&IngestDone {
                        spans: vec![span],
                        result,
                    }))
                    .await?;
            }
            Ok(())
        })
    }
}

async fn ingest(
    env: &Env,
    ctx: &ProcessorContext,
    spec: &IngestSpec,
    spans: &[Span],
) -> Result<BackupResult> {
    let dests = collection::parse_destinations(&spec.uris)?;
    let mut result = BackupResult::default();
    for f in &spec.files {
        let rewritten = rewrite_span(&f.span, &spec.id_map);
        if !rewritten
            .iter()
            .any(|r| spans.iter().any(|s| s.intersect(r).is_some()))
        {
            continue;
        }
        let uri = dests.uri_of(f.locality.as_deref()).ok_or_else(|| {
            BackupError::Internal(format!("no URI for locality {:?}", f.locality))
        })?;
        let storage = env.open(uri).await?;
        let reader = crate::format::read_file(storage.as_ref(), &f.path).await?;
        let mut batch: Vec<ExportEntry> = Vec::new();
        for block in reader.entries() {
            for e in block? {
                if e.ts > spec.as_of {
                    continue;
                }
                let Some(key) = rewrite_key(&e.key, &spec.id_map) else {
                    continue;
                };
                if !spans.iter().any(|s| s.contains_key(&key)) {
                    continue;
                }
                if e.value.is_some() {
                    if is_row_key(&key) {
                        result.rows += 1;
                    } else {
                        result.index_entries += 1;
                    }
                }
                let e = ExportEntry { key, ..e };
                result.bytes += e.size_bytes() as u64;
                batch.push(e);
                if batch.len() >= INGEST_BATCH {
                    send_ingest(ctx, std::mem::take(&mut batch)).await?;
                }
            }
        }
        send_ingest(ctx, batch).await?;
    }
    Ok(result)
}

/// `spans` cut at the new tables' boundaries: the pieces of each span inside each new table,
/// in key order.
fn table_pieces(spans: &[Span], id_map: &[(u64, u64)]) -> Vec<Span> {
    let mut tables: Vec<Span> = id_map.iter().map(|(_, new)| table_span(*new)).collect();
    tables.sort_by(|a, b| a.start.cmp(&b.start));
    let mut out = Vec::new();
    for s in spans {
        let before = out.len();
        out.extend(tables.iter().filter_map(|t| t.intersect(s)));
        if out.len() == before {
            out.push(s.clone());
        }
    }
    out
}

/// The new-table spans the keys of a file over `span` are rewritten into: one per restored
/// table the file covers (a backup file can hold several adjacent tables).
fn rewrite_span(span: &Span, map: &[(u64, u64)]) -> Vec<Span> {
    map.iter()
        .filter_map(|(old, new)| {
            let whole = table_span(*old);
            let part = whole.intersect(span)?;
            let start = rewrite_key(&part.start, map)?;
            let end = if part.end >= whole.end {
                table_span(*new).end
            } else {
                rewrite_key(&part.end, map)?
            };
            Some(Span::new(start, end))
        })
        .collect()
}

/// Ingests sorted versions, one request per range they fall in.
async fn send_ingest(ctx: &ProcessorContext, mut entries: Vec<ExportEntry>) -> Result<()> {
    let sender = ctx.node().sender();
    while !entries.is_empty() {
        let desc = sender.lookup(&entries[0].key).await?;
        let end: Key = desc.span().end;
        let n = entries.iter().take_while(|e| e.key < end).count().max(1);
        let rest = entries.split_off(n);
        sender
            .send(BatchRequest {
                header: Header::default(),
                requests: vec![Request::Ingest { entries }],
            })
            .await?;
        entries = rest;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{BackupType, MANIFEST_VERSION};

    fn layer(start: i64, end: i64, revisions: bool) -> Manifest {
        Manifest {
            version: MANIFEST_VERSION,
            job_id: 1,
            backup_type: if start == 0 {
                BackupType::Full
            } else {
                BackupType::Incremental
            },
            start_time: Timestamp {
                wall: start,
                logical: 0,
            },
            end_time: Timestamp {
                wall: end,
                logical: 0,
            },
            revision_history: revisions,
            spans: Vec::new(),
            files: Vec::new(),
            descriptors: Vec::new(),
            complete_dbs: Vec::new(),
            zones: Vec::new(),
            localities: Vec::new(),
            previous: Vec::new(),
            description: String::new(),
            full_cluster: false,
        }
    }

    #[test]
    fn restore_time_picks_layers() {
        let ts = |w| {
            Some(Timestamp {
                wall: w,
                logical: 0,
            })
        };
        let chain = vec![
            layer(0, 10, false),
            layer(10, 20, true),
            layer(20, 30, false),
        ];
        assert_eq!(layers_for(&chain, None).expect("end").0, 3);
        assert_eq!(layers_for(&chain, ts(10)).expect("at end of full").0, 1);
        assert_eq!(layers_for(&chain, ts(15)).expect("revision layer").0, 2);
        let err = layers_for(&chain, ts(5)).expect_err("no revisions");
        assert!(err.to_string().contains("revision_history"), "{err}");
        let err = layers_for(&chain, ts(31)).expect_err("beyond");
        assert_eq!(
            err.to_string(),
            "invalid RESTORE timestamp: supplied backups do not cover requested time"
        );
    }

    #[test]
    fn spans_are_cut_at_table_boundaries() {
        let map = [(104, 201), (105, 200)];
        let both = Span::new(table_span(200).start, table_span(201).end);
        assert_eq!(
            table_pieces(std::slice::from_ref(&both), &map),
            vec![table_span(200), table_span(201)]
        );
        let half = Span::new(table_span(200).start, table_span(201).start);
        assert_eq!(table_pieces(&[half], &map), vec![table_span(200)]);
    }

    #[test]
    fn spans_are_rewritten() {
        let map = [(104, 200)];
        assert_eq!(rewrite_span(&table_span(104), &map), vec![table_span(200)]);
        assert!(rewrite_span(&table_span(105), &map).is_empty());
        // A file over two adjacent tables feeds both new tables.
        let map = [(104, 200), (105, 300)];
        let both = Span::new(table_span(104).start, table_span(105).end);
        assert_eq!(
            rewrite_span(&both, &map),
            vec![table_span(200), table_span(300)]
        );
    }
}
