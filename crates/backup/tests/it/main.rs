//! Integration tests of BACKUP and RESTORE on in-process clusters.

#![recursion_limit = "256"]

mod backup_restore;
mod cluster;
mod cluster_backup;
mod fault;
mod moto;
mod movr;
mod placement;
