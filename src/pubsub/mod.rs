//! The pub/sub engine: topics to subscribers, sharded by topic so that publishes to
//! different topics never contend. Generic over the subscriber type: no sockets, no napi.
//!
//! A publish visits a topic's subscribers while holding that topic's shard lock, so the
//! messages of one topic reach every subscriber in publish order even when several
//! threads publish at once.

mod topic;

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
pub use topic::Topic;

/// Longest topic name accepted, in bytes.
pub const MAX_TOPIC_LEN: usize = 64 * 1024;
const SHARDS: usize = 16;

/// What the engine needs of a subscriber: a stable identity while subscribed.
pub trait Subscriber: Clone {
    fn key(&self) -> usize;
}

type Shard<S> = Mutex<HashMap<Arc<str>, Topic<S>>>;

pub struct Engine<S> {
    shards: Box<[Shard<S>]>,
}

/// A subscription count change: the topic's count before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub old_count: usize,
    pub new_count: usize,
}

impl<S: Subscriber> Default for Engine<S> {
    fn default() -> Self {
        Engine {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl<S: Subscriber> Engine<S> {
    fn shard(&self, topic: &str) -> MutexGuard<'_, HashMap<Arc<str>, Topic<S>>> {
        let mut h = DefaultHasher::new();
        topic.hash(&mut h);
        self.shards[h.finish() as usize % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `sub` to `topic`; None if it was already subscribed. Returns the shared topic
    /// name so the subscriber can remember it without another allocation.
    pub fn subscribe(&self, topic: &str, sub: S) -> Option<(Arc<str>, Change)> {
        let mut shard = self.shard(topic);
        let (name, t) = match shard.get_key_value(topic) {
            Some((name, _)) => {
                let name = name.clone();
                let t = shard.get_mut(topic).expect("topic just found");
                (name, t)
            }
            None => {
                let name: Arc<str> = Arc::from(topic);
                (name.clone(), shard.entry(name).or_default())
            }
        };
        let old_count = t.len();
        t.insert(sub).then_some((
            name,
            Change {
                old_count,
                new_count: old_count + 1,
            },
        ))
    }

    /// Removes the subscriber with `key`; None if it was not subscribed. Empty topics are
    /// freed.
    pub fn unsubscribe(&self, topic: &str, key: usize) -> Option<Change> {
        let mut shard = self.shard(topic);
        let t = shard.get_mut(topic)?;
        let old_count = t.len();
        if !t.remove(key) {
            return None;
        }
        if t.is_empty() {
            shard.remove(topic);
        }
        Some(Change {
            old_count,
            new_count: old_count - 1,
        })
    }

    pub fn count(&self, topic: &str) -> usize {
        self.shard(topic).get(topic).map_or(0, Topic::len)
    }

    /// Calls `deliver` for every subscriber of `topic`, in subscription order, under the
    /// topic's lock. Returns the number of subscribers visited.
    pub fn publish(&self, topic: &str, mut deliver: impl FnMut(&S)) -> usize {
        let shard = self.shard(topic);
        let Some(t) = shard.get(topic) else {
            return 0;
        };
        t.iter().for_each(&mut deliver);
        t.len()
    }

    /// A snapshot of the subscribers of `topic`.
    pub fn subscribers(&self, topic: &str) -> Vec<S> {
        self.shard(topic)
            .get(topic)
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every topic with its subscriber count.
    pub fn topics(&self) -> Vec<(Arc<str>, usize)> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            all.extend(shard.iter().map(|(name, t)| (name.clone(), t.len())));
        }
        all
    }
}

#[cfg(test)]
mod tests;
