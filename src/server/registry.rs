//! Slots of open connections, indexed by the id JS knows them by: the App's WebSocket
//! connections (`Registry<ConnShared>`) and its HTTP connections (`Registry<HttpConn>`).
//!
//! A WebSocket slot is freed only when JS releases it after handling the connection's
//! CLOSE event, so an id never refers to two connections during the lifetime of its JS
//! object and stale sends from JS can never reach a newer connection.

use super::buffered::MAX_CONNECTIONS;
use std::sync::Arc;

pub struct Registry<T> {
    slots: Vec<Option<Arc<T>>>,
    free: Vec<u32>,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Registry<T> {
    /// Stores the connection made by `make` for a free id; None when the App is full.
    pub fn insert_with(&mut self, make: impl FnOnce(u32) -> Arc<T>) -> Option<Arc<T>> {
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

    pub fn get(&self, id: u32) -> Option<&Arc<T>> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    /// Every connection held (open, or closed and not yet released).
    pub fn iter(&self) -> impl Iterator<Item = &Arc<T>> {
        self.slots.iter().filter_map(Option::as_ref)
    }

    /// Frees `id` for a later connection; the connection it held, if any.
    pub fn release(&mut self, id: u32) -> Option<Arc<T>> {
        let conn = self.slots.get_mut(id as usize)?.take()?;
        self.free.push(id);
        Some(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids are reused only once released, and a released id is freed once.
    #[test]
    fn ids_are_reused_only_after_release() {
        let mut r = Registry::<u32>::default();
        let a = r.insert_with(|id| Arc::new(id * 10)).unwrap();
        let b = r.insert_with(|id| Arc::new(id * 10)).unwrap();
        assert_eq!((*a, *b), (0, 10));
        assert_eq!(r.get(1).map(|c| **c), Some(10));
        assert_eq!(r.release(0).map(|c| *c), Some(0));
        assert!(r.release(0).is_none(), "already free");
        assert!(r.get(0).is_none());
        let c = r.insert_with(|id| Arc::new(id * 10 + 1)).unwrap();
        assert_eq!(*c, 1, "id 0 again");
        let d = r.insert_with(|id| Arc::new(id * 10 + 2)).unwrap();
        assert_eq!(*d, 22, "a new id, not a second use of 0");
        assert_eq!(r.iter().count(), 3);
    }
}
