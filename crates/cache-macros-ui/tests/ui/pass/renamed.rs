// The facade under another name (a renamed dependency, a re-export).
mod elsewhere {
    pub use ::cache as my_cache;
}

use cache::memoize;

#[memoize(crate = crate::elsewhere::my_cache)]
fn through_a_path(n: u32) -> u32 {
    n
}

#[memoize(crate = ::cache, ttl = "1d")]
fn explicit(n: u32) -> u32 {
    n
}

fn main() {
    assert_eq!(through_a_path(1), 1);
    assert_eq!(explicit(2), 2);
}
