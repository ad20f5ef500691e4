//! Multi-region databases, table localities, zone configurations and SHOW RANGES.
//!
//! # Regions
//!
//! The cluster's regions are the distinct `region` tier values of the live nodes
//! ([`cluster_regions`]); a region's zones are the values of their `zone` (or `az`) tier. A
//! multi-region database ([`DatabaseDesc::primary_region`]) lists some of them and has an enum
//! type `crdb_internal_region` whose labels are its regions.
//!
//! # Placement
//!
//! Every table of a multi-region database gets a zone configuration generated the way
//! CockroachDB does ([`generated_zone`]): with ZONE survival, 3 voters in the home region
//! (`voter_constraints = '[+region=home]'`, lease preferred there) and one non-voting replica
//! in every other database region (`constraints = '{+region=r: 1, ...}'`), so every region
//! has a local replica for follower reads; with REGION survival, 5 voters, 2 of them at home.
//! The home region is the table's `REGIONAL BY TABLE IN` region, the primary region for
//! GLOBAL tables, and for REGIONAL BY ROW tables each row's `crdb_region`: the table's
//! primary index is split at every region's prefix and each partition gets its own
//! configuration (`zones/<table>/p/<hex prefix>`, read by `KvNode::zone_for`).
//!
//! Configurations are written where the KV allocator reads them (`zones/<table id>`), so the
//! replicate queue moves replicas and leases to match: what SHOW RANGES prints is where the
//! data is. User settings from `CONFIGURE ZONE` are kept apart (`zones_user/<id>`, field by
//! field) and applied over the generated ones: default ← multi-region ← database ← table.

use std::collections::{BTreeMap, BTreeSet};

use base::errcode;
use base::zone::{Constraints, LeasePreferences, ZoneConfig};
use serde::{Deserialize, Serialize};

use crate::catalog::*;
use crate::error::{Result, SqlError};
use crate::exec::ddl::schema_changed;
use crate::exec::show::{cols, s};
use crate::exec::{PostCommit, StmtCtx};
use crate::parser::{
    AlterDatabase, AlterDatabaseAction, AlterTableLocality, ConfigureZone, CreateDatabase,
    QualifiedName, RangesFrom, RegionsFrom, Show, SurvivalGoal as AstGoal,
    TableLocality as AstLocality, ZoneAction, ZoneKey, ZoneTarget, ZoneValue,
};
use crate::session::{Column, StatementResult};
use crate::types::{Datum, Type};

/// The name of a multi-region database's region enum.
pub const REGION_ENUM: &str = "crdb_internal_region";
/// The hidden region column of REGIONAL BY ROW tables.
pub const REGION_COLUMN: &str = "crdb_region";
/// Its default expression.
pub const REGION_DEFAULT: &str =
    "default_to_database_primary_region(gateway_region())::public.crdb_internal_region";

/// Regions of the live nodes, each with its zones.
pub fn cluster_regions(node: &kv::KvNode) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (d, live) in node.directory().all() {
        if !live {
            continue;
        }
        let tiers = d.locality.tiers();
        let Some(region) = tiers.iter().find(|t| t.key == "region") else {
            continue;
        };
        let zones = out.entry(region.value.clone()).or_default();
        if let Some(z) = tiers.iter().find(|t| t.key == "zone" || t.key == "az") {
            zones.insert(z.value.clone());
        }
    }
    out
}

fn check_region(ctx: &StmtCtx<'_>, region: &str) -> Result<()> {
    let regions = cluster_regions(&ctx.server.node);
    if regions.contains_key(region) {
        return Ok(());
    }
    let valid: Vec<&str> = regions.keys().map(String::as_str).collect();
    Err(SqlError::new(
        errcode::INVALID_NAME,
        format!("region \"{region}\" does not exist"),
    )
    .with_hint(format!("valid regions: {}", valid.join(", "))))
}

fn goal(g: AstGoal) -> SurvivalGoal {
    match g {
        AstGoal::Zone => SurvivalGoal::Zone,
        AstGoal::Region => SurvivalGoal::Region,
    }
}

fn check_survival(db: &DatabaseDesc) -> Result<()> {
    if db.survival_goal == SurvivalGoal::Region && db.regions.len() < 3 {
        return Err(SqlError::new(
            errcode::INVALID_PARAMETER_VALUE,
            "at least 3 regions are required for surviving a region failure",
        )
        .with_hint(
            "you must add additional regions to the database or change the survivability goal",
        ));
    }
    Ok(())
}

/// Sets up the regions of a new database (CREATE DATABASE ... PRIMARY REGION ... REGIONS ...).
pub async fn init_database(
    ctx: &mut StmtCtx<'_>,
    db: &mut DatabaseDesc,
    d: &CreateDatabase,
) -> Result<()> {
    let Some(primary) = &d.primary_region else {
        if !d.regions.is_empty() {
            return Err(SqlError::new(
                errcode::INVALID_DATABASE_DEFINITION,
                "PRIMARY REGION must be specified if REGIONS are specified",
            ));
        }
        if d.survival_goal.is_some() {
            return Err(SqlError::new(
                errcode::INVALID_DATABASE_DEFINITION,
                "PRIMARY REGION must be specified when using SURVIVE",
            ));
        }
        return Ok(());
    };
    let mut regions = BTreeSet::new();
    regions.insert(primary.as_str().to_string());
    for r in &d.regions {
        regions.insert(r.as_str().to_string());
    }
    for r in &regions {
        check_region(ctx, r)?;
    }
    db.primary_region = Some(primary.as_str().to_string());
    db.regions = regions.into_iter().collect();
    db.survival_goal = d.survival_goal.map(goal).unwrap_or_default();
    check_survival(db)?;
    create_region_enum(ctx, db).await
}

/// Creates the region enum type of `db`, of its regions, and records its id in `db`.
async fn create_region_enum(ctx: &StmtCtx<'_>, db: &mut DatabaseDesc) -> Result<()> {
    let txn = ctx.txn()?;
    let id = ctx.server.catalog.next_id(&txn).await?;
    let mut t = Descriptor::Type(TypeDesc {
        id,
        parent_id: db.id,
        schema_id: db.public_schema_id,
        name: REGION_ENUM.into(),
        version: 0,
        kind: TypeKind::RegionEnum(db.regions.clone()),
    });
    ctx.server.catalog.write(&txn, &mut t).await?;
    ctx.server
        .catalog
        .write_name(&txn, db.id, db.public_schema_id, REGION_ENUM, id)
        .await?;
    db.region_enum_id = Some(id);
    Ok(())
}

/// A database's zone configuration is its tables' business: nothing to write at creation.
pub async fn write_database_zone(_ctx: &mut StmtCtx<'_>, _db: &DatabaseDesc) -> Result<()> {
    Ok(())
}

fn region_column(db: &DatabaseDesc, id: ColumnId) -> ColumnDesc {
    ColumnDesc {
        id,
        name: REGION_COLUMN.into(),
        ty: Type::Enum {
            id: db.region_enum_id.unwrap_or(0),
            name: REGION_ENUM.into(),
        },
        nullable: false,
        default: Some(REGION_DEFAULT.into()),
        hidden: true,
        computed: None,
    }
}

/// Applies a CREATE TABLE locality clause (or the multi-region default).
pub fn apply_table_locality(
    _ctx: &StmtCtx<'_>,
    t: &mut TableDesc,
    db: &DatabaseDesc,
    l: Option<&AstLocality>,
) -> Result<()> {
    if !db.is_multi_region() {
        if l.is_some() {
            return Err(SqlError::new(
                errcode::INVALID_TABLE_DEFINITION,
                "cannot set LOCALITY on a table in a database that is not multi-region enabled"
                    .to_string(),
            ));
        }
        return Ok(());
    }
    let locality = match l {
        None => TableLocality::RegionalByTable(None),
        Some(AstLocality::Global) => TableLocality::Global,
        Some(AstLocality::RegionalByTable(r)) => {
            let r = r.as_ref().map(|n| n.as_str().to_string());
            if let Some(r) = &r
                && !db.regions.contains(r)
            {
                return Err(region_not_in_db(r, db));
            }
            TableLocality::RegionalByTable(r)
        }
        Some(AstLocality::RegionalByRow(col)) => {
            if col.is_some() {
                return Err(SqlError::unimplemented("REGIONAL BY ROW AS <column>"));
            }
            add_region_column(t, db);
            TableLocality::RegionalByRow {
                column: REGION_COLUMN.into(),
            }
        }
    };
    t.locality = Some(locality);
    Ok(())
}

fn add_region_column(t: &mut TableDesc, db: &DatabaseDesc) {
    if t.column_by_name(REGION_COLUMN).is_none() {
        let id = t.next_column_id;
        t.next_column_id += 1;
        t.columns.push(region_column(db, id));
    }
    let id = t.column_by_name(REGION_COLUMN).map(|c| c.id).unwrap_or(0);
    if t.primary_index.columns.first() != Some(&id) {
        t.primary_index.columns.insert(0, id);
        t.primary_index.descending.insert(0, false);
    }
}

fn region_not_in_db(r: &str, db: &DatabaseDesc) -> SqlError {
    SqlError::new(
        errcode::INVALID_NAME,
        format!(
            "region \"{r}\" has not been added to database \"{}\"",
            db.name
        ),
    )
    .with_hint(format!("available regions: {}", db.regions.join(", ")))
}

/// Zone fields a user set with CONFIGURE ZONE (`None`: inherited).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UserZone {
    /// num_replicas.
    pub num_replicas: Option<u32>,
    /// num_voters.
    pub num_voters: Option<u32>,
    /// constraints.
    pub constraints: Option<Constraints>,
    /// voter_constraints.
    pub voter_constraints: Option<Constraints>,
    /// lease_preferences.
    pub lease_preferences: Option<LeasePreferences>,
    /// range_min_bytes.
    pub range_min_bytes: Option<u64>,
    /// range_max_bytes.
    pub range_max_bytes: Option<u64>,
    /// gc.ttlseconds.
    pub gc_ttl_seconds: Option<u64>,
}

impl UserZone {
    fn apply(&self, z: &mut ZoneConfig) {
        if let Some(v) = self.num_replicas {
            z.num_replicas = v;
        }
        if let Some(v) = self.num_voters {
            z.num_voters = Some(v);
        }
        if let Some(v) = &self.constraints {
            z.constraints = v.clone();
        }
        if let Some(v) = &self.voter_constraints {
            z.voter_constraints = v.clone();
        }
        if let Some(v) = &self.lease_preferences {
            z.lease_preferences = v.clone();
        }
        if let Some(v) = self.range_min_bytes {
            z.range_min_bytes = v;
        }
        if let Some(v) = self.range_max_bytes {
            z.range_max_bytes = v;
        }
        if let Some(v) = self.gc_ttl_seconds {
            z.gc_ttl_seconds = v;
        }
    }

    fn is_empty(&self) -> bool {
        self.num_replicas.is_none()
            && self.num_voters.is_none()
            && self.constraints.is_none()
            && self.voter_constraints.is_none()
            && self.lease_preferences.is_none()
            && self.range_min_bytes.is_none()
            && self.range_max_bytes.is_none()
            && self.gc_ttl_seconds.is_none()
    }
}

fn user_key(name: &str) -> base::Key {
    base::keys::system_key(&format!("zones_user/{name}"))
}

async fn user_zone(ctx: &StmtCtx<'_>, name: &str) -> Result<Option<UserZone>> {
    Ok(match ctx.reader.get(&user_key(name)).await? {
        Some(v) => serde_json::from_slice(&v).ok(),
        None => None,
    })
}

async fn default_zone(ctx: &StmtCtx<'_>) -> Result<ZoneConfig> {
    Ok(match ctx.reader.get(&zone_key("default")).await? {
        Some(v) => serde_json::from_slice(&v).unwrap_or_default(),
        None => ZoneConfig::default(),
    })
}

fn region_constraint(r: &str) -> base::zone::Constraint {
    base::zone::Constraint {
        kind: base::zone::ConstraintKind::Required,
        key: "region".into(),
        value: r.into(),
    }
}

/// The zone configuration CockroachDB generates for data homed in `home`.
pub fn generated_zone(base: &ZoneConfig, db: &DatabaseDesc, home: &str) -> ZoneConfig {
    let mut z = base.clone();
    let (voters, home_voters) = match db.survival_goal {
        SurvivalGoal::Zone => (3, 0),
        SurvivalGoal::Region => (5, 2),
    };
    let n = db.regions.len() as u32;
    z.num_voters = Some(voters);
    z.num_replicas = match db.survival_goal {
        SurvivalGoal::Zone => voters + n.saturating_sub(1),
        SurvivalGoal::Region => voters.max(n),
    };
    z.constraints = Constraints(
        db.regions
            .iter()
            .map(|r| base::zone::ConstraintsConjunction {
                num_replicas: 1,
                constraints: vec![region_constraint(r)],
            })
            .collect(),
    );
    z.voter_constraints = Constraints(vec![base::zone::ConstraintsConjunction {
        num_replicas: home_voters,
        constraints: vec![region_constraint(home)],
    }]);
    z.lease_preferences = LeasePreferences(vec![vec![region_constraint(home)]]);
    z
}

fn home_region(t: &TableDesc, db: &DatabaseDesc) -> Option<String> {
    match &t.locality {
        Some(TableLocality::RegionalByTable(Some(r))) => Some(r.clone()),
        _ => db.primary_region.clone(),
    }
}

/// The key prefix of a REGIONAL BY ROW partition of the primary index.
pub fn partition_prefix(t: &TableDesc, region: &str) -> base::Key {
    let mut k = base::keys::index_prefix(t.id, u64::from(PRIMARY_INDEX_ID)).0;
    base::encoding::encode_bytes(&mut k, region.as_bytes());
    base::Key(k)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn effective_table_zone(
    ctx: &StmtCtx<'_>,
    t: &TableDesc,
    db: &DatabaseDesc,
    home: Option<&str>,
) -> Result<ZoneConfig> {
    let mut z = default_zone(ctx).await?;
    if db.is_multi_region()
        && let Some(home) = home
    {
        z = generated_zone(&z, db, home);
    }
    if let Some(u) = user_zone(ctx, &db.id.to_string()).await? {
        u.apply(&mut z);
    }
    if let Some(u) = user_zone(ctx, &t.id.to_string()).await? {
        u.apply(&mut z);
    }
    Ok(z)
}

/// Writes the zone configurations of a table (and of its partitions) where KV reads them.
pub async fn write_table_zone(
    ctx: &mut StmtCtx<'_>,
    t: &TableDesc,
    db: &DatabaseDesc,
) -> Result<()> {
    let txn = ctx.txn()?;
    let has_user = user_zone(ctx, &db.id.to_string()).await?.is_some()
        || user_zone(ctx, &t.id.to_string()).await?.is_some();
    let key = zone_key(&t.id.to_string());
    if !db.is_multi_region() && !has_user {
        txn.delete(&key).await?;
    } else {
        let z = effective_table_zone(ctx, t, db, home_region(t, db).as_deref()).await?;
        txn.put(&key, serde_json::to_vec(&z).map_err(SqlError::internal)?)
            .await?;
    }
    // Partition zones of REGIONAL BY ROW tables.
    let ppfx = base::keys::system_key(&format!("zones/{}/p/", t.id));
    txn.delete_range(&base::Span::prefix(&ppfx.0)).await?;
    if t.is_regional_by_row() {
        for r in &db.regions {
            let z = effective_table_zone(ctx, t, db, Some(r)).await?;
            let prefix = partition_prefix(t, r);
            let k = base::keys::system_key(&format!("zones/{}/p/{}", t.id, hex(&prefix.0)));
            txn.put(&k, serde_json::to_vec(&z).map_err(SqlError::internal)?)
                .await?;
            ctx.post_commit.push(PostCommit::Split(prefix.clone()));
            if let Some(end) = base::encoding::prefix_end(&prefix.0) {
                ctx.post_commit.push(PostCommit::Split(base::Key(end)));
            }
        }
    }
    Ok(())
}

async fn tables_of(ctx: &StmtCtx<'_>, db: &DatabaseDesc) -> Result<Vec<TableDesc>> {
    let mut out = Vec::new();
    for (_, sid) in ctx.server.catalog.list(&ctx.reader, db.id, 0).await? {
        for (_, id) in ctx.server.catalog.list(&ctx.reader, db.id, sid).await? {
            if let Some(Descriptor::Table(t)) = ctx.desc(id).await?.as_deref() {
                out.push(t.clone());
            }
        }
    }
    Ok(out)
}

async fn rewrite_zones(ctx: &mut StmtCtx<'_>, db: &DatabaseDesc) -> Result<()> {
    for t in tables_of(ctx, db).await? {
        write_table_zone(ctx, &t, db).await?;
    }
    Ok(())
}

async fn write_db(ctx: &mut StmtCtx<'_>, db: &DatabaseDesc) -> Result<()> {
    let txn = ctx.txn()?;
    let mut d = Descriptor::Database(db.clone());
    ctx.server.catalog.write(&txn, &mut d).await?;
    schema_changed(ctx).await
}

async fn set_region_labels(ctx: &mut StmtCtx<'_>, db: &mut DatabaseDesc) -> Result<()> {
    let Some(id) = db.region_enum_id else {
        return create_region_enum(ctx, db).await;
    };
    if let Some(Descriptor::Type(t)) = ctx.desc(id).await?.as_deref() {
        let mut t = t.clone();
        t.kind = TypeKind::RegionEnum(db.regions.clone());
        let mut d = Descriptor::Type(t);
        let txn = ctx.txn()?;
        ctx.server.catalog.write(&txn, &mut d).await?;
    }
    Ok(())
}

/// ALTER DATABASE: regions, survival goal, rename.
pub async fn alter_database(ctx: &mut StmtCtx<'_>, a: &AlterDatabase) -> Result<StatementResult> {
    let db = ctx.database_or_err(a.name.as_str()).await?;
    let mut db = (*db).clone();
    let not_mr = || {
        SqlError::new(
            errcode::INVALID_NAME,
            format!("database {} is not multi-region enabled", db.name),
        )
        .with_hint("you must add a PRIMARY REGION first using ALTER DATABASE ... PRIMARY REGION <region_name>")
    };
    match &a.action {
        AlterDatabaseAction::SetPrimaryRegion(r) => {
            let r = r.as_str().to_string();
            check_region(ctx, &r)?;
            if db.is_multi_region() && !db.regions.contains(&r) {
                return Err(region_not_in_db(&r, &db));
            }
            if !db.regions.contains(&r) {
                db.regions.push(r.clone());
                db.regions.sort();
            }
            db.primary_region = Some(r);
            set_region_labels(ctx, &mut db).await?;
        }
        AlterDatabaseAction::AddRegion {
            region,
            if_not_exists,
        } => {
            if !db.is_multi_region() {
                return Err(not_mr());
            }
            let r = region.as_str().to_string();
            check_region(ctx, &r)?;
            if db.regions.contains(&r) {
                if *if_not_exists {
                    ctx.notices
                        .push(format!("region \"{r}\" already exists; skipping"));
                    return Ok(StatementResult::tag("ALTER DATABASE ADD REGION"));
                }
                return Err(SqlError::new(
                    errcode::DUPLICATE_OBJECT,
                    format!("region \"{r}\" already added to database"),
                ));
            }
            db.regions.push(r);
            db.regions.sort();
            set_region_labels(ctx, &mut db).await?;
        }
        AlterDatabaseAction::DropRegion { region, if_exists } => {
            let r = region.as_str().to_string();
            if !db.regions.contains(&r) {
                if *if_exists {
                    return Ok(StatementResult::tag("ALTER DATABASE DROP REGION"));
                }
                return Err(region_not_in_db(&r, &db));
            }
            if db.primary_region.as_deref() == Some(r.as_str()) {
                if db.regions.len() > 1 {
                    return Err(SqlError::new(
                        errcode::INVALID_DATABASE_DEFINITION,
                        format!("cannot drop region \"{r}\""),
                    )
                    .with_hint("You must designate another region as the primary region using ALTER DATABASE <db_name> PRIMARY REGION <region_name> or remove all other regions before attempting to drop region \"".to_string() + &r + "\""));
                }
                if tables_of(ctx, &db)
                    .await?
                    .iter()
                    .any(TableDesc::is_regional_by_row)
                {
                    return Err(SqlError::new(
                        errcode::INVALID_DATABASE_DEFINITION,
                        "cannot drop the last region of a database with REGIONAL BY ROW tables",
                    ));
                }
                db.primary_region = None;
                db.regions.clear();
            } else {
                db.regions.retain(|x| *x != r);
            }
            set_region_labels(ctx, &mut db).await?;
        }
        AlterDatabaseAction::Survive(g) => {
            if !db.is_multi_region() {
                return Err(not_mr());
            }
            db.survival_goal = goal(*g);
            check_survival(&db)?;
        }
        AlterDatabaseAction::RenameTo(n) => {
            let new = n.as_str().to_string();
            if ctx.database(&new).await?.is_some() {
                return Err(SqlError::new(
                    errcode::DUPLICATE_DATABASE,
                    format!("database \"{new}\" already exists"),
                ));
            }
            let txn = ctx.txn()?;
            ctx.server.catalog.remove_name(&txn, 0, 0, &db.name).await?;
            ctx.server
                .catalog
                .write_name(&txn, 0, 0, &new, db.id)
                .await?;
            db.name = new;
            write_db(ctx, &db).await?;
            return Ok(StatementResult::tag("ALTER DATABASE"));
        }
        AlterDatabaseAction::OwnerTo(_) => return Ok(StatementResult::tag("ALTER DATABASE OWNER")),
        AlterDatabaseAction::SetSecondaryRegion(_)
        | AlterDatabaseAction::DropSecondaryRegion { .. } => {
            return Err(SqlError::unimplemented("secondary regions"));
        }
    }
    write_db(ctx, &db).await?;
    rewrite_zones(ctx, &db).await?;
    let tag = match &a.action {
        AlterDatabaseAction::AddRegion { .. } => "ALTER DATABASE ADD REGION",
        AlterDatabaseAction::DropRegion { .. } => "ALTER DATABASE DROP REGION",
        AlterDatabaseAction::SetPrimaryRegion(_) => "ALTER DATABASE PRIMARY REGION",
        AlterDatabaseAction::Survive(_) => "ALTER DATABASE SURVIVE",
        _ => "ALTER DATABASE",
    };
    Ok(StatementResult::tag(tag))
}

/// ALTER TABLE ... SET LOCALITY: REGIONAL BY ROW adds and backfills `crdb_region` and
/// rewrites every row under its new primary key.
pub async fn alter_table_locality(
    ctx: &mut StmtCtx<'_>,
    a: &AlterTableLocality,
) -> Result<StatementResult> {
    let parts: Vec<String> = a.table.0.iter().map(|n| n.as_str().to_string()).collect();
    let Some(t) = ctx.find_table(&parts).await? else {
        if a.if_exists {
            return Ok(StatementResult::tag("ALTER TABLE SET LOCALITY"));
        }
        return Err(SqlError::undefined_table(&parts.join(".")));
    };
    let db = match ctx.desc(t.parent_id).await?.as_deref() {
        Some(Descriptor::Database(d)) => d.clone(),
        _ => return Err(SqlError::internal("table without database")),
    };
    if !db.is_multi_region() {
        return Err(SqlError::new(
            errcode::INVALID_TABLE_DEFINITION,
            "cannot alter a table's LOCALITY if its database is not multi-region enabled"
                .to_string(),
        ));
    }
    let old = (*t).clone();
    let mut new = old.clone();
    let was_rbr = old.is_regional_by_row();
    apply_table_locality(ctx, &mut new, &db, Some(&a.locality))?;
    let is_rbr = new.is_regional_by_row();
    if was_rbr && !is_rbr {
        let id = new.column_by_name(REGION_COLUMN).map(|c| c.id);
        if let Some(id) = id {
            new.primary_index.columns.retain(|c| *c != id);
            new.primary_index.descending.remove(0);
            new.columns.retain(|c| c.id != id);
        }
    }
    if was_rbr != is_rbr {
        rewrite_rows(ctx, &old, &new).await?;
    }
    let txn = ctx.txn()?;
    let mut d = Descriptor::Table(new.clone());
    ctx.server.catalog.write(&txn, &mut d).await?;
    schema_changed(ctx).await?;
    write_table_zone(ctx, &new, &db).await?;
    Ok(StatementResult::tag("ALTER TABLE SET LOCALITY"))
}

/// Re-encodes every row of `old` under `new` (a primary key change), filling new columns
/// from their defaults.
async fn rewrite_rows(ctx: &StmtCtx<'_>, old: &TableDesc, new: &TableDesc) -> Result<()> {
    let txn = ctx.txn()?;
    let prefix = base::keys::table_prefix(old.id);
    let span = base::Span::prefix(&crate::encoding::index_prefix(old, &old.primary_index).0);
    let kvs = ctx.reader.scan(&span, 0).await?;
    let mut rows = Vec::new();
    for kv in &kvs {
        rows.push(crate::encoding::decode_row(old, &kv.key, &kv.value)?);
    }
    txn.delete_range(&base::Span::prefix(&prefix.0)).await?;
    let env = ctx.plan_env(&[]).await?;
    let writer = crate::exec::dml::TableWriter::new(std::sync::Arc::new(new.clone()), &env)?;
    let ex = crate::exec::run::Executor::new(ctx.reader.clone(), &ctx.params, &ctx.env);
    for row in rows {
        let mut out = vec![Datum::Null; new.columns.len()];
        let mut set = vec![false; new.columns.len()];
        for (i, c) in new.columns.iter().enumerate() {
            if let Some(p) = old.column_pos(c.id) {
                out[i] = row[p].clone();
                set[i] = true;
            }
        }
        writer.finish_row(&ex, &mut out, &set).await?;
        crate::exec::dml::insert_row(&txn, new, &out).await?;
    }
    Ok(())
}

fn zone_error(e: base::zone::ZoneError) -> SqlError {
    SqlError::new(errcode::INVALID_PARAMETER_VALUE, e.to_string())
}

fn setting_value(ctx: &StmtCtx<'_>, v: &crate::parser::OptionValue) -> Result<String> {
    v.text(&ctx.params)
}

fn number<T: std::str::FromStr>(key: ZoneKey, s: &str) -> Result<T> {
    s.trim().parse().map_err(|_| {
        SqlError::new(
            errcode::INVALID_PARAMETER_VALUE,
            format!("could not parse {} value {s:?}", key.name()),
        )
    })
}

/// The table of a `TABLE t` zone target, with its database.
async fn zone_table(
    ctx: &StmtCtx<'_>,
    name: &QualifiedName,
) -> Result<(std::sync::Arc<TableDesc>, DatabaseDesc)> {
    let parts: Vec<String> = name.0.iter().map(|n| n.as_str().to_string()).collect();
    let t = ctx.table(&parts).await?;
    let db = match ctx.desc(t.parent_id).await?.as_deref() {
        Some(Descriptor::Database(d)) => d.clone(),
        _ => return Err(SqlError::internal("table without database")),
    };
    Ok((t, db))
}

/// ALTER ... CONFIGURE ZONE.
pub async fn configure_zone(ctx: &mut StmtCtx<'_>, z: &ConfigureZone) -> Result<StatementResult> {
    let (name, db, table) = match &z.target {
        ZoneTarget::Range(r) if r.as_str() == "default" => ("default".to_string(), None, None),
        ZoneTarget::Range(r) => {
            return Err(SqlError::unimplemented(format!(
                "zone configuration of RANGE {}",
                r.as_str()
            )));
        }
        ZoneTarget::Database(d) => {
            let db = ctx.database_or_err(d.as_str()).await?;
            (db.id.to_string(), Some((*db).clone()), None)
        }
        ZoneTarget::Table(t) => {
            let (t, db) = zone_table(ctx, t).await?;
            (t.id.to_string(), Some(db), Some((*t).clone()))
        }
        ZoneTarget::Index(_) => return Err(SqlError::unimplemented("index zone configurations")),
    };
    let txn = ctx.txn()?;
    let mut user = if name == "default" {
        UserZone::default()
    } else {
        user_zone(ctx, &name).await?.unwrap_or_default()
    };
    let mut default = default_zone(ctx).await?;
    match &z.action {
        ZoneAction::Discard | ZoneAction::UsingDefault => user = UserZone::default(),
        ZoneAction::Using(settings) => {
            for s in settings {
                let v = match &s.value {
                    ZoneValue::CopyFromParent => None,
                    ZoneValue::Value(v) => Some(setting_value(ctx, v)?),
                };
                let k = s.key;
                match k {
                    ZoneKey::NumReplicas => {
                        user.num_replicas = v.map(|v| number(k, &v)).transpose()?
                    }
                    ZoneKey::NumVoters => user.num_voters = v.map(|v| number(k, &v)).transpose()?,
                    ZoneKey::RangeMinBytes => {
                        user.range_min_bytes = v.map(|v| number(k, &v)).transpose()?
                    }
                    ZoneKey::RangeMaxBytes => {
                        user.range_max_bytes = v.map(|v| number(k, &v)).transpose()?
                    }
                    ZoneKey::GcTtlSeconds => {
                        user.gc_ttl_seconds = v.map(|v| number(k, &v)).transpose()?
                    }
                    ZoneKey::Constraints => {
                        user.constraints = v
                            .map(|v| Constraints::parse(&v))
                            .transpose()
                            .map_err(zone_error)?
                    }
                    ZoneKey::VoterConstraints => {
                        user.voter_constraints = v
                            .map(|v| Constraints::parse(&v))
                            .transpose()
                            .map_err(zone_error)?
                    }
                    ZoneKey::LeasePreferences => {
                        user.lease_preferences = v
                            .map(|v| LeasePreferences::parse(&v))
                            .transpose()
                            .map_err(zone_error)?
                    }
                    ZoneKey::GlobalReads => {}
                }
            }
        }
    }
    if name == "default" {
        user.apply(&mut default);
        default.validate().map_err(zone_error)?;
        txn.put(
            &zone_key("default"),
            serde_json::to_vec(&default).map_err(SqlError::internal)?,
        )
        .await?;
        return Ok(StatementResult::tag("CONFIGURE ZONE"));
    }
    let mut check = default.clone();
    user.apply(&mut check);
    if user.num_voters.is_some() || user.voter_constraints.is_some() || user.num_replicas.is_some()
    {
        check.validate().map_err(zone_error)?;
    }
    if user.is_empty() {
        txn.delete(&user_key(&name)).await?;
    } else {
        txn.put(
            &user_key(&name),
            serde_json::to_vec(&user).map_err(SqlError::internal)?,
        )
        .await?;
    }
    let db = db.ok_or_else(|| SqlError::internal("zone target without database"))?;
    match table {
        Some(t) => write_table_zone(ctx, &t, &db).await?,
        None => rewrite_zones(ctx, &db).await?,
    }
    Ok(StatementResult::tag("CONFIGURE ZONE"))
}

/// Fills region facts into the statement's builtin environment.
pub async fn fill_env(ctx: &mut StmtCtx<'_>) -> Result<()> {
    if ctx.database.is_empty() {
        return Ok(());
    }
    if let Some(db) = ctx.database(&ctx.database.clone()).await? {
        ctx.env.db_primary_region = db.primary_region.clone();
        ctx.env.db_regions = db.regions.clone();
    }
    Ok(())
}

fn text_array(items: impl IntoIterator<Item = String>) -> Datum {
    Datum::Array(items.into_iter().map(Datum::String).collect())
}

fn zone_sql(target: &str, z: &ZoneConfig) -> String {
    let mut lines = vec![
        format!("range_min_bytes = {}", z.range_min_bytes),
        format!("range_max_bytes = {}", z.range_max_bytes),
        format!("gc.ttlseconds = {}", z.gc_ttl_seconds),
        format!("num_replicas = {}", z.num_replicas),
    ];
    if let Some(v) = z.num_voters {
        lines.push(format!("num_voters = {v}"));
    }
    lines.push(format!("constraints = '{}'", z.constraints));
    if z.num_voters.is_some() {
        lines.push(format!("voter_constraints = '{}'", z.voter_constraints));
    }
    lines.push(format!("lease_preferences = '{}'", z.lease_preferences));
    format!(
        "ALTER {target} CONFIGURE ZONE USING\n\t{}",
        lines.join(",\n\t")
    )
}

/// SHOW REGIONS / SURVIVAL GOAL / ZONE CONFIGURATION(S) / RANGES.
pub async fn show(ctx: &mut StmtCtx<'_>, show: &Show) -> Result<StatementResult> {
    match show {
        Show::Regions(from) => show_regions(ctx, from).await,
        Show::SurvivalGoal { database } => {
            let name = database
                .as_ref()
                .map_or(ctx.database.clone(), |d| d.as_str().to_string());
            let db = ctx.database_or_err(&name).await?;
            let goal = if db.is_multi_region() {
                s(match db.survival_goal {
                    SurvivalGoal::Zone => "zone",
                    SurvivalGoal::Region => "region",
                })
            } else {
                Datum::Null
            };
            Ok(StatementResult::rows(
                cols(&[("database", Type::String), ("survival_goal", Type::String)]),
                vec![vec![s(db.name.clone()), goal]],
            ))
        }
        Show::ZoneConfiguration(target) => {
            let (label, z) = zone_of(ctx, target).await?;
            Ok(StatementResult::rows(
                cols(&[("target", Type::String), ("raw_config_sql", Type::String)]),
                vec![vec![s(label.clone()), s(zone_sql(&label, &z))]],
            ))
        }
        Show::ZoneConfigurations => {
            let mut rows = Vec::new();
            let z = default_zone(ctx).await?;
            rows.push(vec![s("RANGE default"), s(zone_sql("RANGE default", &z))]);
            if let Some(db) = ctx.database(&ctx.database.clone()).await? {
                for t in tables_of(ctx, &db).await? {
                    if ctx
                        .reader
                        .get(&zone_key(&t.id.to_string()))
                        .await?
                        .is_some()
                    {
                        let label = format!("TABLE {}.public.{}", db.name, t.name);
                        let z = effective_table_zone(ctx, &t, &db, home_region(&t, &db).as_deref())
                            .await?;
                        rows.push(vec![s(label.clone()), s(zone_sql(&label, &z))]);
                    }
                }
            }
            Ok(StatementResult::rows(
                cols(&[("target", Type::String), ("raw_config_sql", Type::String)]),
                rows,
            ))
        }
        Show::Ranges { from, options } => show_ranges(ctx, from.as_ref(), options).await,
        _ => Err(SqlError::internal("not a multi-region SHOW")),
    }
}

async fn zone_of(ctx: &StmtCtx<'_>, target: &ZoneTarget) -> Result<(String, ZoneConfig)> {
    Ok(match target {
        ZoneTarget::Range(r) => {
            if r.as_str() != "default" {
                return Err(SqlError::unimplemented(format!(
                    "zone configuration of RANGE {}",
                    r.as_str()
                )));
            }
            ("RANGE default".into(), default_zone(ctx).await?)
        }
        ZoneTarget::Database(d) => {
            let db = ctx.database_or_err(d.as_str()).await?;
            let mut z = default_zone(ctx).await?;
            if let Some(p) = &db.primary_region {
                z = generated_zone(&z, &db, p);
            }
            if let Some(u) = user_zone(ctx, &db.id.to_string()).await? {
                u.apply(&mut z);
            }
            (format!("DATABASE {}", db.name), z)
        }
        ZoneTarget::Table(t) => {
            let (t, db) = zone_table(ctx, t).await?;
            let z = effective_table_zone(ctx, &t, &db, home_region(&t, &db).as_deref()).await?;
            (format!("TABLE {}.public.{}", db.name, t.name), z)
        }
        ZoneTarget::Index(_) => return Err(SqlError::unimplemented("index zone configurations")),
    })
}

async fn show_regions(ctx: &StmtCtx<'_>, from: &RegionsFrom) -> Result<StatementResult> {
    let regions = cluster_regions(&ctx.server.node);
    match from {
        RegionsFrom::Cluster => Ok(StatementResult::rows(
            cols(&[
                ("region", Type::String),
                ("zones", Type::Array(Box::new(Type::String))),
            ]),
            regions
                .iter()
                .map(|(r, z)| vec![s(r.clone()), text_array(z.iter().cloned())])
                .collect(),
        )),
        RegionsFrom::Database(d) => {
            let name = d
                .as_ref()
                .map_or(ctx.database.clone(), |d| d.as_str().to_string());
            let db = ctx.database_or_err(&name).await?;
            let rows = db
                .regions
                .iter()
                .map(|r| {
                    vec![
                        s(db.name.clone()),
                        s(r.clone()),
                        Datum::Bool(db.primary_region.as_deref() == Some(r.as_str())),
                        Datum::Bool(false),
                        text_array(regions.get(r).cloned().unwrap_or_default()),
                    ]
                })
                .collect();
            Ok(StatementResult::rows(
                cols(&[
                    ("database", Type::String),
                    ("region", Type::String),
                    ("primary", Type::Bool),
                    ("secondary", Type::Bool),
                    ("zones", Type::Array(Box::new(Type::String))),
                ]),
                rows,
            ))
        }
        RegionsFrom::Default | RegionsFrom::AllDatabases => {
            let mut dbs = Vec::new();
            for (_, id) in ctx.server.catalog.list(&ctx.reader, 0, 0).await? {
                if let Some(Descriptor::Database(d)) = ctx.desc(id).await?.as_deref() {
                    dbs.push(d.clone());
                }
            }
            if matches!(from, RegionsFrom::AllDatabases) {
                let rows = dbs
                    .iter()
                    .map(|d| {
                        vec![
                            s(d.name.clone()),
                            text_array(d.regions.iter().cloned()),
                            d.primary_region.clone().map_or(Datum::Null, s),
                            Datum::Null,
                        ]
                    })
                    .collect();
                return Ok(StatementResult::rows(
                    cols(&[
                        ("database_name", Type::String),
                        ("regions", Type::Array(Box::new(Type::String))),
                        ("primary_region", Type::String),
                        ("secondary_region", Type::String),
                    ]),
                    rows,
                ));
            }
            let rows = regions
                .iter()
                .map(|(r, z)| {
                    let using = dbs
                        .iter()
                        .filter(|d| d.regions.contains(r))
                        .map(|d| d.name.clone());
                    let primary = dbs
                        .iter()
                        .filter(|d| d.primary_region.as_deref() == Some(r.as_str()))
                        .map(|d| d.name.clone());
                    vec![
                        s(r.clone()),
                        text_array(z.iter().cloned()),
                        text_array(using),
                        text_array(primary),
                        text_array(Vec::new()),
                    ]
                })
                .collect();
            Ok(StatementResult::rows(
                cols(&[
                    ("region", Type::String),
                    ("zones", Type::Array(Box::new(Type::String))),
                    ("database_names", Type::Array(Box::new(Type::String))),
                    ("primary_region_of", Type::Array(Box::new(Type::String))),
                    ("secondary_region_of", Type::Array(Box::new(Type::String))),
                ]),
                rows,
            ))
        }
    }
}

async fn show_ranges(
    ctx: &StmtCtx<'_>,
    from: Option<&RangesFrom>,
    options: &[crate::parser::Name],
) -> Result<StatementResult> {
    let details = options.iter().any(|o| o.as_str() == "details");
    let spans: Vec<base::Span> = match from {
        Some(RangesFrom::Table(t)) => {
            let parts: Vec<String> = t.0.iter().map(|n| n.as_str().to_string()).collect();
            let t = ctx.table(&parts).await?;
            vec![base::Span::prefix(&base::keys::table_prefix(t.id).0)]
        }
        Some(RangesFrom::Index(i)) => {
            let Some(tn) = &i.table else {
                return Err(SqlError::unimplemented(
                    "SHOW RANGES FROM INDEX without a table",
                ));
            };
            let parts: Vec<String> = tn.0.iter().map(|n| n.as_str().to_string()).collect();
            let t = ctx.table(&parts).await?;
            let idx = t.index_by_name(i.index.as_str()).ok_or_else(|| {
                SqlError::new(
                    errcode::UNDEFINED_OBJECT,
                    format!("index \"{}\" does not exist", i.index.as_str()),
                )
            })?;
            vec![base::Span::prefix(
                &crate::encoding::index_prefix(&t, idx).0,
            )]
        }
        Some(RangesFrom::Database(_)) | Some(RangesFrom::CurrentCatalog) | None => {
            let name = match from {
                Some(RangesFrom::Database(d)) => d.as_str().to_string(),
                _ => ctx.database.clone(),
            };
            let db = ctx.database_or_err(&name).await?;
            tables_of(ctx, &db)
                .await?
                .iter()
                .map(|t| base::Span::prefix(&base::keys::table_prefix(t.id).0))
                .collect()
        }
    };
    let node = &ctx.server.node;
    let dir = node.directory();
    let ranges = node.ranges().await?;
    let mut seen = BTreeSet::new();
    let mut rows = Vec::new();
    for span in &spans {
        for r in &ranges {
            let Some(piece) = r.desc.span().intersect(span) else {
                continue;
            };
            if !seen.insert(r.desc.range_id) {
                continue;
            }
            let _ = piece;
            let locality = |n: base::NodeId| dir.locality(n).to_string();
            let replicas: Vec<i64> = r.desc.replicas.iter().map(|x| x.node_id.0 as i64).collect();
            let mut row = vec![
                s(r.desc.start_key.to_string()),
                s(r.desc.end_key.to_string()),
                Datum::Int(r.desc.range_id.0 as i64),
                Datum::Array(replicas.iter().map(|n| Datum::Int(*n)).collect()),
                text_array(r.desc.replicas.iter().map(|x| locality(x.node_id))),
                Datum::Array(r.desc.voters().map(|n| Datum::Int(n.0 as i64)).collect()),
                Datum::Array(
                    r.desc
                        .non_voters()
                        .map(|n| Datum::Int(n.0 as i64))
                        .collect(),
                ),
                r.leaseholder
                    .map_or(Datum::Null, |n| Datum::Int(n.0 as i64)),
            ];
            if details {
                row.push(r.leaseholder.map_or(Datum::Null, |n| s(locality(n))));
            }
            rows.push(row);
        }
    }
    let int_array = Type::Array(Box::new(Type::Int8));
    let mut columns = cols(&[
        ("start_key", Type::String),
        ("end_key", Type::String),
        ("range_id", Type::Int8),
        ("replicas", int_array.clone()),
        ("replica_localities", Type::Array(Box::new(Type::String))),
        ("voting_replicas", int_array.clone()),
        ("non_voting_replicas", int_array),
        ("lease_holder", Type::Int8),
    ]);
    if details {
        columns.push(Column::new("lease_holder_locality", Type::String));
    }
    Ok(StatementResult::rows(columns, rows))
}

/// The `locality` column of SHOW TABLES.
pub fn locality_text(t: &TableDesc, db: &DatabaseDesc) -> Option<String> {
    if !db.is_multi_region() {
        return None;
    }
    locality_clause(t).map(|l| l.trim_start_matches("LOCALITY ").to_string())
}

/// The LOCALITY clause of SHOW CREATE TABLE.
pub fn locality_clause(t: &TableDesc) -> Option<String> {
    Some(match t.locality.as_ref()? {
        TableLocality::RegionalByTable(None) => {
            "LOCALITY REGIONAL BY TABLE IN PRIMARY REGION".into()
        }
        TableLocality::RegionalByTable(Some(r)) => {
            format!(
                "LOCALITY REGIONAL BY TABLE IN {}",
                crate::parser::Name::new(r.clone())
            )
        }
        TableLocality::Global => "LOCALITY GLOBAL".into(),
        TableLocality::RegionalByRow { .. } => "LOCALITY REGIONAL BY ROW".into(),
    })
}

/// SHOW CREATE DATABASE text.
pub fn create_database_text(db: &DatabaseDesc) -> String {
    let mut out = format!(
        "CREATE DATABASE {}",
        crate::parser::Name::new(db.name.clone())
    );
    if let Some(p) = &db.primary_region {
        let regions: Vec<String> = db
            .regions
            .iter()
            .map(|r| crate::parser::Name::new(r.clone()).to_string())
            .collect();
        out.push_str(&format!(
            " PRIMARY REGION {} REGIONS = {} SURVIVE {} FAILURE",
            crate::parser::Name::new(p.clone()),
            regions.join(", "),
            match db.survival_goal {
                SurvivalGoal::Zone => "ZONE",
                SurvivalGoal::Region => "REGION",
            }
        ));
    }
    out
}
