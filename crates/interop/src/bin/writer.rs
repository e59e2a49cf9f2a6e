//! Writes a `User` and a `Point` through `FileBasedCache` and `RedisCache`.
#![forbid(unsafe_code)]

use cache_core::Ttl;
use serde::{Deserialize, Serialize};

/// This program's user; `reader` has one of its own with the same fields.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct User {
    name: String,
    age: u32,
}

/// Signed coordinates; `reader` tries them as other shapes.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct Point {
    x: i32,
    y: i32,
}

fn main() -> Result<(), cache_core::CacheError> {
    let (file, redis) = cache_interop::caches(std::env::args().skip(1));
    let ann = User {
        name: "ann".into(),
        age: 7,
    };
    let point = Point { x: -3, y: 4 };
    file.set("user", ann.clone(), Ttl::Never)?;
    file.set("point", point.clone(), Ttl::Never)?;
    redis.set("user", ann.clone(), Ttl::Never)?;
    redis.set("point", point.clone(), Ttl::Never)?;
    println!("wrote {ann:?} and {point:?}");
    Ok(())
}
