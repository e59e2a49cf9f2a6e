use cache::memoize;

static C: std::sync::LazyLock<cache::AsyncInMemoryCache<u32>> = std::sync::LazyLock::new(|| {
    cache::AsyncInMemoryCache::new(cache::InMemoryCache::new(1, None).unwrap())
});

#[memoize(cache = C)]
fn f(id: u32) -> u32 { id }

fn main() {}
