//! Applies the packed buffer of sends that JS flushes once per turn.
//!
//! Record layout (little endian), mirrored in `lib/outbox.js`:
//! `u32 id | u8 op | u8 flags | u16 code | u32 len | payload[len]`
//! `op` is a WebSocket opcode for frames (0, 1, 2, 9, 10) or one of [`op`]'s commands.
//! Consecutive frames to one connection are encoded together and written with one call.

use super::app::AppCore;
use super::conn::{command, release, ConnShared};
use super::record::records;
use super::registry::Registry;
use crate::protocol::frame::{
    encode_close_payload, encode_frame, encode_header, OpCode, MAX_HEADER_LEN,
};

/// Payloads at least this large are written from the flushed buffer itself (vectored,
/// after their encoded header) instead of being copied into the frame encoding first.
const GATHER: usize = 8 * 1024;
/// Gathered payloads per write call, to bound the I/O vector.
const MAX_GATHERED: usize = 32;

pub mod op {
    /// `ws.end(code, reason)`: send a close frame, then close after the peer answers.
    pub const END: u8 = 0x80;
    /// `ws.close()`: drop the connection without a close frame.
    pub const CLOSE: u8 = 0x81;
    /// JS handled the CLOSE event: the id may be reused.
    pub const RELEASE: u8 = 0x82;
}

/// `flags` bit: more fragments of this message follow (the frame has FIN clear).
pub const FLAG_MORE: u8 = 1;
/// `flags` bit: compress this message (`send(..., compress)`) if permessage-deflate was
/// agreed. Only whole messages (no FLAG_MORE, not continuations) are compressed.
pub const FLAG_COMPRESS: u8 = 2;

/// A whole text or binary message the sender asked to compress.
fn wants_compression(opcode: OpCode, flags: u8) -> bool {
    flags & FLAG_COMPRESS != 0
        && flags & FLAG_MORE == 0
        && matches!(opcode, OpCode::Text | OpCode::Binary)
}

pub fn dispatch(app: &AppCore, buf: &[u8]) {
    // Publishes made before these records go out before them.
    super::publish::deliver_recorded(app);
    let mut registry = app.lock_registry();
    let mut scratch = super::lock(&app.scratch);
    let mut w = Pending::default();
    for rec in records(buf) {
        if let Some(opcode) = frame_opcode(rec.op) {
            if wants_compression(opcode, rec.flags) {
                w.write(&registry, &mut scratch);
                if let Some(conn) = registry.get(rec.id) {
                    conn.write_compressed(opcode, rec.payload, &mut scratch);
                }
                scratch.clear();
                continue;
            }
            if w.id != Some(rec.id) || w.gathered.len() >= MAX_GATHERED {
                w.write(&registry, &mut scratch);
                w.id = Some(rec.id);
            }
            if !opcode.is_control() {
                w.fragmenting = Some(rec.flags & FLAG_MORE != 0);
            }
            let fin = rec.flags & FLAG_MORE == 0;
            if rec.payload.len() >= GATHER {
                let mut header = [0u8; MAX_HEADER_LEN];
                let n = encode_header(&mut header, fin, false, opcode, rec.payload.len(), None);
                scratch.extend_from_slice(&header[..n]);
                w.gathered.push((scratch.len(), rec.payload));
            } else {
                encode_frame(&mut scratch, opcode, fin, rec.payload, None);
            }
            continue;
        }
        w.write(&registry, &mut scratch);
        match rec.op {
            op::END => {
                if let Some(conn) = registry.get(rec.id) {
                    let mut payload = [0u8; 125];
                    let n = encode_close_payload(rec.extra, rec.payload, &mut payload);
                    encode_frame(&mut scratch, OpCode::Close, true, &payload[..n], None);
                    conn.write(&scratch, true);
                    scratch.clear();
                    conn.set_command(command::END);
                }
            }
            op::CLOSE => {
                if let Some(conn) = registry.get(rec.id) {
                    conn.close_outbound();
                    conn.set_command(command::ABORT);
                }
            }
            op::RELEASE => {
                let free = registry.get(rec.id).is_some_and(|conn| {
                    let last = conn.done_with_slot(release::JS_RELEASED);
                    if !last {
                        // The task still writes what came before; it frees the slot.
                        conn.notify.notify_one();
                    }
                    last
                });
                if free {
                    registry.release(rec.id);
                }
            }
            _ => {}
        }
    }
    w.write(&registry, &mut scratch);
    drop(registry);
    super::publish::flush_dirty(app);
    // Don't keep a large encoding buffer after a burst.
    if scratch.capacity() > 1 << 20 {
        *scratch = Vec::new();
    }
}

fn frame_opcode(op: u8) -> Option<OpCode> {
    match op {
        0 => Some(OpCode::Continuation),
        1 => Some(OpCode::Text),
        2 => Some(OpCode::Binary),
        9 => Some(OpCode::Ping),
        10 => Some(OpCode::Pong),
        _ => None,
    }
}

/// The frames encoded for one connection and not yet written: `scratch` holds their
/// encoding, except for gathered payloads, which stay in the flushed buffer and belong
/// at the recorded offsets of `scratch`.
#[derive(Default)]
struct Pending<'a> {
    id: Option<u32>,
    /// Whether these frames leave a fragmented message open.
    fragmenting: Option<bool>,
    gathered: Vec<(usize, &'a [u8])>,
}

impl Pending<'_> {
    fn write(&mut self, registry: &Registry<ConnShared>, scratch: &mut Vec<u8>) {
        let Some(id) = self.id.take() else {
            return;
        };
        let fragmenting = self.fragmenting.take();
        if let Some(conn) = registry.get(id) {
            if self.gathered.is_empty() {
                conn.write_fragmenting(scratch, false, fragmenting);
            } else {
                let mut pieces: Vec<&[u8]> = Vec::with_capacity(self.gathered.len() * 2 + 1);
                let mut at = 0;
                for &(offset, payload) in &self.gathered {
                    pieces.push(&scratch[at..offset]);
                    pieces.push(payload);
                    at = offset;
                }
                pieces.push(&scratch[at..]);
                conn.write_pieces(&pieces, fragmenting);
            }
        }
        self.gathered.clear();
        scratch.clear();
    }
}

/// Writes one large frame straight from the caller's buffer: no packing copy in JS and
/// none here (the encoded header and the payload are written with one vectored call;
/// only what the socket does not take is copied, into the queue).
pub fn send_direct(app: &AppCore, id: u32, opcode: u8, flags: u8, payload: &[u8]) {
    let Some(opcode) = frame_opcode(opcode) else {
        return;
    };
    let more = flags & FLAG_MORE != 0;
    super::publish::deliver_recorded(app);
    let registry = app.lock_registry();
    if let Some(conn) = registry.get(id) {
        if wants_compression(opcode, flags) {
            let mut frame = Vec::new();
            conn.write_compressed(opcode, payload, &mut frame);
            return;
        }
        let mut header = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&mut header, !more, false, opcode, payload.len(), None);
        let fragmenting = (!opcode.is_control()).then_some(more);
        conn.write_pieces(&[&header[..n], payload], fragmenting);
    }
}
