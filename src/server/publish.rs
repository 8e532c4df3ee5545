//! Pub/sub for WebSocket connections: subscriptions, and publishes that encode the frame
//! once and queue the same `Bytes` on every subscriber (no per-subscriber copy), leaving
//! the writes to the publisher's end-of-turn flush (one write per subscriber per turn,
//! whatever the number of publishes).

use super::app::AppCore;
use super::conn::{ConnShared, SendStatus, SharedCompressed, SharedFrame};
use crate::protocol::frame::{encode_frame, OpCode};
use crate::pubsub::{Change, Engine, Subscriber};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, Weak};

pub type PubSub = Engine<Arc<ConnShared>>;

impl Subscriber for Arc<ConnShared> {
    fn key(&self) -> usize {
        Arc::as_ptr(self) as usize
    }
}

/// Engines shared by name across the Apps of one process (e.g. in several worker threads).
static SHARED: OnceLock<Mutex<HashMap<String, Weak<PubSub>>>> = OnceLock::new();

/// The engine for an App: its own, or the process-wide one called `name`.
pub fn engine(name: Option<&str>) -> Arc<PubSub> {
    let Some(name) = name else {
        return Arc::new(PubSub::default());
    };
    let mut shared = SHARED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(engine) = shared.get(name).and_then(Weak::upgrade) {
        return engine;
    }
    let engine = Arc::new(PubSub::default());
    shared.insert(name.to_string(), Arc::downgrade(&engine));
    shared.retain(|_, e| e.strong_count() > 0);
    engine
}

/// Delivery counts of one publish.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishStats {
    /// Subscribers the message was queued for with nothing else waiting.
    pub sent: u32,
    /// Subscribers that already had data waiting (the message is buffered behind it).
    pub buffered: u32,
    /// Subscribers past their backpressure limit: the message was dropped for them.
    pub dropped: u32,
}

impl PublishStats {
    pub fn reached(&self) -> u32 {
        self.sent + self.buffered
    }
}

#[allow(clippy::box_collection)] // see ConnShared::topics
fn topics_of(conn: &ConnShared) -> std::sync::MutexGuard<'_, Option<Box<HashSet<Arc<str>>>>> {
    conn.topics.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn subscribe(app: &AppCore, conn: &Arc<ConnShared>, topic: &str) -> Option<Change> {
    let (name, change) = app.pubsub.subscribe(topic, conn.clone())?;
    topics_of(conn)
        .get_or_insert_with(Default::default)
        .insert(name);
    Some(change)
}

pub fn unsubscribe(app: &AppCore, conn: &Arc<ConnShared>, topic: &str) -> Option<Change> {
    let change = app.pubsub.unsubscribe(topic, conn.key())?;
    let mut topics = topics_of(conn);
    if let Some(set) = topics.as_mut() {
        set.remove(topic);
        if set.is_empty() {
            *topics = None;
        }
    }
    Some(change)
}

pub fn is_subscribed(conn: &ConnShared, topic: &str) -> bool {
    topics_of(conn).as_ref().is_some_and(|s| s.contains(topic))
}

pub fn topics(conn: &ConnShared) -> Vec<Arc<str>> {
    topics_of(conn)
        .as_ref()
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default()
}

/// Leaves every topic (a closing socket); returns each topic with its change.
pub fn leave_all(app: &AppCore, conn: &Arc<ConnShared>) -> Vec<(Arc<str>, Change)> {
    let Some(set) = topics_of(conn).take() else {
        return Vec::new();
    };
    set.into_iter()
        .filter_map(|t| {
            let change = app.pubsub.unsubscribe(&t, conn.key())?;
            Some((t, change))
        })
        .collect()
}

/// Publishes to every subscriber of `topic` but `except`. The frame is encoded once.
pub fn publish(
    app: &AppCore,
    topic: &str,
    binary: bool,
    payload: &[u8],
    compress: bool,
    except: Option<&Arc<ConnShared>>,
) -> PublishStats {
    let opcode = if binary { OpCode::Binary } else { OpCode::Text };
    let mut frame = Vec::with_capacity(payload.len() + 10);
    encode_frame(&mut frame, opcode, true, payload, None);
    let plain = Bytes::from(frame);
    // Compressed once, by the first subscriber that agreed permessage-deflate.
    let compressed = SharedCompressed {
        opcode,
        payload,
        frame: Default::default(),
    };
    let frame = SharedFrame {
        plain: &plain,
        compressed: compress.then_some(&compressed),
    };
    let mut stats = PublishStats::default();
    let mut dirty = app.dirty.lock().unwrap_or_else(|e| e.into_inner());
    app.pubsub.publish(topic, |conn| {
        if except.is_some_and(|e| Arc::ptr_eq(e, conn)) {
            return;
        }
        match conn.queue_shared(&frame, payload, binary) {
            SendStatus::Sent => stats.sent += 1,
            SendStatus::Buffered => stats.buffered += 1,
            SendStatus::Dropped => {
                stats.dropped += 1;
                return;
            }
            SendStatus::Closed => return,
        }
        if conn.buffered_amount() >= conn.flush_threshold() {
            conn.flush_now();
        } else if conn.mark_dirty() {
            dirty.push(conn.clone());
        }
    });
    stats
}

/// Writes the connections that publishes of this App's JS thread touched.
pub fn flush_dirty(app: &AppCore) {
    let dirty = std::mem::take(&mut *app.dirty.lock().unwrap_or_else(|e| e.into_inner()));
    for conn in dirty {
        conn.flush_now();
    }
}
