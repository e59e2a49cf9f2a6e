use cache::memoize;

static C: std::sync::LazyLock<cache::InMemoryCache<u32>> =
    std::sync::LazyLock::new(|| cache::InMemoryCache::new(1, None).unwrap());

#[memoize(cache = C, size = 10)]
fn f(n: u32) -> u32 { n }

fn main() {}
