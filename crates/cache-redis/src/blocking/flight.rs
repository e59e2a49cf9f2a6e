//! The flight lock ([`FlightLock`]) run by the blocking cache: `RedisCache`'s
//! `get_or_insert_with` across processes, polling the key's lock on pooled connections with
//! `thread::sleep` between polls.

use cache_core::codec::Codec;
use cache_core::{Cache, CacheError, Loader, Ttl};
use redis::Value;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::cache::RedisCache;
use crate::proto::flight::{FlightLock, Step};
use crate::proto::keys::keyed;
use crate::proto::value;

impl<C: Codec> RedisCache<C> {
    /// The value of `key`, read without counting a hit or a miss.
    pub(super) fn reread<V: DeserializeOwned + 'static>(
        &self,
        key: &str,
    ) -> Result<Option<V>, CacheError> {
        let cmd = keyed("GET", &self.inner.keys, key);
        let bytes: Option<Vec<u8>> = self.run("GET", Some(key), |l| l.query(&cmd))?;
        Ok(bytes.and_then(|b| value::decode(&self.encoding, b)))
    }

    /// The cross-process part of a flight this thread leads (the `lead` of
    /// [`hit_or_lead`](cache_core::flight::hit_or_lead)): wait for the key's lock, then return
    /// what the flight before stored or failed with, or load and store.
    pub(super) fn across_processes<V>(
        &self,
        key: &str,
        ttl: Ttl,
        loader: Loader<'_, V>,
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
            let call = lock.acquire();
            let reply = self.run(call.op, Some(key), |l| l.call(&call))?;
            match lock.step(key, reply)? {
                Step::Held => break,
                Step::Wait(pause) => std::thread::sleep(pause),
                Step::Ended(e) => return Err(e),
            }
        }
        // This process holds the lock: the flight before may have stored the value just now.
        let result = self.reread(key).and_then(|found| match found {
            Some(v) => Ok(v),
            None => {
                let v = loader.load().map_err(|e| CacheError::loader(key, e))?;
                Cache::<V>::set(self, key, v.clone(), ttl)?;
                Ok(v)
            }
        });
        let end = lock.end(&result);
        let _ = self.run(end.op, Some(key), |l| l.call::<Value>(&end));
        result
    }
}
