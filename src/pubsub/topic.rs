//! One topic's subscribers: a dense vector for fast fan-out plus an index for O(1)
//! removal (swap-remove, fixing the moved subscriber's index).

use super::Subscriber;
use std::collections::HashMap;

pub struct Topic<S> {
    subscribers: Vec<S>,
    index: HashMap<usize, usize>,
}

impl<S> Default for Topic<S> {
    fn default() -> Self {
        Topic {
            subscribers: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<S: Subscriber> Topic<S> {
    pub fn len(&self) -> usize {
        self.subscribers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subscribers.is_empty()
    }

    /// False if a subscriber with the same key is already there.
    pub fn insert(&mut self, sub: S) -> bool {
        let key = sub.key();
        if self.index.contains_key(&key) {
            return false;
        }
        self.index.insert(key, self.subscribers.len());
        self.subscribers.push(sub);
        true
    }

    pub fn remove(&mut self, key: usize) -> bool {
        let Some(at) = self.index.remove(&key) else {
            return false;
        };
        self.subscribers.swap_remove(at);
        if let Some(moved) = self.subscribers.get(at) {
            self.index.insert(moved.key(), at);
        }
        true
    }

    pub fn iter(&self) -> std::slice::Iter<'_, S> {
        self.subscribers.iter()
    }
}
