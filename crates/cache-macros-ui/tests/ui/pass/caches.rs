use std::sync::{Arc, LazyLock};

use cache::prelude::*;
use cache::memoize;

static STATIC: LazyLock<InMemoryCache<String>> =
    LazyLock::new(|| InMemoryCache::new(10, None).unwrap());

fn from_a_function() -> &'static InMemoryCache<String> {
    &STATIC
}

#[memoize(cache = STATIC)]
fn a_static(n: u32) -> String {
    n.to_string()
}

#[memoize(cache = from_a_function(), key = "f:{n}")]
fn a_call(n: u32) -> String {
    n.to_string()
}

struct Holder {
    cache: Arc<dyn Cache<u32>>,
}

impl Holder {
    #[memoize(cache = self.cache, ttl = "5s")]
    fn a_field(&self, n: u32) -> u32 {
        n * 2
    }
}

#[memoize(cache = STATIC)]
fn generic<T: std::fmt::Display>(value: T) -> String {
    value.to_string()
}

fn main() {
    assert_eq!(a_static(1), "1");
    assert_eq!(a_call(2), "2");
    assert_eq!(STATIC.get("f:2").unwrap(), None, "the key has the function's prefix");
    let holder = Holder {
        cache: Arc::new(InMemoryCache::new(10, None).unwrap()),
    };
    assert_eq!(holder.a_field(3), 6);
    assert_eq!(generic(4u8), "4");
    assert!(generic_invalidate(4u8).unwrap());
    assert!(holder.a_field_invalidate(3).unwrap());
}
