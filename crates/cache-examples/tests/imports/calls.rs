// The calls of `tests/imports.rs`, included once per import style: every method called
// plainly, `cache.method(..)`, with the imports of the including module in scope.

use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

fn memory_blocking() -> Result<(), CacheError> {
    let cache = InMemoryCache::<String>::new(100, None)?;
    assert!(cache.set("a", "1".to_string(), MINUTE)?);
    assert!(cache.set("forever", "f".to_string(), None)?);
    assert!(cache.set("default", "d".to_string(), Ttl::Default)?);
    assert!(cache.add("added", "x".to_string(), Some(MINUTE))?);
    assert!(cache.touch("a", MINUTE)?);
    cache.set_many(vec![("m", "m".to_string())], MINUTE)?;
    assert_eq!(cache.get("a")?.as_deref(), Some("1"));
    let b = cache.get_or_insert_with("b", MINUTE, || "2".to_string())?;
    assert_eq!(b, "2");
    let c = cache.try_get_or_insert_with("c", Ttl::Never, || Ok::<_, std::io::Error>("3".into()))?;
    assert_eq!(c, "3");
    assert!(cache.exists("b")?);
    assert_eq!(cache.ttl("forever")?, Some(None));
    assert!(cache.delete("a")?);
    assert_eq!(cache.get("a")?, None);
    assert_eq!(cache.delete_pattern("*")?, 6);
    assert_eq!(cache.stats().sets, 7);
    let counters = InMemoryCache::<i64>::new(100, None)?;
    assert_eq!(counters.incr("n", 2)?, 2);
    assert_eq!(counters.decr("n", 5)?, -3);
    let handle = counters.clone();
    assert_eq!(handle.get("n")?, Some(-3));
    Ok(())
}

#[test]
fn memory() {
    memory_blocking().unwrap();
}

async fn memory_async() -> Result<(), CacheError> {
    let cache = AsyncInMemoryCache::new(InMemoryCache::<String>::new(100, None)?);
    assert!(cache.set("a", "1".to_string(), MINUTE).await?);
    assert!(cache.set("forever", "f".to_string(), None).await?);
    assert!(cache.add("added", "x".to_string(), Ttl::Never).await?);
    assert!(cache.touch("a", MINUTE).await?);
    cache.set_many(vec![("m", "m".to_string())], MINUTE).await?;
    assert_eq!(cache.get("a").await?.as_deref(), Some("1"));
    let b = cache
        .get_or_insert_with("b", MINUTE, || async { "2".to_string() })
        .await?;
    assert_eq!(b, "2");
    assert!(cache.exists("b").await?);
    assert_eq!(cache.ttl("forever").await?, Some(None));
    assert!(cache.delete("a").await?);
    assert_eq!(cache.get("a").await?, None);
    assert_eq!(cache.blocking().len(), 4);
    assert_eq!(cache.stats().sets, 5);
    let counters = AsyncInMemoryCache::from(InMemoryCache::<i64>::new(100, None)?);
    assert_eq!(counters.incr("n", 2).await?, 2);
    assert_eq!(counters.decr("n", 5).await?, -3);
    assert_eq!(counters.clone().get("n").await?, Some(-3));
    Ok(())
}

#[test]
fn memory_async_on_tokio() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(memory_async())
        .unwrap();
}

// The file caches take any `impl Into<Ttl>` and name no value type where the operation
// involves none (inherent methods). The Redis caches take a `Ttl` in `set` (their inherent
// `impl Into<Ttl>` methods are yet to come): `MINUTE.into()`. `get_or_insert_with` takes a
// `Duration` already.

fn file_blocking(cache: &FileBasedCache) -> Result<(), CacheError> {
    assert!(cache.set("a", "1".to_string(), MINUTE)?);
    assert!(cache.set("forever", "f".to_string(), None)?);
    assert!(cache.set("default", "d".to_string(), Ttl::Default)?);
    assert!(cache.add("added", "x".to_string(), Some(MINUTE))?);
    assert!(!cache.add("added", "y".to_string(), MINUTE)?);
    assert!(cache.touch("a", MINUTE)?);
    cache.set_many(vec![("m", "m".to_string())], MINUTE)?;
    let a: Option<String> = cache.get("a")?;
    assert_eq!(a.as_deref(), Some("1"));
    let b = cache.get_or_insert_with("b", MINUTE, || "2".to_string())?;
    assert_eq!(b, "2");
    assert!(cache.exists("b")?);
    assert_eq!(cache.ttl("forever")?, Some(None));
    assert_eq!(cache.incr("n", 2)?, 2);
    assert_eq!(cache.decr("n", 5)?, -3);
    assert!(cache.delete("a")?);
    let a: Option<String> = cache.get("a")?;
    assert_eq!(a, None);
    assert_eq!(cache.delete_many(&["m", "nothing"])?, 1);
    let handle = cache.clone();
    let n: Option<i64> = handle.get("n")?;
    assert_eq!(n, Some(-3));
    assert_eq!(cache.delete_pattern("*")?, 5);
    assert_eq!(cache.stats().sets, 8);
    cache.clear()?;
    Ok(())
}

#[test]
fn file() {
    let dir = tempfile::tempdir().unwrap();
    file_blocking(&FileBasedCache::new(dir.path(), None).unwrap()).unwrap();
}

async fn file_async(cache: &AsyncFileCache) -> Result<(), CacheError> {
    assert!(cache.set("a", "1".to_string(), MINUTE).await?);
    assert!(cache.set("forever", "f".to_string(), None).await?);
    assert!(cache.add("added", "x".to_string(), Ttl::Never).await?);
    assert!(cache.touch("a", MINUTE).await?);
    cache.set_many(vec![("m", "m".to_string())], MINUTE).await?;
    let a: Option<String> = cache.get("a").await?;
    assert_eq!(a.as_deref(), Some("1"));
    let b = cache
        .get_or_insert_with("b", MINUTE, || async { "2".to_string() })
        .await?;
    assert_eq!(b, "2");
    assert!(cache.exists("b").await?);
    assert_eq!(cache.ttl("forever").await?, Some(None));
    assert_eq!(cache.incr("n", 2).await?, 2);
    assert_eq!(cache.decr("n", 5).await?, -3);
    assert!(cache.delete("a").await?);
    let a: Option<String> = cache.get("a").await?;
    assert_eq!(a, None);
    assert_eq!(cache.delete_many(&["m", "nothing"]).await?, 1);
    assert_eq!(cache.clone().delete_pattern("*").await?, 4);
    assert_eq!(cache.stats().sets, 7);
    cache.clear().await?;
    Ok(())
}

#[test]
fn file_async_on_tokio() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = AsyncFileCache::new(FileBasedCache::new(dir.path(), None).unwrap());
    runtime.block_on(file_async(&cache)).unwrap();
}

/// Compiled, not called: no Redis server here.
#[allow(dead_code)]
fn redis_blocking(cache: &RedisCache) -> Result<(), CacheError> {
    cache.set("a", "1".to_string(), MINUTE)?;
    cache.touch("a", MINUTE)?;
    let _: Option<String> = cache.get("a")?;
    let _ = cache.get_or_insert_with("b", MINUTE, || "2".to_string())?;
    cache.incr("n", 2)?;
    cache.delete("a")?;
    Ok(())
}

/// Compiled, not called: no Redis server here.
#[allow(dead_code)]
async fn redis_async(cache: &AsyncRedisCache) -> Result<(), CacheError> {
    cache.set("a", "1".to_string(), MINUTE).await?;
    cache.touch("a", MINUTE).await?;
    let _: Option<String> = cache.get("a").await?;
    let _ = cache
        .get_or_insert_with("b", MINUTE, || async { "2".to_string() })
        .await?;
    cache.incr("n", 2).await?;
    cache.exists("a").await?;
    cache.delete("a").await?;
    Ok(())
}
