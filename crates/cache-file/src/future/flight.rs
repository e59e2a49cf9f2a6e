//! The lead of a single flight across processes that an async `get_or_load` runs: the
//! same lock file, failure record and steps (`crate::common::flight`) as the blocking one,
//! each step on tokio's blocking pool; a task that waits for another process tries the lock
//! without blocking (`LOCK_NB`) and awaits tokio's timer between tries
//! ([`Backoff`]), so no thread waits in the kernel and a
//! cancelled waiter holds nothing.

use cache_core::codec::Codec;
use cache_core::flight::Backoff;
use cache_core::{AsyncLoader, Cache, CacheError, Ttl};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::blocking::blocking;
use crate::common::flight::{land, take_over, try_lead, Polled};
use crate::common::keylock::KeyLock;
use crate::sync::FileBasedCache;

/// The cross-process part of a flight this task leads (see the blocking one).
pub(crate) async fn across_processes<V, C: Codec>(
    cache: &FileBasedCache<C>,
    key: &str,
    ttl: Ttl,
    loader: AsyncLoader<'_, V>,
) -> Result<V, CacheError>
where
    V: Serialize + DeserializeOwned + Send + Sync + Clone + 'static,
{
    let mut backoff = Backoff::new();
    let mut tried = None;
    let lock = loop {
        let k = key.to_owned();
        let attempt = blocking(cache.clone(), move |c| {
            try_lead(&c.inner, &k, tried, || c.read_value::<V>(&k))
        })
        .await?;
        match attempt {
            Polled::Held(lock) => break lock,
            Polled::Ended(result) => return result,
            Polled::Wait(Some(file)) => {
                tried = Some(file);
                tokio::time::sleep(backoff.next_pause()).await;
            }
            Polled::Wait(None) => tried = None,
        }
    };
    let k = key.to_owned();
    let taken = blocking(cache.clone(), move |c| {
        // A value stored just before we got the lock: the lock goes here, on the pool.
        let stored = take_over(&c.inner, &k, &lock, || c.read_value::<V>(&k))?;
        Ok(match stored {
            Some(v) => Err(v),
            None => Ok(lock),
        })
    })
    .await?;
    let lock = match taken {
        Ok(lock) => lock,
        Err(stored) => return Ok(stored),
    };
    // If this task is cancelled while it loads, `held` lets go of the lock.
    let held = Held(Some(lock), cache.clone(), key.to_owned());
    let result = loader().await.map_err(|e| CacheError::loader(key, e));
    let lock = held.take();
    let k = key.to_owned();
    blocking(cache.clone(), move |c| {
        let result = result.and_then(|v| Cache::<V>::set(&c, &k, v.clone(), ttl).map(|_| v));
        land(&c.inner, &k, lock, &result);
        Ok(result)
    })
    .await?
}

/// The lock a task holds while it loads: dropped (the task was cancelled) on the blocking
/// pool, released as after a load that stored nothing, or here outside a runtime (then
/// unlocked as it is closed, its file left for the next holder).
struct Held<C: Codec>(Option<KeyLock>, FileBasedCache<C>, String);

impl<C: Codec> Held<C> {
    fn take(mut self) -> KeyLock {
        self.0.take().expect("held until taken")
    }
}

impl<C: Codec> Drop for Held<C> {
    fn drop(&mut self) {
        if let Some(lock) = self.0.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let (cache, key) = (self.1.clone(), std::mem::take(&mut self.2));
                runtime.spawn_blocking(move || {
                    land::<()>(&cache.inner, &key, lock, &Ok(()));
                });
            }
        }
    }
}
