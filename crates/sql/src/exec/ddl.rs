//! Schema changes: CREATE/DROP DATABASE, SCHEMA, TABLE, INDEX, TYPE; ALTER TABLE; TRUNCATE.
//!
//! Each runs in the statement's KV transaction: descriptors and namespace entries are written
//! with `Catalog::write`, the catalog generation is bumped (so every node drops its cached
//! descriptors), and data is backfilled or deleted in the same transaction. A new table's
//! range split is queued as a [`PostCommit`] so it happens only if the transaction commits.

use base::errcode;
use sqlparser::ast;

use super::compile::{Planner, ident, object_parts, parse_expr};
use super::{PostCommit, StmtCtx};
use crate::catalog::*;
use crate::encoding;
use crate::error::{Result, SqlError};
use crate::parser::CreateTable;
use crate::session::{Column, StatementResult};
use crate::types::{Datum, Type};

fn already_exists(kind: &str, name: &str) -> SqlError {
    let code = match kind {
        "database" => errcode::DUPLICATE_DATABASE,
        "schema" => errcode::DUPLICATE_SCHEMA,
        _ => errcode::DUPLICATE_TABLE,
    };
    SqlError::new(code, format!("{kind} \"{name}\" already exists"))
}

/// Marks the statement as a schema change and bumps the generation.
pub async fn schema_changed(ctx: &mut StmtCtx<'_>) -> Result<()> {
    if !ctx.ddl {
        ctx.server.catalog.bump_generation(&*ctx.txn()?).await?;
    }
    ctx.ddl = true;
    ctx.uncached = true;
    Ok(())
}

/// `CREATE DATABASE`.
pub async fn create_database(
    ctx: &mut StmtCtx<'_>,
    d: &crate::parser::CreateDatabase,
) -> Result<StatementResult> {
    let name = d.name.as_str().to_string();
    if ctx.database(&name).await?.is_some() {
        if d.if_not_exists {
            return Ok(StatementResult::tag("CREATE DATABASE"));
        }
        return Err(already_exists("database", &name));
    }
    let txn = ctx.txn()?;
    let id = ctx.server.catalog.next_id(&txn).await?;
    let schema_id = ctx.server.catalog.next_id(&txn).await?;
    let mut db = DatabaseDesc {
        id,
        name: name.clone(),
        version: 0,
        public_schema_id: schema_id,
        primary_region: None,
        regions: Vec::new(),
        survival_goal: SurvivalGoal::Zone,
        region_enum_id: None,
    };
    crate::multiregion::init_database(ctx, &mut db, d).await?;
    let mut desc = Descriptor::Database(db.clone());
    ctx.server.catalog.write(&txn, &mut desc).await?;
    let mut schema = Descriptor::Schema(SchemaDesc {
        id: schema_id,
        parent_id: id,
        name: "public".into(),
        version: 0,
    });
    ctx.server.catalog.write(&txn, &mut schema).await?;
    ctx.server.catalog.write_name(&txn, 0, 0, &name, id).await?;
    ctx.server
        .catalog
        .write_name(&txn, id, 0, "public", schema_id)
        .await?;
    schema_changed(ctx).await?;
    if db.is_multi_region() {
        crate::multiregion::write_database_zone(ctx, &db).await?;
    }
    Ok(StatementResult::tag("CREATE DATABASE"))
}

/// `CREATE SCHEMA`.
pub async fn create_schema(
    ctx: &mut StmtCtx<'_>,
    name: &ast::SchemaName,
    if_not_exists: bool,
) -> Result<StatementResult> {
    let parts = match name {
        ast::SchemaName::Simple(n) => object_parts(n),
        _ => return Err(SqlError::unimplemented("CREATE SCHEMA AUTHORIZATION")),
    };
    let (db_name, schema) = match parts.as_slice() {
        [s] => (ctx.database.clone(), s.clone()),
        [d, s] => (d.clone(), s.clone()),
        _ => return Err(SqlError::syntax("invalid schema name")),
    };
    let db = ctx.database_or_err(&db_name).await?;
    if ctx.schema(&db, &schema).await?.is_some() {
        if if_not_exists {
            return Ok(StatementResult::tag("CREATE SCHEMA"));
        }
        return Err(already_exists("schema", &schema));
    }
    let txn = ctx.txn()?;
    let id = ctx.server.catalog.next_id(&txn).await?;
    let mut desc = Descriptor::Schema(SchemaDesc {
        id,
        parent_id: db.id,
        name: schema.clone(),
        version: 0,
    });
    ctx.server.catalog.write(&txn, &mut desc).await?;
    ctx.server
        .catalog
        .write_name(&txn, db.id, 0, &schema, id)
        .await?;
    schema_changed(ctx).await?;
    Ok(StatementResult::tag("CREATE SCHEMA"))
}

/// `CREATE TYPE t AS ENUM (...)`.
pub async fn create_type(
    ctx: &mut StmtCtx<'_>,
    name: &ast::ObjectName,
    repr: Option<&ast::UserDefinedTypeRepresentation>,
) -> Result<StatementResult> {
    let Some(ast::UserDefinedTypeRepresentation::Enum { labels }) = repr else {
        return Err(SqlError::unimplemented("CREATE TYPE other than ENUM"));
    };
    let tn = ctx.table_name(&object_parts(name)).await?;
    let txn = ctx.txn()?;
    if ctx
        .server
        .catalog
        .lookup(&ctx.reader, tn.db.id, tn.schema_id, &tn.name, true)
        .await?
        .is_some()
    {
        return Err(SqlError::new(
            errcode::DUPLICATE_OBJECT,
            format!("type \"{}\" already exists", tn.name),
        ));
    }
    let id = ctx.server.catalog.next_id(&txn).await?;
    let mut desc = Descriptor::Type(TypeDesc {
        id,
        parent_id: tn.db.id,
        schema_id: tn.schema_id,
        name: tn.name.clone(),
        version: 0,
        kind: TypeKind::Enum(labels.iter().map(|l| l.value.clone()).collect()),
    });
    ctx.server.catalog.write(&txn, &mut desc).await?;
    ctx.server
        .catalog
        .write_name(&txn, tn.db.id, tn.schema_id, &tn.name, id)
        .await?;
    schema_changed(ctx).await?;
    Ok(StatementResult::tag("CREATE TYPE"))
}

/// A FOREIGN KEY as written: name, columns, referenced table and columns, ON DELETE, ON UPDATE.
type FkSpec = (
    Option<String>,
    Vec<String>,
    ast::ObjectName,
    Vec<String>,
    Option<ast::ReferentialAction>,
    Option<ast::ReferentialAction>,
);

/// Column constraints gathered from a column definition.
struct ColumnExtras {
    primary: bool,
    unique: Option<Option<String>>,
    check: Option<(Option<String>, String)>,
    fk: Option<FkSpec>,
}

fn default_fits(value: &Type, col: &Type) -> bool {
    *value == Type::Unknown
        || super::compile::comparable(value, col)
        || (value.family() == crate::types::Family::Enum
            && col.family() == crate::types::Family::Enum)
}

async fn column_from_def(
    ctx: &StmtCtx<'_>,
    planner: &mut Planner<'_>,
    def: &ast::ColumnDef,
    id: ColumnId,
) -> Result<(ColumnDesc, ColumnExtras)> {
    let name = ident(&def.name);
    let type_text = def.data_type.to_string().to_lowercase();
    let serial = type_text.contains("serial");
    let ty = planner.resolve_type(&def.data_type)?;
    let _ = ctx;
    let mut col = ColumnDesc {
        id,
        name: name.clone(),
        ty: ty.clone(),
        nullable: true,
        default: serial.then(|| "unique_rowid()".to_string()),
        hidden: false,
        computed: None,
    };
    let mut extras = ColumnExtras {
        primary: false,
        unique: None,
        check: None,
        fk: None,
    };
    for opt in &def.options {
        let cname = opt.name.as_ref().map(ident);
        match &opt.option {
            ast::ColumnOption::Null => col.nullable = true,
            ast::ColumnOption::NotNull => col.nullable = false,
            ast::ColumnOption::Default(e) => {
                let (_, t) = planner.compile(e, &[], &mut None)?;
                if !default_fits(&t, &ty) {
                    return Err(SqlError::datatype_mismatch(format!(
                        "expected DEFAULT expression to have type {}, but '{e}' has type {}",
                        ty.error_name(),
                        t.error_name()
                    )));
                }
                col.default = Some(e.to_string());
            }
            ast::ColumnOption::PrimaryKey(_) => {
                extras.primary = true;
                col.nullable = false;
            }
            ast::ColumnOption::Unique(_) => extras.unique = Some(cname),
            ast::ColumnOption::Check(c) => {
                extras.check = Some((cname.or(c.name.as_ref().map(ident)), c.expr.to_string()))
            }
            ast::ColumnOption::ForeignKey(fk) => {
                extras.fk = Some((
                    cname.or(fk.name.as_ref().map(ident)),
                    vec![name.clone()],
                    fk.foreign_table.clone(),
                    fk.referred_columns.iter().map(ident).collect(),
                    fk.on_delete,
                    fk.on_update,
                ));
            }
            ast::ColumnOption::Generated {
                generation_expr: Some(e),
                ..
            } => col.computed = Some(e.to_string()),
            ast::ColumnOption::Invisible => col.hidden = true,
            ast::ColumnOption::Comment(_) => {}
            other => {
                return Err(SqlError::unimplemented(format!("column option {other}")));
            }
        }
    }
    if serial {
        col.nullable = false;
    }
    Ok((col, extras))
}

fn index_name(table: &str, cols: &[String], suffix: &str) -> String {
    format!("{table}_{}_{suffix}", cols.join("_"))
}

fn index_columns(
    t: &TableDesc,
    cols: &[ast::IndexColumn],
) -> Result<(Vec<ColumnId>, Vec<bool>, Vec<String>)> {
    let mut ids = Vec::new();
    let mut desc = Vec::new();
    let mut names = Vec::new();
    for c in cols {
        let name = match &c.column.expr {
            ast::Expr::Identifier(i) => ident(i),
            other => {
                return Err(SqlError::unimplemented(format!(
                    "index on expression {other}"
                )));
            }
        };
        let col = t
            .column_by_name(&name)
            .ok_or_else(|| SqlError::undefined_column(&name))?;
        if !col.ty.is_key_encodable() {
            return Err(SqlError::unimplemented(format!(
                "column {name} has type {} which is not indexable",
                col.ty.sql_name()
            )));
        }
        ids.push(col.id);
        desc.push(matches!(
            c.column.options.sort,
            Some(ast::OrderBySort::Desc)
        ));
        names.push(name);
    }
    Ok((ids, desc, names))
}

fn stored_columns(t: &TableDesc, include: &[ast::Ident]) -> Result<Vec<ColumnId>> {
    include
        .iter()
        .map(|i| {
            let n = ident(i);
            t.column_by_name(&n)
                .map(|c| c.id)
                .ok_or_else(|| SqlError::undefined_column(&n))
        })
        .collect()
}

/// The FOREIGN KEY a table constraint declares, as a [`FkSpec`].
fn fk_spec(fk: &ast::ForeignKeyConstraint) -> FkSpec {
    (
        fk.name.as_ref().map(ident),
        fk.columns.iter().map(ident).collect(),
        fk.foreign_table.clone(),
        fk.referred_columns.iter().map(ident).collect(),
        fk.on_delete,
        fk.on_update,
    )
}

/// The name of the index a `CREATE INDEX` (or an inline index of CREATE TABLE) defines on
/// table `table`: the one given, or `<table>_<columns>_key` (UNIQUE) or `_idx`.
fn created_index_name(table: &str, ci: &ast::CreateIndex, names: &[String]) -> String {
    match &ci.name {
        Some(n) => object_parts(n).last().cloned().unwrap_or_default(),
        None => index_name(table, names, if ci.unique { "key" } else { "idx" }),
    }
}

/// Adds a secondary index to `desc` under the next index id, and returns it.
fn push_index(
    desc: &mut TableDesc,
    name: String,
    unique: bool,
    columns: Vec<ColumnId>,
    descending: Vec<bool>,
    stored: Vec<ColumnId>,
) -> IndexDesc {
    let idx = IndexDesc {
        id: desc.next_index_id,
        name,
        unique,
        columns,
        descending,
        stored,
    };
    desc.next_index_id += 1;
    desc.indexes.push(idx.clone());
    idx
}

fn fk_action(a: Option<ast::ReferentialAction>) -> FkAction {
    match a {
        Some(ast::ReferentialAction::Cascade) => FkAction::Cascade,
        Some(ast::ReferentialAction::SetNull) => FkAction::SetNull,
        Some(ast::ReferentialAction::SetDefault) => FkAction::SetDefault,
        _ => FkAction::Restrict,
    }
}

/// PostgreSQL's limit on the columns of a table, below [`super::compile::MAX_TARGET_LIST`] so
/// that `SELECT *` of a table always fits in a result.
pub const MAX_TABLE_COLUMNS: usize = 1600;

/// Refuses a table of more than [`MAX_TABLE_COLUMNS`] columns (54011).
fn check_table_width(n: usize) -> Result<()> {
    if n > MAX_TABLE_COLUMNS {
        return Err(SqlError::new(
            errcode::TOO_MANY_COLUMNS,
            format!("tables can have at most {MAX_TABLE_COLUMNS} columns"),
        ));
    }
    Ok(())
}

/// The primary key a CREATE TABLE declares: column ids, which are descending, and the
/// constraint's name.
type PkSpec = (Vec<ColumnId>, Vec<bool>, Option<String>);

/// A UNIQUE constraint a CREATE TABLE declares: its columns and name.
type UniqueSpec = (Vec<ast::IndexColumn>, Option<String>);

/// `CREATE TABLE`: the descriptor is built from the columns, the constraints (of the
/// columns and of the table), the primary key (a hidden `rowid` when none is declared) and
/// the indexes; checks and computed columns must compile over it; then foreign keys are
/// added and every descriptor written.
pub async fn create_table(ctx: &mut StmtCtx<'_>, ct: &CreateTable) -> Result<StatementResult> {
    let t = &ct.table;
    if t.query.is_some() {
        return Err(SqlError::unimplemented("CREATE TABLE ... AS"));
    }
    check_table_width(t.columns.len())?;
    let tn = ctx.table_name(&object_parts(&t.name)).await?;
    if ctx
        .server
        .catalog
        .lookup(&ctx.reader, tn.db.id, tn.schema_id, &tn.name, true)
        .await?
        .is_some()
    {
        if t.if_not_exists {
            ctx.notices
                .push(format!("relation \"{}\" already exists, skipping", tn.name));
            return Ok(StatementResult::tag("CREATE TABLE"));
        }
        return Err(already_exists("relation", &tn.name));
    }
    let txn = ctx.txn()?;
    let id = ctx.server.catalog.next_id(&txn).await?;
    let types = ctx.types().await?;
    let env = super::compile::PlanEnv {
        types,
        ..Default::default()
    };
    let mut planner = Planner::new(&env);
    let mut desc = new_table_desc(id, tn.db.id, tn.schema_id, &tn.name);
    let mut col_extras = Vec::new();
    for def in &t.columns {
        let (col, extras) = column_from_def(ctx, &mut planner, def, desc.next_column_id).await?;
        if desc.column_by_name(&col.name).is_some() {
            return Err(SqlError::new(
                errcode::DUPLICATE_COLUMN,
                format!("duplicate column name: \"{}\"", col.name),
            ));
        }
        desc.next_column_id += 1;
        col_extras.push((col.name.clone(), extras));
        desc.columns.push(col);
    }
    let (pk, uniques, fks) = table_constraints(&mut desc, &col_extras, &t.constraints)?;
    set_primary_key(&mut desc, pk)?;
    for (cols, name) in uniques {
        let (ids, d, names) = index_columns(&desc, &cols)?;
        let name = name.unwrap_or_else(|| index_name(&tn.name, &names, "key"));
        push_index(&mut desc, name, true, ids, d, Vec::new());
    }
    for ci in &ct.indexes {
        let (ids, d, names) = index_columns(&desc, &ci.columns)?;
        let name = created_index_name(&tn.name, ci, &names);
        if desc.index_by_name(&name).is_some() {
            return Err(SqlError::new(
                errcode::DUPLICATE_TABLE,
                format!("index \"{name}\" already exists"),
            ));
        }
        let stored = stored_columns(&desc, &ci.include)?;
        push_index(&mut desc, name, ci.unique, ids, d, stored);
    }
    check_table_exprs(&mut planner, &desc)?;
    // Foreign keys.
    let mut referenced: Vec<TableDesc> = Vec::new();
    for spec in fks {
        add_foreign_key(ctx, &mut desc, &mut referenced, spec).await?;
    }
    for parent in referenced {
        let mut d = Descriptor::Table(parent);
        ctx.server.catalog.write(&txn, &mut d).await?;
    }
    crate::multiregion::apply_table_locality(ctx, &mut desc, &tn.db, ct.locality.as_ref())?;
    let mut d = Descriptor::Table(desc.clone());
    ctx.server.catalog.write(&txn, &mut d).await?;
    ctx.server
        .catalog
        .write_name(&txn, tn.db.id, tn.schema_id, &tn.name, id)
        .await?;
    schema_changed(ctx).await?;
    crate::multiregion::write_table_zone(ctx, &desc, &tn.db).await?;
    ctx.post_commit
        .push(PostCommit::Split(base::keys::table_prefix(id)));
    Ok(StatementResult::tag("CREATE TABLE"))
}

/// The descriptor of a new table `name` (id `id`, in database `parent_id` and schema
/// `schema_id`) before its columns, keys and constraints are added.
fn new_table_desc(id: u64, parent_id: u64, schema_id: u64, name: &str) -> TableDesc {
    TableDesc {
        id,
        parent_id,
        schema_id,
        name: name.to_string(),
        version: 0,
        columns: Vec::new(),
        next_column_id: 1,
        primary_index: IndexDesc {
            id: PRIMARY_INDEX_ID,
            name: format!("{name}_pkey"),
            unique: true,
            columns: Vec::new(),
            descending: Vec::new(),
            stored: Vec::new(),
        },
        indexes: Vec::new(),
        next_index_id: 2,
        checks: Vec::new(),
        foreign_keys: Vec::new(),
        locality: None,
        inbound_fks: Vec::new(),
    }
}

/// The error for a second PRIMARY KEY in the definition of table `table`.
fn multiple_primary_keys(table: &str) -> SqlError {
    SqlError::new(
        errcode::INVALID_TABLE_DEFINITION,
        format!("multiple primary keys for table \"{table}\" are not allowed"),
    )
}

/// The constraints of a new table, from its columns' definitions (`col_extras`, by column
/// name) then from the table's: the primary key, the UNIQUE constraints and the foreign
/// keys, for the caller to add; CHECKs are added to `desc` here.
fn table_constraints(
    desc: &mut TableDesc,
    col_extras: &[(String, ColumnExtras)],
    constraints: &[ast::TableConstraint],
) -> Result<(Option<PkSpec>, Vec<UniqueSpec>, Vec<FkSpec>)> {
    let mut pk: Option<PkSpec> = None;
    let mut uniques: Vec<UniqueSpec> = Vec::new();
    let mut fks: Vec<FkSpec> = Vec::new();
    for (name, extras) in col_extras {
        if extras.primary {
            if pk.is_some() {
                return Err(multiple_primary_keys(&desc.name));
            }
            let id = desc.column_by_name(name).map(|c| c.id).unwrap_or(0);
            pk = Some((vec![id], vec![false], None));
        }
        if let Some(cname) = &extras.unique {
            uniques.push((
                vec![ast::IndexColumn {
                    column: ast::OrderByExpr {
                        expr: ast::Expr::Identifier(ast::Ident::with_quote('"', name.clone())),
                        options: ast::OrderByOptions {
                            sort: None,
                            nulls_first: None,
                        },
                        with_fill: None,
                    },
                    operator_class: None,
                }],
                cname.clone(),
            ));
        }
        if let Some((cname, check)) = &extras.check {
            desc.checks.push(CheckDesc {
                name: cname.clone().unwrap_or_else(|| format!("check_{name}")),
                expr: check.clone(),
            });
        }
        if let Some(fk) = &extras.fk {
            fks.push(fk.clone());
        }
    }
    for c in constraints {
        match c {
            ast::TableConstraint::PrimaryKey(p) => {
                if pk.is_some() {
                    return Err(multiple_primary_keys(&desc.name));
                }
                let (ids, d, _) = index_columns(desc, &p.columns)?;
                pk = Some((ids, d, p.name.as_ref().map(ident)));
            }
            ast::TableConstraint::Unique(u) => {
                uniques.push((u.columns.clone(), u.name.as_ref().map(ident)));
            }
            ast::TableConstraint::Check(ch) => {
                let n = desc.checks.len() + 1;
                desc.checks.push(CheckDesc {
                    name: ch
                        .name
                        .as_ref()
                        .map(ident)
                        .unwrap_or_else(|| format!("check{n}")),
                    expr: ch.expr.to_string(),
                });
            }
            ast::TableConstraint::ForeignKey(fk) => fks.push(fk_spec(fk)),
            other => return Err(SqlError::unimplemented(format!("constraint {other}"))),
        }
    }
    Ok((pk, uniques, fks))
}

/// Sets a new table's primary key: the declared one (its columns become NOT NULL), or a
/// hidden `rowid` column defaulting to `unique_rowid()`. Every key column must be
/// encodable in a key.
fn set_primary_key(desc: &mut TableDesc, pk: Option<PkSpec>) -> Result<()> {
    match pk {
        Some((ids, d, name)) => {
            for id in &ids {
                if let Some(p) = desc.column_pos(*id) {
                    desc.columns[p].nullable = false;
                }
            }
            desc.primary_index.columns = ids;
            desc.primary_index.descending = d;
            if let Some(n) = name {
                desc.primary_index.name = n;
            }
        }
        None => {
            let rid = desc.next_column_id;
            desc.next_column_id += 1;
            desc.columns.push(ColumnDesc {
                id: rid,
                name: "rowid".into(),
                ty: Type::Int8,
                nullable: false,
                default: Some("unique_rowid()".into()),
                hidden: true,
                computed: None,
            });
            desc.primary_index.columns = vec![rid];
            desc.primary_index.descending = vec![false];
        }
    }
    for id in &desc.primary_index.columns {
        let col = desc
            .column(*id)
            .ok_or_else(|| SqlError::internal("pk column"))?;
        if !col.ty.is_key_encodable() {
            return Err(SqlError::unimplemented(format!(
                "column {} has type {} which is not indexable",
                col.name,
                col.ty.sql_name()
            )));
        }
    }
    Ok(())
}

/// Checks that a new table's CHECK constraints (which must be boolean) and computed columns
/// compile over its row.
fn check_table_exprs(planner: &mut Planner<'_>, desc: &TableDesc) -> Result<()> {
    let scope = table_scope(desc);
    for ch in &desc.checks {
        let e = parse_expr(&ch.expr)?;
        let (_, t) = planner.compile(&e, &scope, &mut None)?;
        if !matches!(t, Type::Bool | Type::Unknown) {
            return Err(SqlError::datatype_mismatch(format!(
                "expected CHECK expression to have type bool, but '{}' has type {}",
                ch.expr,
                t.error_name()
            )));
        }
    }
    for c in &desc.columns {
        if let Some(comp) = &c.computed {
            planner.compile(&parse_expr(comp)?, &scope, &mut None)?;
        }
    }
    Ok(())
}

/// Adds a FOREIGN KEY to `desc`; the referenced table (with its new inbound reference) is
/// put in `referenced` for the caller to write, unless it is `desc` itself.
async fn add_foreign_key(
    ctx: &StmtCtx<'_>,
    desc: &mut TableDesc,
    referenced: &mut Vec<TableDesc>,
    spec: FkSpec,
) -> Result<()> {
    let (name, cols, table, refcols, on_delete, on_update) = spec;
    let parent_parts = object_parts(&table);
    let self_ref = parent_parts.last() == Some(&desc.name) && parent_parts.len() == 1;
    let parent: TableDesc = if self_ref {
        desc.clone()
    } else if let Some(p) = referenced
        .iter()
        .find(|p| Some(&p.name) == parent_parts.last())
    {
        p.clone()
    } else {
        (*ctx.table(&parent_parts).await?).clone()
    };
    let ids = |t: &TableDesc, names: &[String]| -> Result<Vec<ColumnId>> {
        names
            .iter()
            .map(|c| {
                t.column_by_name(c)
                    .map(|c| c.id)
                    .ok_or_else(|| SqlError::undefined_column(c))
            })
            .collect()
    };
    let col_ids = ids(desc, &cols)?;
    let ref_ids = if refcols.is_empty() {
        parent.primary_index.columns.clone()
    } else {
        ids(&parent, &refcols)?
    };
    if col_ids.len() != ref_ids.len() {
        return Err(SqlError::syntax(format!(
            "{} columns must reference exactly {} columns in referenced table (found {})",
            col_ids.len(),
            col_ids.len(),
            ref_ids.len()
        )));
    }
    let unique = parent.all_indexes().any(|i| {
        i.unique
            && i.columns.len() == ref_ids.len()
            && ref_ids.iter().all(|r| i.columns.contains(r))
    });
    if !unique {
        return Err(SqlError::new(
            errcode::FOREIGN_KEY_VIOLATION,
            format!(
                "there is no unique constraint matching given keys for referenced table {}",
                parent.name
            ),
        ));
    }
    for (a, b) in col_ids.iter().zip(&ref_ids) {
        let (Some(ca), Some(cb)) = (desc.column(*a), parent.column(*b)) else {
            continue;
        };
        if ca.ty.family() != cb.ty.family() {
            return Err(SqlError::datatype_mismatch(format!(
                "type of \"{}\" ({}) does not match foreign key \"{}\".\"{}\" ({})",
                ca.name,
                ca.ty.sql_name(),
                parent.name,
                cb.name,
                cb.ty.sql_name()
            )));
        }
    }
    let fk_name = name.unwrap_or_else(|| index_name(&desc.name, &cols, "fkey"));
    if desc.foreign_keys.iter().any(|f| f.name == fk_name) {
        return Err(SqlError::new(
            errcode::DUPLICATE_OBJECT,
            format!("duplicate constraint name: \"{fk_name}\""),
        ));
    }
    desc.foreign_keys.push(ForeignKeyDesc {
        name: fk_name.clone(),
        columns: col_ids,
        ref_table: parent.id,
        ref_columns: ref_ids,
        on_delete: fk_action(on_delete),
        on_update: fk_action(on_update),
    });
    if self_ref {
        desc.inbound_fks.push((desc.id, fk_name));
    } else {
        let mut parent = parent;
        parent.inbound_fks.push((desc.id, fk_name));
        referenced.retain(|p| p.id != parent.id);
        referenced.push(parent);
    }
    Ok(())
}

/// The scope of a table's own row (for checks, defaults, computed columns).
pub fn table_scope(t: &TableDesc) -> Vec<super::plan::ScopeCol> {
    t.columns
        .iter()
        .map(|c| super::plan::ScopeCol {
            table: Some(t.name.clone()),
            name: c.name.clone(),
            ty: c.ty.clone(),
            hidden: c.hidden,
        })
        .collect()
}

/// Writes every existing row's entry into a new index (in the statement's transaction).
async fn backfill_index(ctx: &StmtCtx<'_>, t: &TableDesc, idx: &IndexDesc) -> Result<()> {
    let txn = ctx.txn()?;
    let prefix = encoding::index_prefix(t, &t.primary_index);
    let rows = ctx.reader.scan(&base::Span::prefix(&prefix.0), 0).await?;
    for kv in rows {
        let row = encoding::decode_row(t, &kv.key, &kv.value)?;
        super::dml::write_index_entry(&txn, t, idx, &row).await?;
    }
    Ok(())
}

/// `CREATE [UNIQUE] INDEX`.
pub async fn create_index(ctx: &mut StmtCtx<'_>, ci: &ast::CreateIndex) -> Result<StatementResult> {
    if ci.predicate.is_some() {
        return Err(SqlError::unimplemented("partial indexes"));
    }
    if ci.using.is_some() {
        return Err(SqlError::unimplemented("inverted indexes"));
    }
    let t = ctx.table(&object_parts(&ci.table_name)).await?;
    let mut desc = (*t).clone();
    let (ids, d, names) = index_columns(&desc, &ci.columns)?;
    let name = created_index_name(&desc.name, ci, &names);
    if desc.index_by_name(&name).is_some() {
        if ci.if_not_exists {
            return Ok(StatementResult::tag("CREATE INDEX"));
        }
        return Err(SqlError::new(
            errcode::DUPLICATE_TABLE,
            format!("index with name \"{name}\" already exists"),
        ));
    }
    let stored = stored_columns(&desc, &ci.include)?;
    let idx = push_index(&mut desc, name, ci.unique, ids, d, stored);
    backfill_index(ctx, &desc, &idx).await?;
    let txn = ctx.txn()?;
    let mut dd = Descriptor::Table(desc);
    ctx.server.catalog.write(&txn, &mut dd).await?;
    schema_changed(ctx).await?;
    Ok(StatementResult::tag("CREATE INDEX"))
}

async fn drop_table_data(ctx: &StmtCtx<'_>, t: &TableDesc) -> Result<()> {
    let txn = ctx.txn()?;
    let prefix = base::keys::table_prefix(t.id);
    txn.delete_range(&base::Span::prefix(&prefix.0)).await?;
    Ok(())
}

async fn drop_one_table(ctx: &mut StmtCtx<'_>, t: &TableDesc, cascade: bool) -> Result<()> {
    let txn = ctx.txn()?;
    for (other, fk) in &t.inbound_fks {
        if *other == t.id {
            continue;
        }
        if !cascade {
            let child = ctx.table_by_id(*other).await?;
            return Err(SqlError::new(
                errcode::DEPENDENT_OBJECTS_STILL_EXIST,
                format!(
                    "\"{}\" is referenced by foreign key from table \"{}\"",
                    t.name, child.name
                ),
            ));
        }
        let mut child = (*ctx.table_by_id(*other).await?).clone();
        child.foreign_keys.retain(|f| &f.name != fk);
        let mut d = Descriptor::Table(child);
        ctx.server.catalog.write(&txn, &mut d).await?;
    }
    for fk in &t.foreign_keys {
        if fk.ref_table == t.id {
            continue;
        }
        if let Ok(p) = ctx.table_by_id(fk.ref_table).await {
            let mut parent = (*p).clone();
            parent
                .inbound_fks
                .retain(|(id, n)| !(*id == t.id && *n == fk.name));
            let mut d = Descriptor::Table(parent);
            ctx.server.catalog.write(&txn, &mut d).await?;
        }
    }
    ctx.server
        .catalog
        .remove_name(&txn, t.parent_id, t.schema_id, &t.name)
        .await?;
    ctx.server.catalog.remove(&txn, t.id).await?;
    txn.delete(&zone_key(&t.id.to_string())).await?;
    drop_table_data(ctx, t).await?;
    schema_changed(ctx).await
}

/// `DROP TABLE | INDEX | DATABASE | SCHEMA | TYPE`.
pub async fn drop(
    ctx: &mut StmtCtx<'_>,
    kind: ast::ObjectType,
    if_exists: bool,
    names: &[ast::ObjectName],
    cascade: bool,
) -> Result<StatementResult> {
    match kind {
        ast::ObjectType::Table | ast::ObjectType::View | ast::ObjectType::Sequence => {
            for n in names {
                let parts = object_parts(n);
                match ctx.find_table(&parts).await? {
                    Some(t) => Box::pin(drop_one_table(ctx, &t, cascade)).await?,
                    None if if_exists => {}
                    None => return Err(SqlError::undefined_table(&parts.join("."))),
                }
            }
            Ok(StatementResult::tag("DROP TABLE"))
        }
        ast::ObjectType::Database => {
            for n in names {
                let name = object_parts(n).join(".");
                let Some(db) = ctx.database(&name).await? else {
                    if if_exists {
                        continue;
                    }
                    return Err(SqlError::undefined_database(&name));
                };
                if db.id == SYSTEM_DB_ID {
                    return Err(SqlError::new(
                        errcode::INSUFFICIENT_PRIVILEGE,
                        "user root does not have DROP privilege on database system",
                    ));
                }
                Box::pin(drop_database(ctx, &db, cascade)).await?;
            }
            Ok(StatementResult::tag("DROP DATABASE"))
        }
        ast::ObjectType::Index => {
            for n in names {
                Box::pin(drop_index(ctx, n, if_exists)).await?;
            }
            Ok(StatementResult::tag("DROP INDEX"))
        }
        ast::ObjectType::Schema => {
            for n in names {
                let parts = object_parts(n);
                let db = ctx.database_or_err(&ctx.database.clone()).await?;
                let name = parts.last().cloned().unwrap_or_default();
                let Some(s) = ctx.schema(&db, &name).await? else {
                    if if_exists {
                        continue;
                    }
                    return Err(SqlError::new(
                        errcode::INVALID_SCHEMA_NAME,
                        format!("unknown schema \"{name}\""),
                    ));
                };
                let objects = ctx.server.catalog.list(&ctx.reader, db.id, s.id).await?;
                if !objects.is_empty() && !cascade {
                    return Err(SqlError::new(
                        errcode::DEPENDENT_OBJECTS_STILL_EXIST,
                        format!("schema \"{name}\" is not empty and CASCADE was not specified"),
                    ));
                }
                for (oname, _) in objects {
                    if let Some(t) = ctx
                        .find_table(&[db.name.clone(), name.clone(), oname])
                        .await?
                    {
                        Box::pin(drop_one_table(ctx, &t, true)).await?;
                    }
                }
                let txn = ctx.txn()?;
                ctx.server
                    .catalog
                    .remove_name(&txn, db.id, 0, &name)
                    .await?;
                ctx.server.catalog.remove(&txn, s.id).await?;
                schema_changed(ctx).await?;
            }
            Ok(StatementResult::tag("DROP SCHEMA"))
        }
        ast::ObjectType::Type => {
            for n in names {
                let tn = ctx.table_name(&object_parts(n)).await?;
                let Some(id) = ctx
                    .server
                    .catalog
                    .lookup(&ctx.reader, tn.db.id, tn.schema_id, &tn.name, true)
                    .await?
                else {
                    if if_exists {
                        continue;
                    }
                    return Err(SqlError::new(
                        errcode::UNDEFINED_OBJECT,
                        format!("type \"{}\" does not exist", tn.name),
                    ));
                };
                let txn = ctx.txn()?;
                ctx.server
                    .catalog
                    .remove_name(&txn, tn.db.id, tn.schema_id, &tn.name)
                    .await?;
                ctx.server.catalog.remove(&txn, id).await?;
                schema_changed(ctx).await?;
            }
            Ok(StatementResult::tag("DROP TYPE"))
        }
        other => Err(SqlError::unimplemented(format!("DROP {other}"))),
    }
}

async fn drop_database(ctx: &mut StmtCtx<'_>, db: &DatabaseDesc, cascade: bool) -> Result<()> {
    let schemas = ctx.server.catalog.list(&ctx.reader, db.id, 0).await?;
    let mut objects = Vec::new();
    for (sname, sid) in &schemas {
        for (oname, oid) in ctx.server.catalog.list(&ctx.reader, db.id, *sid).await? {
            objects.push((sname.clone(), *sid, oname, oid));
        }
    }
    let has_tables = objects.iter().any(|o| o.2 != "crdb_internal_region");
    if has_tables && !cascade {
        return Err(SqlError::new(
            errcode::DEPENDENT_OBJECTS_STILL_EXIST,
            format!(
                "database \"{}\" is not empty and RESTRICT was specified",
                db.name
            ),
        ));
    }
    for (_, sid, oname, oid) in &objects {
        match ctx.desc(*oid).await?.as_deref() {
            Some(Descriptor::Table(t)) => {
                let t = t.clone();
                Box::pin(drop_one_table(ctx, &t, true)).await?;
            }
            _ => {
                let txn = ctx.txn()?;
                ctx.server
                    .catalog
                    .remove_name(&txn, db.id, *sid, oname)
                    .await?;
                ctx.server.catalog.remove(&txn, *oid).await?;
            }
        }
    }
    let txn = ctx.txn()?;
    for (sname, sid) in &schemas {
        ctx.server
            .catalog
            .remove_name(&txn, db.id, 0, sname)
            .await?;
        ctx.server.catalog.remove(&txn, *sid).await?;
    }
    ctx.server.catalog.remove_name(&txn, 0, 0, &db.name).await?;
    ctx.server.catalog.remove(&txn, db.id).await?;
    txn.delete(&zone_key(&db.id.to_string())).await?;
    schema_changed(ctx).await
}

async fn drop_index(ctx: &mut StmtCtx<'_>, n: &ast::ObjectName, if_exists: bool) -> Result<()> {
    let parts = object_parts(n);
    // `t@idx` arrives as one part containing '@'.
    let joined = parts.join(".");
    let (table_parts, index): (Option<Vec<String>>, String) = match joined.split_once('@') {
        Some((t, i)) => (
            Some(t.split('.').map(str::to_string).collect()),
            i.to_string(),
        ),
        None => (None, parts.last().cloned().unwrap_or_default()),
    };
    let table = match table_parts {
        Some(tp) => Some(ctx.table(&tp).await?),
        None => {
            let db = ctx.database_or_err(&ctx.database.clone()).await?;
            let mut found = None;
            for (name, _) in ctx
                .server
                .catalog
                .list(&ctx.reader, db.id, db.public_schema_id)
                .await?
            {
                if let Some(t) = ctx.find_table(&[name]).await?
                    && t.indexes.iter().any(|i| i.name == index)
                {
                    found = Some(t);
                    break;
                }
            }
            found
        }
    };
    let Some(t) = table else {
        if if_exists {
            return Ok(());
        }
        return Err(SqlError::new(
            errcode::UNDEFINED_OBJECT,
            format!("index \"{index}\" does not exist"),
        ));
    };
    if t.primary_index.name == index {
        return Err(SqlError::unimplemented(
            "dropping the primary index (use ALTER TABLE ... ALTER PRIMARY KEY)",
        ));
    }
    let Some(idx) = t.indexes.iter().find(|i| i.name == index).cloned() else {
        if if_exists {
            return Ok(());
        }
        return Err(SqlError::new(
            errcode::UNDEFINED_OBJECT,
            format!("index \"{index}\" does not exist"),
        ));
    };
    let txn = ctx.txn()?;
    let span = base::Span::prefix(&encoding::index_prefix(&t, &idx).0);
    txn.delete_range(&span).await?;
    let mut desc = (*t).clone();
    desc.indexes.retain(|i| i.id != idx.id);
    let mut d = Descriptor::Table(desc);
    ctx.server.catalog.write(&txn, &mut d).await?;
    schema_changed(ctx).await
}

/// `TRUNCATE t`.
pub async fn truncate(ctx: &mut StmtCtx<'_>, t: &ast::Truncate) -> Result<StatementResult> {
    for target in &t.table_names {
        let table = ctx.table(&object_parts(&target.name)).await?;
        if table.inbound_fks.iter().any(|(id, _)| *id != table.id)
            && !t
                .cascade
                .as_ref()
                .is_some_and(|c| matches!(c, ast::CascadeOption::Cascade))
        {
            let child = ctx.table_by_id(table.inbound_fks[0].0).await?;
            return Err(SqlError::new(
                errcode::FEATURE_NOT_SUPPORTED,
                format!(
                    "\"{}\" is referenced by foreign key from table \"{}\"",
                    table.name, child.name
                ),
            ));
        }
        drop_table_data(ctx, &table).await?;
    }
    Ok(StatementResult::tag("TRUNCATE"))
}

/// `ALTER TABLE`: applies each operation to a copy of the descriptor in turn, then writes it.
pub async fn alter_table(ctx: &mut StmtCtx<'_>, at: &ast::AlterTable) -> Result<StatementResult> {
    let parts = object_parts(&at.name);
    let Some(t) = ctx.find_table(&parts).await? else {
        if at.if_exists {
            return Ok(StatementResult::tag("ALTER TABLE"));
        }
        return Err(SqlError::undefined_table(&parts.join(".")));
    };
    let mut desc = (*t).clone();
    let txn = ctx.txn()?;
    let types = ctx.types().await?;
    let env = super::compile::PlanEnv {
        types,
        ..Default::default()
    };
    for op in &at.operations {
        match op {
            ast::AlterTableOperation::AddColumn {
                column_def,
                if_not_exists,
                ..
            } => add_column(ctx, &env, &mut desc, column_def, *if_not_exists).await?,
            ast::AlterTableOperation::DropColumn {
                column_names,
                if_exists,
                ..
            } => drop_columns(&txn, &mut desc, column_names, *if_exists).await?,
            ast::AlterTableOperation::AddConstraint { constraint, .. } => {
                add_constraint(ctx, &txn, &mut desc, constraint).await?
            }
            ast::AlterTableOperation::DropConstraint {
                name, if_exists, ..
            } => {
                let n = ident(name);
                let before = desc.checks.len() + desc.foreign_keys.len();
                desc.checks.retain(|c| c.name != n);
                desc.foreign_keys.retain(|f| f.name != n);
                if before == desc.checks.len() + desc.foreign_keys.len() && !if_exists {
                    return Err(SqlError::new(
                        errcode::UNDEFINED_OBJECT,
                        format!(
                            "constraint \"{n}\" of relation \"{}\" does not exist",
                            desc.name
                        ),
                    ));
                }
            }
            ast::AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => {
                let (old, new) = (ident(old_column_name), ident(new_column_name));
                if desc.column_by_name(&new).is_some() {
                    return Err(SqlError::new(
                        errcode::DUPLICATE_COLUMN,
                        format!(
                            "column \"{new}\" of relation \"{}\" already exists",
                            desc.name
                        ),
                    ));
                }
                let pos = desc
                    .column_pos_by_name(&old)
                    .ok_or_else(|| SqlError::undefined_column(&old))?;
                desc.columns[pos].name = new;
            }
            ast::AlterTableOperation::RenameTable { table_name } => {
                rename_table(ctx, &txn, &mut desc, table_name).await?
            }
            other => {
                let text: String = other.to_string().chars().take(40).collect();
                return Err(SqlError::unimplemented(format!("ALTER TABLE {text}")));
            }
        }
    }
    let mut d = Descriptor::Table(desc);
    ctx.server.catalog.write(&txn, &mut d).await?;
    schema_changed(ctx).await?;
    Ok(StatementResult::tag("ALTER TABLE"))
}

/// `ALTER TABLE ... ADD COLUMN`: the column (not a primary key), its CHECK and UNIQUE
/// constraints, its default written into every row and the indexes on it backfilled. A
/// column that exists already is skipped with IF NOT EXISTS, an error otherwise.
async fn add_column(
    ctx: &StmtCtx<'_>,
    env: &super::compile::PlanEnv,
    desc: &mut TableDesc,
    column_def: &ast::ColumnDef,
    if_not_exists: bool,
) -> Result<()> {
    check_table_width(desc.columns.len() + 1)?;
    let mut planner = Planner::new(env);
    let (col, extras) = column_from_def(ctx, &mut planner, column_def, desc.next_column_id).await?;
    if desc.column_by_name(&col.name).is_some() {
        if if_not_exists {
            return Ok(());
        }
        return Err(SqlError::new(
            errcode::DUPLICATE_COLUMN,
            format!(
                "column \"{}\" of relation \"{}\" already exists",
                col.name, desc.name
            ),
        ));
    }
    if extras.primary {
        return Err(SqlError::unimplemented("adding a PRIMARY KEY column"));
    }
    desc.next_column_id += 1;
    desc.columns.push(col.clone());
    if let Some((cname, check)) = extras.check {
        desc.checks.push(CheckDesc {
            name: cname.unwrap_or_else(|| format!("check_{}", col.name)),
            expr: check,
        });
    }
    if let Some(cname) = extras.unique {
        let name =
            cname.unwrap_or_else(|| index_name(&desc.name, std::slice::from_ref(&col.name), "key"));
        push_index(desc, name, true, vec![col.id], vec![false], Vec::new());
    }
    super::dml::backfill_column(ctx, desc, &col).await?;
    for idx in desc.indexes.clone() {
        if idx.columns.contains(&col.id) {
            backfill_index(ctx, desc, &idx).await?;
        }
    }
    Ok(())
}

/// `ALTER TABLE ... DROP COLUMN`: each column (not one of the primary key; a missing one is
/// skipped with IF EXISTS) goes with the indexes that contain it (their entries deleted), the
/// checks that mention it and the foreign keys over it.
async fn drop_columns(
    txn: &kv::Txn,
    desc: &mut TableDesc,
    column_names: &[ast::Ident],
    if_exists: bool,
) -> Result<()> {
    for cn in column_names {
        let name = ident(cn);
        let Some(col) = desc.column_by_name(&name).cloned() else {
            if if_exists {
                continue;
            }
            return Err(SqlError::undefined_column(&name));
        };
        if desc.primary_index.columns.contains(&col.id) {
            return Err(SqlError::new(
                errcode::INVALID_COLUMN_REFERENCE,
                format!("column \"{name}\" is referenced by the primary key"),
            ));
        }
        for idx in desc.indexes.clone() {
            if idx.columns.contains(&col.id) || idx.stored.contains(&col.id) {
                let span = base::Span::prefix(&encoding::index_prefix(desc, &idx).0);
                txn.delete_range(&span).await?;
                desc.indexes.retain(|i| i.id != idx.id);
            }
        }
        desc.columns.retain(|c| c.id != col.id);
        desc.checks.retain(|c| !c.expr.contains(&name));
        desc.foreign_keys.retain(|f| !f.columns.contains(&col.id));
    }
    Ok(())
}

/// `ALTER TABLE ... ADD CONSTRAINT`: a CHECK (validated against the rows), a UNIQUE index
/// (backfilled) or a FOREIGN KEY (validated; the referenced table is written with its new
/// inbound reference).
async fn add_constraint(
    ctx: &StmtCtx<'_>,
    txn: &kv::Txn,
    desc: &mut TableDesc,
    constraint: &ast::TableConstraint,
) -> Result<()> {
    match constraint {
        ast::TableConstraint::Check(ch) => {
            let name = ch
                .name
                .as_ref()
                .map(ident)
                .unwrap_or_else(|| format!("check{}", desc.checks.len() + 1));
            let check = CheckDesc {
                name,
                expr: ch.expr.to_string(),
            };
            super::dml::validate_check(ctx, desc, &check).await?;
            desc.checks.push(check);
        }
        ast::TableConstraint::Unique(u) => {
            let (ids, d, names) = index_columns(desc, &u.columns)?;
            let name = u
                .name
                .as_ref()
                .map(ident)
                .unwrap_or_else(|| index_name(&desc.name, &names, "key"));
            let idx = push_index(desc, name, true, ids, d, Vec::new());
            backfill_index(ctx, desc, &idx).await?;
        }
        ast::TableConstraint::ForeignKey(fk) => {
            let mut referenced = Vec::new();
            add_foreign_key(ctx, desc, &mut referenced, fk_spec(fk)).await?;
            if let Some(fk) = desc.foreign_keys.last().cloned() {
                super::dml::validate_foreign_key(ctx, desc, &fk).await?;
            }
            for parent in referenced {
                let mut d = Descriptor::Table(parent);
                ctx.server.catalog.write(txn, &mut d).await?;
            }
        }
        other => return Err(SqlError::unimplemented(format!("ADD CONSTRAINT {other}"))),
    }
    Ok(())
}

/// `ALTER TABLE ... RENAME TO`: the table's name entry moves to the new name, which must be
/// free in its schema.
async fn rename_table(
    ctx: &StmtCtx<'_>,
    txn: &kv::Txn,
    desc: &mut TableDesc,
    table_name: &ast::RenameTableNameKind,
) -> Result<()> {
    let new = match table_name {
        ast::RenameTableNameKind::As(n) | ast::RenameTableNameKind::To(n) => {
            object_parts(n).last().cloned().unwrap_or_default()
        }
    };
    if ctx
        .server
        .catalog
        .lookup(&ctx.reader, desc.parent_id, desc.schema_id, &new, true)
        .await?
        .is_some()
    {
        return Err(already_exists("relation", &new));
    }
    ctx.server
        .catalog
        .remove_name(txn, desc.parent_id, desc.schema_id, &desc.name)
        .await?;
    ctx.server
        .catalog
        .write_name(txn, desc.parent_id, desc.schema_id, &new, desc.id)
        .await?;
    desc.name = new;
    Ok(())
}

/// `ALTER TABLE t SPLIT AT VALUES (...)[, (...)]` (or a SELECT): splits the table's primary
/// index at each row, a prefix of the primary key. Like CockroachDB's, the split is not part
/// of the transaction (it happens at once) and answers one row per split point: the key, its
/// pretty form, and `split_enforced_until` (NULL: Sextant never merges ranges back).
pub async fn split_at(
    ctx: &mut StmtCtx<'_>,
    s: &crate::parser::SplitAt,
) -> Result<StatementResult> {
    use crate::parser::SplitTarget;
    let name = match &s.target {
        SplitTarget::Table(name) => name,
        SplitTarget::Index(_) => return Err(SqlError::unimplemented("ALTER INDEX ... SPLIT AT")),
    };
    if s.expiration.is_some() {
        return Err(SqlError::unimplemented(
            "SPLIT AT ... WITH EXPIRATION (Sextant does not merge ranges)",
        ));
    }
    let parts: Vec<String> = name.0.iter().map(|n| n.as_str().to_string()).collect();
    let Some(t) = ctx.find_table(&parts).await? else {
        return Err(SqlError::undefined_table(&parts.join(".")));
    };
    let (_, rows) = Box::pin(ctx.query(&s.rows)).await?;
    let pk = &t.primary_index.columns;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if row.len() > pk.len() {
            return Err(SqlError::new(
                errcode::SYNTAX_ERROR,
                "too many columns in SPLIT AT data",
            ));
        }
        let mut values = Vec::with_capacity(row.len());
        for (d, id) in row.into_iter().zip(pk) {
            let col = t
                .column(*id)
                .ok_or_else(|| SqlError::internal("primary key column missing"))?;
            if d.is_null() {
                return Err(SqlError::new(
                    errcode::INVALID_PARAMETER_VALUE,
                    format!("SPLIT AT data for column \"{}\" is NULL", col.name),
                ));
            }
            values.push(crate::types::cast(d, &col.ty)?);
        }
        let key = crate::encoding::primary_key_from_values(&t, &values)?;
        ctx.server.node.admin_split(&key).await?;
        let pretty: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        out.push(vec![
            Datum::Bytes(key.0.clone()),
            Datum::String(format!("/{}", pretty.join("/"))),
            Datum::Null,
        ]);
    }
    Ok(StatementResult::rows(split_at_columns(), out))
}

/// The result columns of `SPLIT AT`, as CockroachDB's.
pub fn split_at_columns() -> Vec<Column> {
    vec![
        Column::new("key", Type::Bytes),
        Column::new("pretty", Type::String),
        Column::new("split_enforced_until", Type::Timestamp),
    ]
}
