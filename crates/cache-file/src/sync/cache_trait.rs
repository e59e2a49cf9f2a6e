//! The [`Cache`] impl of [`FileBasedCache`] for every serde value: the operations that name
//! a value type (encoded and decoded with the cache's codec), the others forwarded to the
//! inherent methods, and `get_or_load` through the single flight (`flight.rs`).

use std::time::Duration;

use cache_core::codec::Codec;
use cache_core::flight::hit_or_lead;
use cache_core::observe::Op;
use cache_core::{Cache, CacheError, CacheStats, Loader, Ttl};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::cache::FileBasedCache;
use super::flight;

impl<V: Serialize + DeserializeOwned + Send + Sync + 'static, C: Codec> Cache<V>
    for FileBasedCache<C>
{
    fn get(&self, key: &str) -> Result<Option<V>, CacheError> {
        let op = self.inner.observe.op(Op::Get, key);
        op.found(self.read_value(key).inspect(|value| match value {
            Some(_) => self.inner.stats.hit(),
            None => self.inner.stats.miss(),
        }))
    }

    fn set(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        let op = self.inner.observe.op(Op::Set, key);
        op.done(
            self.inner
                .set_bytes(key, ttl, |buf| self.encoding.encode_parts(buf, key, &value)),
        )
    }

    fn delete(&self, key: &str) -> Result<bool, CacheError> {
        FileBasedCache::delete(self, key)
    }

    fn clear(&self) -> Result<(), CacheError> {
        FileBasedCache::clear(self)
    }

    fn exists(&self, key: &str) -> Result<bool, CacheError> {
        FileBasedCache::exists(self, key)
    }

    fn delete_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        FileBasedCache::delete_pattern(self, pattern)
    }

    fn stats(&self) -> CacheStats {
        FileBasedCache::stats(self)
    }

    fn add(&self, key: &str, value: V, ttl: Ttl) -> Result<bool, CacheError> {
        let op = self.inner.observe.op(Op::Add, key);
        op.done(
            self.inner
                .add_bytes(key, ttl, |buf| self.encoding.encode_into(buf, key, &value)),
        )
    }

    fn incr(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        FileBasedCache::incr(self, key, delta)
    }

    fn decr(&self, key: &str, delta: i64) -> Result<i64, CacheError> {
        FileBasedCache::decr(self, key, delta)
    }

    fn touch(&self, key: &str, ttl: Ttl) -> Result<bool, CacheError> {
        FileBasedCache::touch(self, key, ttl)
    }

    fn ttl(&self, key: &str) -> Result<Option<Option<Duration>>, CacheError> {
        FileBasedCache::ttl(self, key)
    }

    fn delete_many(&self, keys: &[&str]) -> Result<u64, CacheError> {
        FileBasedCache::delete_many(self, keys)
    }

    fn get_or_load(&self, key: &str, ttl: Ttl, loader: Loader<'_, V>) -> Result<V, CacheError>
    where
        V: Clone,
    {
        let op = self.inner.observe.op(Op::GetOrLoad, key);
        let loaded = hit_or_lead(
            self,
            self.inner.single_flight.then_some(&self.inner.flights),
            key,
            ttl,
            loader,
            || self.read_value(key),
            |loader| flight::across_processes(self, key, ttl, loader),
        );
        op.loaded(&self.inner.observe, loaded)
    }
}
