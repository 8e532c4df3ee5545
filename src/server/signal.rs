//! A wake-up for the one task serving a connection, polled in place: unlike a
//! `tokio::sync::Notified`, waiting stores nothing in the task's future, which every idle
//! connection holds for its whole life.
//!
//! Semantics of `Notify::notify_one` with a single waiter: a notification with no task
//! waiting is kept (one permit) and consumed by the next poll.

use std::future::poll_fn;
use std::ptr;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// The task to wake, or the marker for a notification kept for the next poll, in one
/// 24-byte cell: a flag beside it would pad `Signal` (held by every open connection) to 32.
#[derive(Default)]
pub struct Signal {
    slot: Mutex<Option<Waker>>,
}

/// The vtable of the marker waker. A `static`, so its address is unique: the marker is
/// recognised by it, never woken.
static KEPT: RawWakerVTable = RawWakerVTable::new(kept_clone, kept_noop, kept_noop, kept_noop);

fn kept_clone(_: *const ()) -> RawWaker {
    RawWaker::new(ptr::null(), &KEPT)
}

fn kept_noop(_: *const ()) {}

fn kept() -> Waker {
    // SAFETY: the vtable's functions ignore the (null) data pointer and do nothing, which
    // meets every requirement of `RawWakerVTable`.
    unsafe { Waker::from_raw(RawWaker::new(ptr::null(), &KEPT)) }
}

fn is_kept(w: &Waker) -> bool {
    ptr::eq(w.vtable(), &KEPT)
}

impl Signal {
    fn lock(&self) -> MutexGuard<'_, Option<Waker>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn notify_one(&self) {
        // The guard is dropped before the wake.
        let waiting = self.lock().replace(kept());
        if let Some(w) = waiting.filter(|w| !is_kept(w)) {
            w.wake();
        }
    }

    /// Ready (consuming the permit) if notified since the last ready poll; otherwise the
    /// task is registered to be woken by the next `notify_one`.
    pub fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut slot = self.lock();
        match &*slot {
            Some(w) if is_kept(w) => {
                *slot = None;
                Poll::Ready(())
            }
            Some(w) if w.will_wake(cx.waker()) => Poll::Pending,
            _ => {
                *slot = Some(cx.waker().clone());
                Poll::Pending
            }
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

    #[test]
    fn a_notification_wakes_the_registered_task_once_and_is_kept_for_its_poll() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::task::Wake;
        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let s = Signal::default();
        assert!(s.poll(&mut cx).is_pending());
        assert!(
            s.poll(&mut cx).is_pending(),
            "registering again changes nothing"
        );
        s.notify_one();
        s.notify_one();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken once");
        assert!(s.poll(&mut cx).is_ready());
        assert!(s.poll(&mut cx).is_pending(), "one permit");
        s.notify_one();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
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

    /// A task that waits, then answers, against a thread that notifies, then waits for the
    /// answer: a notification lost between the poll and the registration hangs a round.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_notification_is_lost_in_a_ping_pong_with_another_thread() {
        use std::sync::atomic::{AtomicU32, Ordering};
        const ROUNDS: u32 = 20_000;
        let s = Arc::new(Signal::default());
        let answered = Arc::new(AtomicU32::new(0));
        let waiter = tokio::spawn({
            let (s, answered) = (s.clone(), answered.clone());
            async move {
                for _ in 0..ROUNDS {
                    s.notified().await;
                    answered.fetch_add(1, Ordering::Release);
                }
            }
        });
        let notifier = std::thread::spawn(move || {
            for round in 1..=ROUNDS {
                s.notify_one();
                let start = std::time::Instant::now();
                while answered.load(Ordering::Acquire) < round {
                    assert!(start.elapsed().as_secs() < 5, "round {round} never woke");
                    std::thread::yield_now();
                }
            }
        });
        tokio::time::timeout(std::time::Duration::from_secs(30), waiter)
            .await
            .expect("all rounds answered")
            .unwrap();
        notifier.join().unwrap();
    }
}
