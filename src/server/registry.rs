//! Slots of open connections, indexed by the id JS knows them by.
//!
//! A slot is freed only when JS releases it after handling the connection's CLOSE event,
//! so an id never refers to two connections during the lifetime of its JS object and
//! stale sends from JS can never reach a newer connection.

use super::buffered::MAX_CONNECTIONS;
use super::conn::ConnShared;
use std::sync::Arc;

#[derive(Default)]
pub struct Registry {
    slots: Vec<Option<Arc<ConnShared>>>,
    free: Vec<u32>,
}

impl Registry {
    /// Stores the connection made by `make` for a free id; None when the App is full.
    pub fn insert_with(
        &mut self,
        make: impl FnOnce(u32) -> Arc<ConnShared>,
    ) -> Option<Arc<ConnShared>> {
        let id = match self.free.pop() {
            Some(id) => id,
            None if self.slots.len() < MAX_CONNECTIONS => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
            None => return None,
        };
        let conn = make(id);
        self.slots[id as usize] = Some(conn.clone());
        Some(conn)
    }

    pub fn get(&self, id: u32) -> Option<&Arc<ConnShared>> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    /// Every connection held (open, or closed and not yet released by JS).
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ConnShared>> {
        self.slots.iter().filter_map(Option::as_ref)
    }

    pub fn release(&mut self, id: u32) {
        if let Some(slot) = self.slots.get_mut(id as usize) {
            if slot.take().is_some() {
                self.free.push(id);
            }
        }
    }
}
