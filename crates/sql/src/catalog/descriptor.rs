//! Descriptors: the persisted definitions of databases, schemas, tables and enum types.
//!
//! A descriptor is stored as JSON at `system_key("desc/<id>")`, and found by name through a
//! namespace entry `system_key("ns/<parent id>/<schema id>/<name>")` holding the id (databases
//! have parent 0 and schema 0; schemas have schema 0). Every change bumps the descriptor's
//! `version`. BACKUP and CHANGEFEED read these same records, so the field names are part of the
//! format.

use serde::{Deserialize, Serialize};

use crate::types::Type;

/// A column id, unique within its table and never reused.
pub type ColumnId = u32;
/// An index id, unique within its table; the primary index is 1.
pub type IndexId = u32;

/// The id of the primary index of every table.
pub const PRIMARY_INDEX_ID: IndexId = 1;

/// How much failure a multi-region database survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SurvivalGoal {
    /// Survives the loss of one availability zone (the default).
    #[default]
    Zone,
    /// Survives the loss of a whole region.
    Region,
}

/// A database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseDesc {
    /// Descriptor id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Bumped by every change.
    pub version: u64,
    /// Id of its `public` schema.
    pub public_schema_id: u64,
    /// The primary region of a multi-region database.
    pub primary_region: Option<String>,
    /// Every region of the database (primary included), sorted.
    pub regions: Vec<String>,
    /// The survival goal of a multi-region database.
    pub survival_goal: SurvivalGoal,
    /// The `crdb_internal_region` enum type of a multi-region database.
    pub region_enum_id: Option<u64>,
}

impl DatabaseDesc {
    /// True when the database has regions.
    pub fn is_multi_region(&self) -> bool {
        self.primary_region.is_some()
    }
}

/// A schema inside a database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaDesc {
    /// Descriptor id.
    pub id: u64,
    /// The database.
    pub parent_id: u64,
    /// Name.
    pub name: String,
    /// Bumped by every change.
    pub version: u64,
}

/// A column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDesc {
    /// Column id (the tag of its value in the row encoding).
    pub id: ColumnId,
    /// Name.
    pub name: String,
    /// Type.
    pub ty: Type,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// The DEFAULT expression's SQL text.
    pub default: Option<String>,
    /// `NOT VISIBLE`: left out of `SELECT *`.
    pub hidden: bool,
    /// The expression of a stored computed column.
    pub computed: Option<String>,
}

/// An index: the primary index (which stores every column) or a secondary one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDesc {
    /// Index id.
    pub id: IndexId,
    /// Name (`t_pkey`, `t_a_idx`, ...).
    pub name: String,
    /// Whether keys are unique.
    pub unique: bool,
    /// Key columns in order.
    pub columns: Vec<ColumnId>,
    /// Per key column: true when descending.
    pub descending: Vec<bool>,
    /// `STORING` columns (secondary indexes).
    pub stored: Vec<ColumnId>,
}

/// A CHECK constraint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDesc {
    /// Constraint name.
    pub name: String,
    /// The boolean expression, SQL text.
    pub expr: String,
}

/// What happens to referencing rows when a referenced row goes away or changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FkAction {
    /// Refuse (the default; NO ACTION behaves the same here).
    #[default]
    Restrict,
    /// Delete or update the referencing rows too.
    Cascade,
    /// Set the referencing columns to NULL.
    SetNull,
    /// Set the referencing columns to their defaults.
    SetDefault,
}

/// A FOREIGN KEY constraint on the referencing table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKeyDesc {
    /// Constraint name.
    pub name: String,
    /// Referencing columns.
    pub columns: Vec<ColumnId>,
    /// The referenced table.
    pub ref_table: u64,
    /// The referenced columns (a unique key of that table).
    pub ref_columns: Vec<ColumnId>,
    /// ON DELETE.
    pub on_delete: FkAction,
    /// ON UPDATE.
    pub on_update: FkAction,
}

/// A table's locality in a multi-region database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableLocality {
    /// Homed in one region (`None`: the primary region).
    RegionalByTable(Option<String>),
    /// Each row homed in the region its `crdb_region` column names.
    RegionalByRow {
        /// The region column.
        column: String,
    },
    /// Replicated for fast reads everywhere.
    Global,
}

/// A table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDesc {
    /// Descriptor id; its keys start with `/Table/<id>`.
    pub id: u64,
    /// The database.
    pub parent_id: u64,
    /// The schema.
    pub schema_id: u64,
    /// Name.
    pub name: String,
    /// Bumped by every change.
    pub version: u64,
    /// Columns in definition order.
    pub columns: Vec<ColumnDesc>,
    /// The next column id to hand out.
    pub next_column_id: ColumnId,
    /// The primary index.
    pub primary_index: IndexDesc,
    /// Secondary indexes.
    pub indexes: Vec<IndexDesc>,
    /// The next index id to hand out.
    pub next_index_id: IndexId,
    /// CHECK constraints.
    pub checks: Vec<CheckDesc>,
    /// FOREIGN KEY constraints (outbound).
    pub foreign_keys: Vec<ForeignKeyDesc>,
    /// Locality in a multi-region database.
    pub locality: Option<TableLocality>,
    /// Foreign keys of other tables that reference this one: (table id, constraint name).
    #[serde(default)]
    pub inbound_fks: Vec<(u64, String)>,
}

impl TableDesc {
    /// The column with this id.
    pub fn column(&self, id: ColumnId) -> Option<&ColumnDesc> {
        self.columns.iter().find(|c| c.id == id)
    }

    /// The position of the column with this id in `columns`.
    pub fn column_pos(&self, id: ColumnId) -> Option<usize> {
        self.columns.iter().position(|c| c.id == id)
    }

    /// The column with this name.
    pub fn column_by_name(&self, name: &str) -> Option<&ColumnDesc> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The position of the column with this name.
    pub fn column_pos_by_name(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The primary index and the secondary indexes.
    pub fn all_indexes(&self) -> impl Iterator<Item = &IndexDesc> {
        std::iter::once(&self.primary_index).chain(self.indexes.iter())
    }

    /// The index with this id.
    pub fn index(&self, id: IndexId) -> Option<&IndexDesc> {
        self.all_indexes().find(|i| i.id == id)
    }

    /// The index with this name.
    pub fn index_by_name(&self, name: &str) -> Option<&IndexDesc> {
        self.all_indexes().find(|i| i.name == name)
    }

    /// Positions (in `columns`) of the primary key columns.
    pub fn pk_positions(&self) -> Vec<usize> {
        self.primary_index
            .columns
            .iter()
            .filter_map(|id| self.column_pos(*id))
            .collect()
    }

    /// True when the table is REGIONAL BY ROW.
    pub fn is_regional_by_row(&self) -> bool {
        matches!(self.locality, Some(TableLocality::RegionalByRow { .. }))
    }
}

/// The kind of a user-defined type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TypeKind {
    /// An enum with these labels in order.
    Enum(Vec<String>),
    /// The multi-region enum of a database (`crdb_internal_region`): the labels are its regions.
    RegionEnum(Vec<String>),
}

/// A user-defined type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeDesc {
    /// Descriptor id.
    pub id: u64,
    /// The database.
    pub parent_id: u64,
    /// The schema.
    pub schema_id: u64,
    /// Name.
    pub name: String,
    /// Bumped by every change.
    pub version: u64,
    /// What it is.
    pub kind: TypeKind,
}

impl TypeDesc {
    /// The enum labels.
    pub fn labels(&self) -> &[String] {
        match &self.kind {
            TypeKind::Enum(l) | TypeKind::RegionEnum(l) => l,
        }
    }
}

/// Any descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Descriptor {
    /// A database.
    Database(DatabaseDesc),
    /// A schema.
    Schema(SchemaDesc),
    /// A table.
    Table(TableDesc),
    /// A type.
    Type(TypeDesc),
}

impl Descriptor {
    /// The id.
    pub fn id(&self) -> u64 {
        match self {
            Descriptor::Database(d) => d.id,
            Descriptor::Schema(d) => d.id,
            Descriptor::Table(d) => d.id,
            Descriptor::Type(d) => d.id,
        }
    }

    /// The version.
    pub fn version(&self) -> u64 {
        match self {
            Descriptor::Database(d) => d.version,
            Descriptor::Schema(d) => d.version,
            Descriptor::Table(d) => d.version,
            Descriptor::Type(d) => d.version,
        }
    }

    /// Bumps the version.
    pub fn bump_version(&mut self) {
        match self {
            Descriptor::Database(d) => d.version += 1,
            Descriptor::Schema(d) => d.version += 1,
            Descriptor::Table(d) => d.version += 1,
            Descriptor::Type(d) => d.version += 1,
        }
    }
}
