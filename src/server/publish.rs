//! Pub/sub for WebSocket connections: subscriptions, and publishes that encode the frame
//! once and queue the same `Bytes` on every subscriber (no per-subscriber copy), leaving
//! the writes to the publisher's end-of-turn flush (one write per subscriber per turn,
//! whatever the number of publishes).
//!
//! As in uWS.js, a publish from JS is only recorded: the turn's publishes reach their
//! subscribers together, before anything else this App writes (a send, a close, the
//! turn's flush) and before any subscription changes, so the order on every socket is
//! the order of the calls. A run of publishes to one topic is queued on each subscriber
//! as one buffer (one lock and one queue entry per subscriber per run, where each
//! publish took its own: 18-39% less CPU per delivery, benchmark/RESULTS.md).

use super::app::AppCore;
use super::conn::{ConnShared, SendStatus, SharedCompressed, SharedFrame};
use super::lock;
use crate::protocol::frame::{encode_frame, OpCode};
use crate::pubsub::{Change, Engine, Subscriber};
use bytes::Bytes;
use std::collections::HashMap;
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

pub fn subscribe(app: &AppCore, conn: &Arc<ConnShared>, topic: &str) -> Option<Change> {
    // A publish made before this call does not reach the new subscriber.
    deliver_recorded(app);
    let (name, change) = app.pubsub.subscribe(topic, conn.clone())?;
    conn.add_topic(name);
    Some(change)
}

pub fn unsubscribe(app: &AppCore, conn: &Arc<ConnShared>, topic: &str) -> Option<Change> {
    // A publish made before this call still reaches the leaving subscriber.
    deliver_recorded(app);
    let change = app.pubsub.unsubscribe(topic, conn.key())?;
    conn.remove_topic(topic);
    Some(change)
}

/// Leaves every topic (a closing socket); returns each topic with its change.
pub fn leave_all(app: &AppCore, conn: &Arc<ConnShared>) -> Vec<(Arc<str>, Change)> {
    deliver_recorded(app);
    conn.take_topics()
        .into_iter()
        .filter_map(|t| {
            let change = app.pubsub.unsubscribe(&t, conn.key())?;
            Some((t, change))
        })
        .collect()
}

/// A publish recorded for delivery with the rest of its turn's (see the module's doc).
pub struct Recorded {
    topic: Box<str>,
    /// The encoded frame; its payload starts at `header`.
    frame: Bytes,
    header: u8,
    binary: bool,
    except: Option<Arc<ConnShared>>,
}

impl Recorded {
    fn payload(&self) -> &[u8] {
        &self.frame[self.header as usize..]
    }

    fn same_run(&self, other: &Recorded) -> bool {
        self.topic == other.topic
            && self.except.as_ref().map(Arc::as_ptr) == other.except.as_ref().map(Arc::as_ptr)
    }
}

/// Publishes to every subscriber of `topic` but `except`. The frame is encoded once.
///
/// With `stats` (`publishWithStats`) or `compress`, the message is queued on its
/// subscribers now and the stats say what happened to it. Otherwise it is recorded,
/// delivered with the turn's other publishes, and the stats' `sent` is the number of
/// subscribers it is for (uWS.js's answer: the topic has someone else).
pub fn publish(
    app: &AppCore,
    topic: &str,
    binary: bool,
    payload: &[u8],
    compress: bool,
    except: Option<&Arc<ConnShared>>,
    stats: bool,
) -> PublishStats {
    let opcode = if binary { OpCode::Binary } else { OpCode::Text };
    let encode = || {
        let mut frame = Vec::with_capacity(payload.len() + 10);
        encode_frame(&mut frame, opcode, true, payload, None);
        let header = (frame.len() - payload.len()) as u8;
        (Bytes::from(frame), header)
    };
    if stats || compress {
        deliver_recorded(app);
        let (plain, _) = encode();
        return publish_now(app, topic, opcode, &plain, payload, compress, except);
    }
    let mut subscribers = app.pubsub.count(topic) as u32;
    if except.is_some_and(|e| e.has_topic(topic)) {
        subscribers = subscribers.saturating_sub(1);
    }
    // Encoded only for someone: a publish to a topic nobody else is in costs no copy.
    if subscribers > 0 {
        let (frame, header) = encode();
        lock(&app.recorded).push(Recorded {
            topic: topic.into(),
            frame,
            header,
            binary,
            except: except.cloned(),
        });
    }
    PublishStats {
        sent: subscribers,
        ..PublishStats::default()
    }
}

/// Queues one message on its subscribers now (see `publish`).
fn publish_now(
    app: &AppCore,
    topic: &str,
    opcode: OpCode,
    plain: &Bytes,
    payload: &[u8],
    compress: bool,
    except: Option<&Arc<ConnShared>>,
) -> PublishStats {
    // Compressed once, by the first subscriber that agreed permessage-deflate.
    let compressed = SharedCompressed {
        opcode,
        payload,
        frame: Default::default(),
    };
    let frame = SharedFrame {
        plain,
        compressed: compress.then_some(&compressed),
    };
    let binary = opcode == OpCode::Binary;
    let mut stats = PublishStats::default();
    let mut dirty = lock(&app.dirty);
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
        mark(conn, &mut dirty);
    });
    stats
}

/// After a frame was queued on `conn`: written at once past the flush threshold,
/// otherwise at the turn's flush.
fn mark(conn: &Arc<ConnShared>, dirty: &mut Vec<Arc<ConnShared>>) {
    if conn.buffered_amount() >= conn.flush_threshold() {
        conn.flush_now();
    } else if conn.mark_dirty() {
        dirty.push(conn.clone());
    }
}

/// Queues the recorded publishes on their subscribers, in order: each run of publishes
/// to one topic (with the same excepted sender) as one buffer per subscriber, or message
/// by message for a subscriber that the run would take past its backpressure limit (so
/// drops and `dropped` events are per message, as for a publish queued at once).
pub fn deliver_recorded(app: &AppCore) {
    let recorded = {
        let mut r = lock(&app.recorded);
        if r.is_empty() {
            return;
        }
        std::mem::take(&mut *r)
    };
    let mut dirty = lock(&app.dirty);
    for run in recorded.chunk_by(Recorded::same_run) {
        let first = &run[0];
        let combined = match run {
            [one] => one.frame.clone(),
            _ => {
                let mut all = Vec::with_capacity(run.iter().map(|r| r.frame.len()).sum());
                for r in run {
                    all.extend_from_slice(&r.frame);
                }
                Bytes::from(all)
            }
        };
        app.pubsub.publish(&first.topic, |conn| {
            if first.except.as_ref().is_some_and(|e| Arc::ptr_eq(e, conn)) {
                return;
            }
            let queued = match conn.queue_shared_run(&combined) {
                Some(status) => status != SendStatus::Closed,
                None => {
                    let mut any = false;
                    for r in run {
                        let frame = SharedFrame {
                            plain: &r.frame,
                            compressed: None,
                        };
                        let status = conn.queue_shared(&frame, r.payload(), r.binary);
                        any |= matches!(status, SendStatus::Sent | SendStatus::Buffered);
                    }
                    any
                }
            };
            if queued {
                mark(conn, &mut dirty);
            }
        });
    }
}

/// Writes the connections that publishes of this App's JS thread touched. Called at the
/// end of the outbox's dispatch, which delivered the recorded publishes first.
pub fn flush_dirty(app: &AppCore) {
    let dirty = std::mem::take(&mut *lock(&app.dirty));
    for conn in dirty {
        conn.flush_now();
    }
}
