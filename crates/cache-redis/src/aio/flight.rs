//! The flight lock ([`FlightLock`]) run by the async cache: `AsyncRedisCache`'s
//! `get_or_insert_with` across processes, the same lock protocol polled with tokio's timer,
//! so no runtime worker waits; a cancelled leader releases its lock from a spawned task.

use cache_core::codec::Codec;
use cache_core::{AsyncCache, AsyncLoader, CacheError, Ttl};
use redis::Value;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::cache::AsyncRedisCache;
use super::link::AsyncLink;
use crate::proto::command::single;
use crate::proto::flight::{FlightLock, Step};
use crate::proto::ops::Call;
use crate::proto::value;

impl<C: Codec> AsyncRedisCache<C> {
    /// The value of `key`, read without counting a hit or a miss.
    pub(super) async fn reread<V: DeserializeOwned + 'static>(
        &self,
        key: &str,
    ) -> Result<Option<V>, CacheError> {
        let cmd = single("GET", &self.inner.keys.redis_key(key));
        let bytes: Option<Vec<u8>> = self.run("GET", Some(key), |l| l.query(&cmd)).await?;
        Ok(bytes.and_then(|b| value::decode(&self.encoding, b)))
    }

    /// The cross-process part of a flight this task leads (see the blocking `RedisCache::across_processes`).
    pub(super) async fn across_processes<V>(
        &self,
        key: &str,
        ttl: Ttl,
        loader: AsyncLoader<'_, V>,
    ) -> Result<V, CacheError>
    where
        V: Serialize + DeserializeOwned + Send + Sync + Clone + 'static,
    {
        let inner = &*self.inner;
        let mut lock = FlightLock::new(
            inner.prefix.len(),
            &inner.keys.redis_key(key),
            inner.flight_lease,
        );
        loop {
            let call = &lock.acquire();
            let reply = self.run(call.op, Some(key), |l| l.call(call)).await?;
            match lock.step(key, reply)? {
                Step::Held => break,
                Step::Wait(pause) => tokio::time::sleep(pause).await,
                Step::Ended(e) => return Err(e),
            }
        }
        // Released by a task of its own if this future is dropped before the end.
        let held = Held {
            release: Some((lock.release(), inner.links.current().0)),
        };
        let result = async {
            if let Some(v) = self.reread(key).await? {
                return Ok(v); // the flight before stored it just now
            }
            let v = loader().await.map_err(|e| CacheError::loader(key, e))?;
            AsyncCache::<V>::set(self, key, v.clone(), ttl).await?;
            Ok(v)
        }
        .await;
        let end = &lock.end(&result);
        let _ = self.run(end.op, Some(key), |l| l.call::<Value>(end)).await;
        held.disarm();
        result
    }
}

/// The lock a task holds: on drop (the task was cancelled), released by a task spawned
/// on the current runtime; without a runtime, by its lease.
struct Held {
    release: Option<(Call, AsyncLink)>,
}

impl Held {
    fn disarm(mut self) {
        self.release = None;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some((call, link)) = self.release.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = link.call::<Value>(&call).await;
            });
        }
    }
}
