//! Running an operation of the blocking cache on tokio's blocking thread pool, so that
//! file I/O never blocks a runtime worker.

use std::io;

use cache_core::codec::Codec;
use cache_core::CacheError;

use crate::sync::FileBasedCache;

/// Runs `op` on `cache` on tokio's blocking pool; a panic in `op` resumes here.
pub(crate) async fn blocking<C: Codec, T: Send + 'static>(
    cache: FileBasedCache<C>,
    op: impl FnOnce(FileBasedCache<C>) -> Result<T, CacheError> + Send + 'static,
) -> Result<T, CacheError> {
    let dir = cache.dir().to_owned();
    match tokio::task::spawn_blocking(move || op(cache)).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(CacheError::io(
            format!("file cache operation in {}", dir.display()),
            io::Error::other(e),
        )),
    }
}
