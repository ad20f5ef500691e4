//! Resolving BACKUP targets (`DATABASE d, ...` or `TABLE t, db.t, db.*, ...`) to the
//! descriptors, spans and zone configurations a backup records, read at the backup time.
//! Without targets (`BACKUP INTO 'uri'`) the backup is a full-cluster one: every database but
//! `system`, each whole, `defaultdb` and `postgres` included as in CockroachDB.

use std::collections::BTreeMap;
use std::sync::Arc;

use base::{Span, Timestamp};
use sql::catalog::{Catalog, Descriptor, zone_key};
use sql::kvio::Reader;
use sql::parser::{BackupTargets, TablePattern};
use sql::{SqlError, SqlServer};

use crate::env::table_span;
use crate::error::{BackupError, Result};
use crate::manifest::ZoneRecord;

/// The database a full-cluster backup leaves out.
pub const SYSTEM_DATABASE: &str = "system";

/// The databases every new cluster has; a full-cluster restore replaces them when they are
/// empty.
pub const DEFAULT_DATABASES: [&str; 2] = ["defaultdb", "postgres"];

/// What a backup covers.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    /// Every descriptor backed up (databases, schemas, types, tables), by id.
    pub descriptors: BTreeMap<u64, Descriptor>,
    /// Databases backed up whole.
    pub complete_dbs: Vec<u64>,
    /// One span per table.
    pub spans: Vec<Span>,
    /// Zone configurations of the databases and tables.
    pub zones: Vec<ZoneRecord>,
}

/// A reader of the catalog at `ts`.
pub fn reader_at(server: &SqlServer, ts: Timestamp) -> Reader {
    Reader::Snapshot {
        sender: server.node().sender().clone(),
        ts,
        gateway: server.node().node_id(),
        reads: server.inner().reads.clone(),
    }
}

/// Resolves `targets` (`None`: the whole cluster, not supported) in `current_db` at `ts`.
pub async fn resolve(
    server: &SqlServer,
    targets: Option<&BackupTargets>,
    current_db: &str,
    ts: Timestamp,
) -> Result<Resolved> {
    let r = reader_at(server, ts);
    let cat = &server.inner().catalog;
    let mut out = Resolved::default();
    let Some(targets) = targets else {
        // A full-cluster backup: every database but `system`, each backed up whole.
        for (name, db) in cat.list(&r, 0, 0).await? {
            if name != SYSTEM_DATABASE {
                add_database(cat, &r, db, &mut out).await?;
                out.complete_dbs.push(db);
            }
        }
        out.spans.sort_by(|a, b| a.start.cmp(&b.start));
        out.spans.dedup();
        return Ok(out);
    };
    match targets {
        BackupTargets::Databases(dbs) => {
            for name in dbs {
                let db = database(cat, &r, name.as_str()).await?;
                add_database(cat, &r, db, &mut out).await?;
                out.complete_dbs.push(db);
            }
        }
        BackupTargets::Tables(patterns) => {
            for p in patterns {
                match p {
                    TablePattern::Table(q) => {
                        let parts: Vec<&str> = q.0.iter().map(|n| n.as_str()).collect();
                        let (db_name, schema_name, table) = match parts.as_slice() {
                            [t] => (current_db, "public", *t),
                            [d, t] => (*d, "public", *t),
                            [d, s, t] => (*d, *s, *t),
                            _ => return Err(SqlError::undefined_table(&q.to_string()).into()),
                        };
                        let db = database(cat, &r, db_name).await?;
                        let schema = cat
                            .lookup(&r, db, 0, schema_name, true)
                            .await?
                            .ok_or_else(|| SqlError::undefined_table(&q.to_string()))?;
                        let id = cat
                            .lookup(&r, db, schema, table, true)
                            .await?
                            .ok_or_else(|| SqlError::undefined_table(&q.to_string()))?;
                        let d = get(cat, &r, id).await?;
                        if !matches!(d, Descriptor::Table(_)) {
                            return Err(SqlError::undefined_table(&q.to_string()).into());
                        }
                        add_parents(cat, &r, db, schema, &mut out).await?;
                        add_object(cat, &r, d, &mut out).await?;
                    }
                    TablePattern::All(prefix) => {
                        let db_name = prefix
                            .as_ref()
                            .and_then(|q| q.0.first())
                            .map_or(current_db, |n| n.as_str());
                        let db = database(cat, &r, db_name).await?;
                        add_database(cat, &r, db, &mut out).await?;
                    }
                }
            }
        }
    }
    out.spans.sort_by(|a, b| a.start.cmp(&b.start));
    out.spans.dedup();
    Ok(out)
}

async fn database(cat: &Catalog, r: &Reader, name: &str) -> Result<u64> {
    cat.lookup(r, 0, 0, name, true)
        .await?
        .ok_or_else(|| SqlError::undefined_database(name).into())
}

async fn get(cat: &Catalog, r: &Reader, id: u64) -> Result<Descriptor> {
    cat.get(r, id, true)
        .await?
        .map(Arc::unwrap_or_clone)
        .ok_or_else(|| BackupError::Internal(format!("descriptor {id} is missing")))
}

async fn add_parents(
    cat: &Catalog,
    r: &Reader,
    db: u64,
    schema: u64,
    out: &mut Resolved,
) -> Result<()> {
    for id in [db, schema] {
        if !out.descriptors.contains_key(&id) {
            let d = get(cat, r, id).await?;
            add_zones(r, id, out).await?;
            out.descriptors.insert(id, d);
        }
    }
    // The database's types (enums, the region enum) travel with any of its tables.
    for (_, schema_id) in cat.list(r, db, 0).await? {
        for (_, id) in cat.list(r, db, schema_id).await? {
            if let Descriptor::Type(t) = get(cat, r, id).await? {
                out.descriptors.insert(id, Descriptor::Type(t));
            }
        }
    }
    Ok(())
}

async fn add_database(cat: &Catalog, r: &Reader, db: u64, out: &mut Resolved) -> Result<()> {
    let d = get(cat, r, db).await?;
    add_zones(r, db, out).await?;
    out.descriptors.insert(db, d);
    for (_, schema_id) in cat.list(r, db, 0).await? {
        let s = get(cat, r, schema_id).await?;
        out.descriptors.insert(schema_id, s);
        for (_, id) in cat.list(r, db, schema_id).await? {
            let d = get(cat, r, id).await?;
            add_object(cat, r, d, out).await?;
        }
    }
    Ok(())
}

async fn add_object(_cat: &Catalog, r: &Reader, d: Descriptor, out: &mut Resolved) -> Result<()> {
    let id = d.id();
    if let Descriptor::Table(_) = &d {
        out.spans.push(table_span(id));
        add_zones(r, id, out).await?;
    }
    out.descriptors.insert(id, d);
    Ok(())
}

async fn add_zones(r: &Reader, id: u64, out: &mut Resolved) -> Result<()> {
    if out.zones.iter().any(|z| z.id == id) {
        return Ok(());
    }
    if let Some(v) = r.get(&zone_key(&id.to_string())).await? {
        out.zones.push(ZoneRecord {
            id,
            suffix: String::new(),
            value: v,
        });
    }
    let prefix = zone_key(&format!("{id}/"));
    let span = Span::prefix(&prefix.0);
    for kv in r.scan(&span, 0).await? {
        out.zones.push(ZoneRecord {
            id,
            suffix: String::from_utf8_lossy(&kv.key.0[prefix.0.len() - 1..]).to_string(),
            value: kv.value,
        });
    }
    Ok(())
}
