//! Upgrade requests answered by a JS `upgrade(res, req, context)` handler.
//!
//! The connection task registers a pending request, reports it to JS, and waits for the
//! answer (accept with user data, or reject with a response) or for the client to go
//! away. A handler that never answers leaves the request pending, costing one entry,
//! never an abort.

use super::app::AppCore;
use super::events::kind;
use super::stream::Stream;
use crate::protocol::handshake::UpgradeRequest;
use std::collections::HashMap;
use std::net::SocketAddr;
use tokio::sync::oneshot;

pub enum Decision {
    Accept {
        protocol: Option<String>,
        /// The `secWebSocketExtensions` JS passed: the offer to negotiate from.
        extensions: String,
        extra_headers: Vec<(String, String)>,
        key: String,
    },
    Reject {
        status_line: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
}

#[derive(Default)]
pub struct Pending {
    next: u32,
    waiting: HashMap<u32, oneshot::Sender<Decision>>,
}

impl Pending {
    fn insert(&mut self, tx: oneshot::Sender<Decision>) -> u32 {
        loop {
            // Ids start at 1: 0 in an OPEN record means "no upgrade handler".
            self.next = self.next.wrapping_add(1).max(1);
            if !self.waiting.contains_key(&self.next) {
                self.waiting.insert(self.next, tx);
                return self.next;
            }
        }
    }

    /// Drops every waiting request (their connections end without a response).
    pub fn abandon(&mut self) {
        self.waiting.clear();
    }

    /// Hands JS's answer to the waiting connection; false if it is gone.
    pub fn answer(&mut self, id: u32, decision: Decision) -> bool {
        match self.waiting.remove(&id) {
            Some(tx) => tx.send(decision).is_ok(),
            None => false,
        }
    }
}

/// Asks JS; None when the client went away first (JS then gets an ABORTED event).
pub async fn ask(
    app: &AppCore,
    stream: &Stream,
    req: &UpgradeRequest,
    route: usize,
    params: &[String],
    peer: SocketAddr,
) -> Option<(u32, Decision)> {
    let (tx, rx) = oneshot::channel();
    let id = app.lock_pending().insert(tx);
    let payload = encode_request(req, params, peer);
    app.events
        .with_batch(|b| b.push(id, kind::UPGRADE, 0, route as u16, &payload));
    tokio::select! {
        decision = rx => decision.ok().map(|d| (id, d)),
        () = client_gone(stream) => {
            if app.lock_pending().waiting.remove(&id).is_some() {
                app.events.with_batch(|b| b.push(id, kind::ABORTED, 0, 0, &[]));
            }
            None
        }
    }
}

/// Resolves when the peer closes the connection. If it sends bytes instead (frames
/// ahead of the 101), it is alive: wait forever (the decision branch wins).
async fn client_gone(stream: &Stream) {
    match stream.peek_len().await {
        Ok(0) | Err(_) => {}
        Ok(_) => std::future::pending().await,
    }
}

/// `u16 len + bytes` strings: method, url, query, key, protocols, extensions; then
/// `u16 count` headers (name, value); `u16 count` parameter values; then the 16-byte
/// address and u16 port.
fn encode_request(req: &UpgradeRequest, params: &[String], peer: SocketAddr) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    for s in [
        &req.method,
        &req.url,
        &req.query,
        &req.key,
        &req.protocols,
        &req.extensions,
    ] {
        put_str(&mut out, s);
    }
    put_count(&mut out, req.headers.len());
    for (name, value) in &req.headers {
        put_str(&mut out, name);
        put_str(&mut out, value);
    }
    put_count(&mut out, params.len());
    for p in params {
        put_str(&mut out, p);
    }
    out.extend_from_slice(&super::app::address_bytes(peer));
    out
}

fn put_count(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n.min(u16::MAX as usize) as u16).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    put_count(out, bytes.len());
    out.extend_from_slice(bytes);
}
