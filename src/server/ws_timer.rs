//! The timer of an open WebSocket: `idleTimeout` (with its automatic ping halfway) and
//! `maxLifetime`. Boxed and created only when one of them is set, so a connection without
//! them pays one pointer, and holds its own copy of what it needs.

use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::{sleep_until, Instant, Sleep};

pub enum TimerEvent {
    /// Half the idle timeout passed without input: send a ping (once per silence).
    Ping,
    /// The connection must end (1006), with this reason.
    End(&'static str),
}

pin_project! {
    pub struct WsTimer {
        #[pin]
        sleep: Sleep,
        idle: Option<Duration>,
        send_pings: bool,
        pinged: bool,
        last_received: Instant,
        expires: Option<Instant>,
    }
}

impl WsTimer {
    /// None when neither limit is set.
    pub fn new(
        idle: Option<Duration>,
        send_pings: bool,
        lifetime: Option<Duration>,
    ) -> Option<Pin<Box<WsTimer>>> {
        if idle.is_none() && lifetime.is_none() {
            return None;
        }
        let now = Instant::now();
        let mut timer = WsTimer {
            sleep: sleep_until(now),
            idle,
            send_pings,
            pinged: false,
            last_received: now,
            expires: lifetime.map(|d| now + d),
        };
        timer.sleep = sleep_until(timer.deadline());
        Some(Box::pin(timer))
    }

    /// Input arrived: the idle timeout starts again. (The sleep is not reset here, once
    /// per read; when it fires early, it is moved to the new deadline.)
    pub fn received(self: Pin<&mut Self>) {
        let this = self.project();
        *this.last_received = Instant::now();
        *this.pinged = false;
    }

    fn deadline(&self) -> Instant {
        let idle = self.idle.map(|idle| match self.send_pings && !self.pinged {
            true => self.last_received + idle / 2,
            false => self.last_received + idle,
        });
        match (self.expires, idle) {
            (Some(at), Some(idle)) => at.min(idle),
            (at, idle) => at.or(idle).expect("a timer has a limit"),
        }
    }

    pub fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TimerEvent> {
        loop {
            ready!(self.as_mut().project().sleep.poll(cx));
            let now = Instant::now();
            if self.expires.is_some_and(|at| now >= at) {
                return Poll::Ready(TimerEvent::End("Max lifetime"));
            }
            let mut event = None;
            if let Some(idle) = self.idle {
                if now >= self.last_received + idle {
                    return Poll::Ready(TimerEvent::End("Idle timeout"));
                }
                if self.send_pings && !self.pinged && now >= self.last_received + idle / 2 {
                    *self.as_mut().project().pinged = true;
                    event = Some(TimerEvent::Ping);
                }
            }
            let at = self.deadline();
            self.as_mut().project().sleep.reset(at);
            if let Some(event) = event {
                return Poll::Ready(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    async fn next(t: &mut Pin<Box<WsTimer>>) -> &'static str {
        match poll_fn(|cx| t.as_mut().poll(cx)).await {
            TimerEvent::Ping => "ping",
            TimerEvent::End(reason) => reason,
        }
    }

    #[test]
    fn none_without_limits() {
        assert!(WsTimer::new(None, true, None).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn pings_at_half_the_idle_timeout_then_ends() {
        let start = Instant::now();
        let mut t = WsTimer::new(Some(Duration::from_secs(10)), true, None).unwrap();
        assert_eq!(next(&mut t).await, "ping");
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        assert_eq!(next(&mut t).await, "Idle timeout");
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn input_restarts_the_idle_timeout() {
        let start = Instant::now();
        let mut t = WsTimer::new(Some(Duration::from_secs(10)), false, None).unwrap();
        tokio::time::sleep(Duration::from_secs(8)).await;
        t.as_mut().received();
        assert_eq!(next(&mut t).await, "Idle timeout");
        assert_eq!(start.elapsed(), Duration::from_secs(18));
    }

    #[tokio::test(start_paused = true)]
    async fn max_lifetime_ends_despite_input() {
        let start = Instant::now();
        let mut t = WsTimer::new(
            Some(Duration::from_secs(10)),
            false,
            Some(Duration::from_secs(15)),
        )
        .unwrap();
        tokio::time::sleep(Duration::from_secs(9)).await;
        t.as_mut().received();
        assert_eq!(next(&mut t).await, "Max lifetime");
        assert_eq!(start.elapsed(), Duration::from_secs(15));
    }
}
