//! Every import style a user may write compiles with plain method calls (no trait named at
//! the call) on every backend's blocking and async types: both traits and both extension
//! traits in scope never make a call ambiguous (E0034). One module per style, each with the
//! same calls (`imports/calls.rs`); the memory and file calls also run and check their
//! answers, the Redis ones only compile (no server needed).

/// `use cache::*;`, everything the facade exports.
mod glob {
    use cache::*;

    include!("imports/calls.rs");
}

/// `use cache::prelude::*;`.
mod prelude {
    use cache::prelude::*;

    include!("imports/calls.rs");
}

/// The traits and types one by one, all four traits in scope.
mod one_by_one {
    use cache::AsyncFileCache;
    use cache::AsyncRedisCache;
    use cache::FileBasedCache;
    use cache::RedisCache;
    use cache::{AsyncCache, AsyncCacheExt, Cache, CacheExt};
    use cache::{AsyncInMemoryCache, CacheError, InMemoryCache, Ttl};

    include!("imports/calls.rs");
}

/// A program that mixes styles: the glob and the prelude together, plus traits named again
/// (the same items through several paths).
mod mixed {
    use cache::prelude::*;
    #[allow(unused_imports)]
    use cache::*;
    use cache::{AsyncCacheExt, Cache};

    include!("imports/calls.rs");
}
