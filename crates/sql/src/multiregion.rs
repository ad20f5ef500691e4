//! Multi-region databases (placeholder until stage 4).

use crate::catalog::{DatabaseDesc, TableDesc};
use crate::error::{Result, SqlError};
use crate::exec::StmtCtx;
use crate::parser::{
    AlterDatabase, AlterTableLocality, ConfigureZone, CreateDatabase, Show, TableLocality,
};
use crate::session::StatementResult;

/// Sets up regions of a new database.
pub async fn init_database(
    _ctx: &mut StmtCtx<'_>,
    _db: &mut DatabaseDesc,
    d: &CreateDatabase,
) -> Result<()> {
    if d.primary_region.is_some() || !d.regions.is_empty() {
        return Err(SqlError::unimplemented("multi-region databases"));
    }
    Ok(())
}

/// Writes a database's zone configuration.
pub async fn write_database_zone(_ctx: &mut StmtCtx<'_>, _db: &DatabaseDesc) -> Result<()> {
    Ok(())
}

/// Applies a table's locality clause.
pub fn apply_table_locality(
    _ctx: &StmtCtx<'_>,
    _t: &mut TableDesc,
    _db: &DatabaseDesc,
    l: Option<&TableLocality>,
) -> Result<()> {
    if l.is_some() {
        return Err(SqlError::unimplemented("table localities"));
    }
    Ok(())
}

/// Writes a table's zone configuration.
pub async fn write_table_zone(
    _ctx: &mut StmtCtx<'_>,
    _t: &TableDesc,
    _db: &DatabaseDesc,
) -> Result<()> {
    Ok(())
}

/// ALTER DATABASE.
pub async fn alter_database(_ctx: &mut StmtCtx<'_>, _a: &AlterDatabase) -> Result<StatementResult> {
    Err(SqlError::unimplemented("ALTER DATABASE"))
}

/// ALTER TABLE ... SET LOCALITY.
pub async fn alter_table_locality(
    _ctx: &mut StmtCtx<'_>,
    _a: &AlterTableLocality,
) -> Result<StatementResult> {
    Err(SqlError::unimplemented("ALTER TABLE ... SET LOCALITY"))
}

/// CONFIGURE ZONE.
pub async fn configure_zone(_ctx: &mut StmtCtx<'_>, _z: &ConfigureZone) -> Result<StatementResult> {
    Err(SqlError::unimplemented("CONFIGURE ZONE"))
}

/// Fills region facts into the statement's builtin environment.
pub async fn fill_env(_ctx: &mut StmtCtx<'_>) -> Result<()> {
    Ok(())
}

/// SHOW REGIONS / ZONE CONFIGURATION / RANGES.
pub async fn show(_ctx: &mut StmtCtx<'_>, s: &Show) -> Result<StatementResult> {
    Err(SqlError::unimplemented(format!("{s}")))
}

/// The `locality` column of SHOW TABLES.
pub fn locality_text(_t: &TableDesc, _db: &DatabaseDesc) -> Option<String> {
    None
}

/// The LOCALITY clause of SHOW CREATE TABLE.
pub fn locality_clause(_t: &TableDesc) -> Option<String> {
    None
}

/// SHOW CREATE DATABASE text.
pub fn create_database_text(db: &DatabaseDesc) -> String {
    format!(
        "CREATE DATABASE {}",
        crate::parser::Name::new(db.name.clone())
    )
}
