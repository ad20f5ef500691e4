//! The catalog: descriptors in KV, found by name, cached per node.
//!
//! # Layout
//!
//! | key | value |
//! |---|---|
//! | `/System/desc/<id>` | a [`Descriptor`] as JSON |
//! | `/System/ns/<parent>/<schema>/<name>` | the id, decimal text |
//! | `/System/desc_id_gen` | the next descriptor id, decimal text |
//! | `/System/desc_gen` | the catalog generation: bumped by every schema change |
//! | `/System/zones/<id>` | zone configurations (JSON, read by the KV allocator) |
//! | `/System/settings/<name>` | cluster settings |
//!
//! Databases are named under parent 0, schema 0; schemas under their database, schema 0; tables
//! and types under their database and schema. Ids: `system` is 1, `defaultdb` 100 and its
//! `public` schema 101, `postgres` 102 and 103; user objects start at 104, as in CockroachDB.
//!
//! # Changes
//!
//! A schema change runs in a KV transaction: it reads the descriptors it changes through the
//! transaction, writes them back with `version + 1` ([`Catalog::write`]), and bumps the
//! generation ([`Catalog::bump_generation`]). Serializable transactions order concurrent
//! changes; the generation key makes every two schema changes conflict, so they apply one at a
//! time.
//!
//! # Cache
//!
//! Statements resolve names through a per-node cache ([`Catalog::get`], [`Catalog::lookup`]).
//! It is emptied when this node commits a schema change and when a background poll
//! ([`Catalog::poll_generation`], every [`GENERATION_POLL`]) sees the generation move, so a
//! change made elsewhere is visible within one poll interval. Misses read KV and are never
//! cached as absent. A transaction that has changed the schema bypasses the cache and reads
//! through itself, so it sees its own uncommitted descriptors.

pub mod descriptor;
pub mod users;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base::keys::system_key;
use base::{Key, Span};
use parking_lot::RwLock;

pub use descriptor::*;

use crate::error::{Result, SqlError};
use crate::kvio::Reader;

/// How often each node checks the catalog generation.
pub const GENERATION_POLL: Duration = Duration::from_millis(200);

/// Id of the `system` database.
pub const SYSTEM_DB_ID: u64 = 1;
/// Id of `system`'s public schema.
pub const SYSTEM_PUBLIC_ID: u64 = 29;
/// Id of `defaultdb`.
pub const DEFAULTDB_ID: u64 = 100;
/// Id of `postgres`.
pub const POSTGRES_ID: u64 = 102;
/// The first id handed to a user object.
pub const FIRST_USER_ID: u64 = 104;

/// The key of a descriptor.
pub fn desc_key(id: u64) -> Key {
    system_key(&format!("desc/{id}"))
}

/// The key of a namespace entry.
pub fn ns_key(parent: u64, schema: u64, name: &str) -> Key {
    system_key(&format!("ns/{parent}/{schema}/{name}"))
}

/// The span of namespace entries under a parent and schema.
pub fn ns_span(parent: u64, schema: u64) -> Span {
    Span::prefix(&system_key(&format!("ns/{parent}/{schema}/")).0)
}

/// The span of every descriptor.
pub fn desc_span() -> Span {
    Span::prefix(&system_key("desc/").0)
}

fn gen_key() -> Key {
    system_key("desc_gen")
}

fn id_gen_key() -> Key {
    system_key("desc_id_gen")
}

/// The key of a zone configuration (`default` or an id; `<id>/<suffix>` for partitions).
pub fn zone_key(name: &str) -> Key {
    system_key(&format!("zones/{name}"))
}

/// The key of a cluster setting.
pub fn setting_key(name: &str) -> Key {
    system_key(&format!("settings/{name}"))
}

/// Decodes a descriptor.
pub fn decode_descriptor(bytes: &[u8]) -> Result<Descriptor> {
    serde_json::from_slice(bytes).map_err(|e| SqlError::internal(format!("bad descriptor: {e}")))
}

fn parse_u64(bytes: &[u8]) -> Result<u64> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| SqlError::internal("bad integer record"))
}

/// User-defined types of a database by name.
pub type TypeMap = HashMap<String, Arc<TypeDesc>>;

#[derive(Default)]
struct Cache {
    generation: u64,
    descs: HashMap<u64, Arc<Descriptor>>,
    names: HashMap<Key, u64>,
    types: HashMap<u64, Arc<TypeMap>>,
}

/// The per-node catalog cache and descriptor access.
#[derive(Default)]
pub struct Catalog {
    cache: RwLock<Cache>,
}

impl Catalog {
    /// Reads a descriptor by id (through the cache unless `uncached`).
    pub async fn get(
        &self,
        r: &Reader,
        id: u64,
        uncached: bool,
    ) -> Result<Option<Arc<Descriptor>>> {
        let generation = {
            let c = self.cache.read();
            if !uncached && let Some(d) = c.descs.get(&id) {
                return Ok(Some(d.clone()));
            }
            c.generation
        };
        let Some(bytes) = r.get(&desc_key(id)).await? else {
            return Ok(None);
        };
        let d = Arc::new(decode_descriptor(&bytes)?);
        if !uncached {
            let mut c = self.cache.write();
            if c.generation == generation {
                c.descs.insert(id, d.clone());
            }
        }
        Ok(Some(d))
    }

    /// Looks up a name in the namespace.
    pub async fn lookup(
        &self,
        r: &Reader,
        parent: u64,
        schema: u64,
        name: &str,
        uncached: bool,
    ) -> Result<Option<u64>> {
        let key = ns_key(parent, schema, name);
        let generation = {
            let c = self.cache.read();
            if !uncached && let Some(id) = c.names.get(&key) {
                return Ok(Some(*id));
            }
            c.generation
        };
        let Some(bytes) = r.get(&key).await? else {
            return Ok(None);
        };
        let id = parse_u64(&bytes)?;
        if !uncached {
            let mut c = self.cache.write();
            if c.generation == generation {
                c.names.insert(key, id);
            }
        }
        Ok(Some(id))
    }

    /// Every `(name, id)` under a parent and schema, sorted by name.
    pub async fn list(&self, r: &Reader, parent: u64, schema: u64) -> Result<Vec<(String, u64)>> {
        let span = ns_span(parent, schema);
        let prefix_len = span.start.0.len();
        let mut out = Vec::new();
        for kv in r.scan(&span, 0).await? {
            let name = String::from_utf8_lossy(&kv.key.0[prefix_len..]).to_string();
            out.push((name, parse_u64(&kv.value)?));
        }
        Ok(out)
    }

    /// Every descriptor (uncached scan).
    pub async fn all(&self, r: &Reader) -> Result<Vec<Descriptor>> {
        r.scan(&desc_span(), 0)
            .await?
            .iter()
            .map(|kv| decode_descriptor(&kv.value))
            .collect()
    }

    /// Writes a descriptor with its version bumped.
    pub async fn write(&self, txn: &kv::Txn, desc: &mut Descriptor) -> Result<()> {
        desc.bump_version();
        let bytes = serde_json::to_vec(desc).map_err(SqlError::internal)?;
        txn.put(&desc_key(desc.id()), bytes).await?;
        Ok(())
    }

    /// Writes a namespace entry.
    pub async fn write_name(
        &self,
        txn: &kv::Txn,
        parent: u64,
        schema: u64,
        name: &str,
        id: u64,
    ) -> Result<()> {
        txn.put(&ns_key(parent, schema, name), id.to_string().into_bytes())
            .await?;
        Ok(())
    }

    /// Removes a namespace entry.
    pub async fn remove_name(
        &self,
        txn: &kv::Txn,
        parent: u64,
        schema: u64,
        name: &str,
    ) -> Result<()> {
        txn.delete(&ns_key(parent, schema, name)).await?;
        Ok(())
    }

    /// Removes a descriptor.
    pub async fn remove(&self, txn: &kv::Txn, id: u64) -> Result<()> {
        txn.delete(&desc_key(id)).await?;
        Ok(())
    }

    /// Allocates a descriptor id.
    pub async fn next_id(&self, txn: &kv::Txn) -> Result<u64> {
        let cur = match txn.get(&id_gen_key()).await? {
            Some(v) => parse_u64(&v)?,
            None => FIRST_USER_ID,
        };
        txn.put(&id_gen_key(), (cur + 1).to_string().into_bytes())
            .await?;
        Ok(cur)
    }

    /// Bumps the catalog generation inside a schema-changing transaction.
    pub async fn bump_generation(&self, txn: &kv::Txn) -> Result<()> {
        let cur = match txn.get(&gen_key()).await? {
            Some(v) => parse_u64(&v)?,
            None => 0,
        };
        txn.put(&gen_key(), (cur + 1).to_string().into_bytes())
            .await?;
        Ok(())
    }

    /// Empties the cache (after this node committed a schema change).
    pub fn invalidate(&self) {
        let mut c = self.cache.write();
        c.generation = c.generation.wrapping_add(1) | (1 << 63);
        c.descs.clear();
        c.names.clear();
        c.types.clear();
    }

    /// The cached user types of a database, if known.
    pub fn cached_types(&self, db: u64) -> Option<Arc<TypeMap>> {
        self.cache.read().types.get(&db).cloned()
    }

    /// Caches the user types of a database (if the generation has not moved since `generation`).
    pub fn cache_types(&self, db: u64, generation: u64, types: Arc<TypeMap>) {
        let mut c = self.cache.write();
        if c.generation == generation {
            c.types.insert(db, types);
        }
    }

    /// The current cache generation.
    pub fn generation(&self) -> u64 {
        self.cache.read().generation
    }

    /// Reads the generation and empties the cache if it moved.
    pub async fn poll_generation(&self, sender: &kv::DistSender) {
        let Ok(v) = kv::node::kv_get(sender, gen_key()).await else {
            return;
        };
        let g = v.and_then(|b| parse_u64(&b).ok()).unwrap_or(0);
        let mut c = self.cache.write();
        if c.generation != g {
            c.generation = g;
            c.descs.clear();
            c.names.clear();
            c.types.clear();
        }
    }

    /// Creates the bootstrap descriptors once per cluster: `system`, `defaultdb`, `postgres`
    /// and their `public` schemas.
    pub async fn bootstrap(&self, sender: &kv::DistSender) -> Result<()> {
        kv::run_txn(sender, |txn| async move {
            if txn.get(&desc_key(SYSTEM_DB_ID)).await?.is_some() {
                return Ok(());
            }
            for (db, schema, name) in [
                (SYSTEM_DB_ID, SYSTEM_PUBLIC_ID, "system"),
                (DEFAULTDB_ID, DEFAULTDB_ID + 1, "defaultdb"),
                (POSTGRES_ID, POSTGRES_ID + 1, "postgres"),
            ] {
                let d = Descriptor::Database(DatabaseDesc {
                    id: db,
                    name: name.into(),
                    version: 1,
                    public_schema_id: schema,
                    primary_region: None,
                    regions: Vec::new(),
                    survival_goal: SurvivalGoal::Zone,
                    region_enum_id: None,
                });
                let s = Descriptor::Schema(SchemaDesc {
                    id: schema,
                    parent_id: db,
                    name: "public".into(),
                    version: 1,
                });
                for desc in [d, s] {
                    let bytes = serde_json::to_vec(&desc)
                        .map_err(|e| kv::KvError::Internal(e.to_string()))?;
                    txn.put(&desc_key(desc.id()), bytes).await?;
                }
                txn.put(&ns_key(0, 0, name), db.to_string().into_bytes())
                    .await?;
                txn.put(&ns_key(db, 0, "public"), schema.to_string().into_bytes())
                    .await?;
            }
            if txn.get(&id_gen_key()).await?.is_none() {
                txn.put(&id_gen_key(), FIRST_USER_ID.to_string().into_bytes())
                    .await?;
            }
            Ok::<_, kv::KvError>(())
        })
        .await?;
        Ok(())
    }
}
