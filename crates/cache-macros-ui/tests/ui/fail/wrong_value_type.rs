use cache::memoize;

static C: std::sync::LazyLock<cache::InMemoryCache<String>> =
    std::sync::LazyLock::new(|| cache::InMemoryCache::new(1, None).unwrap());

#[memoize(cache = C)]
fn f(id: u32) -> u32 { id }

fn main() {}
