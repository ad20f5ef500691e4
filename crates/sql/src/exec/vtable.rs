//! Virtual tables: `pg_catalog`, `information_schema` and `crdb_internal`, built from the
//! catalog when a statement reads them.

use super::StmtCtx;
use super::compile::Resolved;
use crate::error::Result;

/// The virtual table with this name, materialised; `None` when the name is not virtual.
pub async fn build(_ctx: &StmtCtx<'_>, _parts: &[String]) -> Result<Option<Resolved>> {
    Ok(None)
}
