//! A gate that every write of a group passes, closed when the group is destroyed so that no
//! write of a stopping group lands after its keys are deleted.

use std::io;
use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Shared by a group's log store and state machine. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Gate {
    closed: Arc<RwLock<bool>>,
}

impl Gate {
    /// Holds the gate open for one write; fails once it is closed.
    pub(crate) fn enter(&self) -> io::Result<RwLockReadGuard<'_, bool>> {
        let guard = self.closed.read();
        if *guard {
            return Err(io::Error::other("raft group destroyed"));
        }
        Ok(guard)
    }

    /// Closes the gate after the writes in flight; the guard keeps new ones out while the
    /// caller deletes the group's keys.
    pub(crate) fn close(&self) -> RwLockWriteGuard<'_, bool> {
        let mut guard = self.closed.write();
        *guard = true;
        guard
    }
}
