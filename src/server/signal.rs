//! A wake-up for the one task serving a connection, polled in place: unlike a
//! `tokio::sync::Notified`, waiting stores nothing in the task's future, which every idle
//! connection holds for its whole life.
//!
//! Semantics of `Notify::notify_one` with a single waiter: a notification with no task
//! waiting is kept (one permit) and consumed by the next poll.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub struct Signal {
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    pub fn notify_one(&self) {
        self.set.store(true, Ordering::Release);
        let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Ready (consuming the permit) if notified since the last ready poll; otherwise the
    /// task is registered to be woken by the next `notify_one`.
    pub fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.set.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        {
            let mut slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
            match &*slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        // A notification between the first check and the registration took no waker.
        if self.set.swap(false, Ordering::AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    pub async fn notified(&self) {
        poll_fn(|cx| self.poll(cx)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_notification_before_the_wait_is_kept_once() {
        let s = Signal::default();
        s.notify_one();
        s.notify_one();
        s.notified().await;
        let again = tokio::time::timeout(std::time::Duration::from_millis(20), s.notified());
        assert!(again.await.is_err(), "two notifications make one permit");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wakes_a_waiting_task_from_another_thread() {
        let s = Arc::new(Signal::default());
        for _ in 0..200 {
            let waiter = tokio::spawn({
                let s = s.clone();
                async move { s.notified().await }
            });
            tokio::task::yield_now().await;
            std::thread::spawn({
                let s = s.clone();
                move || s.notify_one()
            });
            tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
                .await
                .expect("woken")
                .unwrap();
        }
    }
}
