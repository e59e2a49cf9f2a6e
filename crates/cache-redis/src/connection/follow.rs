//! Following a link that can move (the primary that sentinels name): the current link, and
//! a lookup that finds it again after a failure, run by one task at a time.
//!
//! Every task takes the link with a [`Ticket`]. A task whose command failed on it hands the
//! ticket back to [`Follow::refresh`]: if no lookup has finished since the ticket was taken,
//! it looks (others that fail meanwhile wait for it); otherwise it shares the result of that
//! lookup. So one wave of failures (every task on a dead primary at once) asks the sentinels
//! once, and a failed lookup is not repeated by each task that failed before it ended.

use std::future::Future;
use std::sync::{PoisonError, RwLock};

use redis::RedisResult;

/// What finds the link anew (asks the sentinels for the primary and connects to it).
pub(crate) trait Lookup: Send + 'static {
    /// The link it finds, cheap to clone (a handle on a shared connection).
    type Link: Clone + Send + Sync + 'static;

    /// Finds the link. A dropped lookup (its task cancelled) leaves no trace: the next
    /// task that needs one looks again.
    fn lookup(&mut self) -> impl Future<Output = RedisResult<Self::Link>> + Send + '_;
}

/// When a task took its link: compared after a failure to tell whether the link was
/// replaced, or looked for, since.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Ticket {
    /// How many times the link had been replaced.
    generation: u64,
    /// How many lookups had ended (found or not).
    lookups: u64,
}

/// The current link and the one lookup that may replace it.
pub(crate) struct Follow<L: Lookup> {
    current: RwLock<Current<L::Link>>,
    /// Held for the whole lookup: one at a time.
    lookup: tokio::sync::Mutex<L>,
}

struct Current<T> {
    link: T,
    ticket: Ticket,
}

impl<L: Lookup> Follow<L> {
    /// Follows from `link`, which `lookup` found.
    pub(crate) fn new(link: L::Link, lookup: L) -> Self {
        Follow {
            current: RwLock::new(Current {
                link,
                ticket: Ticket::default(),
            }),
            lookup: tokio::sync::Mutex::new(lookup),
        }
    }

    /// The link to send on, and the ticket to hand to [`Follow::refresh`] if it fails.
    pub(crate) fn current(&self) -> (L::Link, Ticket) {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        (current.link.clone(), current.ticket)
    }

    fn ticket(&self) -> Ticket {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .ticket
    }

    /// After the link taken with `ticket` failed: looks for the link anew, unless a lookup
    /// ended since `ticket` was taken (then its result stands for this failure too; one in
    /// progress is waited for). Returns whether the link was replaced since `ticket`, that
    /// is whether trying once more on [`Follow::current`] is worthwhile.
    pub(crate) async fn refresh(&self, ticket: Ticket) -> bool {
        let mut lookup = self.lookup.lock().await;
        if self.ticket().lookups == ticket.lookups {
            let found = lookup.lookup().await;
            let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
            current.ticket.lookups += 1;
            if let Ok(link) = found {
                current.link = link;
                current.ticket.generation += 1;
            }
        }
        drop(lookup);
        self.ticket().generation != ticket.generation
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use futures_util::FutureExt;

    use super::*;

    /// Finds links 1, 2, 3... slowly (so that failures pile up meanwhile), or fails while
    /// `down`; counts its lookups.
    struct Counting {
        lookups: Arc<AtomicU32>,
        down: bool,
    }

    impl Lookup for Counting {
        type Link = u32;

        async fn lookup(&mut self) -> RedisResult<u32> {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let n = self.lookups.fetch_add(1, Ordering::SeqCst) + 1;
            if self.down {
                Err(redis::RedisError::from((redis::ErrorKind::Io, "down")))
            } else {
                Ok(n)
            }
        }
    }

    fn follow(down: bool) -> (Arc<Follow<Counting>>, Arc<AtomicU32>) {
        let lookups = Arc::new(AtomicU32::new(0));
        let lookup = Counting {
            lookups: Arc::clone(&lookups),
            down,
        };
        (Arc::new(Follow::new(0, lookup)), lookups)
    }

    /// Eight tasks fail on the same link at once: one lookup, and all retry on its link.
    async fn one_lookup_for_a_wave(follow: Arc<Follow<Counting>>) -> Vec<bool> {
        let (_, ticket) = follow.current();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let follow = Arc::clone(&follow);
                tokio::spawn(async move { follow.refresh(ticket).await })
            })
            .collect();
        let mut replaced = Vec::new();
        for t in tasks {
            replaced.push(t.await.expect("no panic"));
        }
        replaced
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wave_of_failures_looks_up_once_and_shares_the_new_link() {
        let (follow, lookups) = follow(false);
        let replaced = one_lookup_for_a_wave(Arc::clone(&follow)).await;
        assert_eq!(replaced, vec![true; 8]);
        assert_eq!(lookups.load(Ordering::SeqCst), 1);
        assert_eq!(follow.current().0, 1);
        // A failure on the new link is a new wave: a second lookup.
        let (_, ticket) = follow.current();
        assert!(follow.refresh(ticket).await);
        assert_eq!(lookups.load(Ordering::SeqCst), 2);
        assert_eq!(follow.current().0, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_lookup_is_shared_and_not_retried_by_its_wave() {
        let (follow, lookups) = follow(true);
        let replaced = one_lookup_for_a_wave(Arc::clone(&follow)).await;
        assert_eq!(replaced, vec![false; 8]);
        assert_eq!(lookups.load(Ordering::SeqCst), 1);
        assert_eq!(follow.current().0, 0, "the link is kept");
        // The next failure (after the lookup ended) looks again.
        let (_, ticket) = follow.current();
        assert!(!follow.refresh(ticket).await);
        assert_eq!(lookups.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_cancelled_lookup_leaves_the_next_task_to_look() {
        let (follow, lookups) = follow(false);
        let (_, ticket) = follow.current();
        // Polled once (the lookup starts, then sleeps), then dropped.
        assert_eq!(follow.refresh(ticket).now_or_never(), None);
        assert_eq!(lookups.load(Ordering::SeqCst), 0);
        assert!(follow.refresh(ticket).await);
        assert_eq!(lookups.load(Ordering::SeqCst), 1);
    }
}
