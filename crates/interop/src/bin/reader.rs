//! Reads what `writer` stored, through types of its own, and prints what each read gave.
#![forbid(unsafe_code)]

use cache_core::Cache;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// The same fields as `writer`'s user, defined again here.
#[derive(Serialize, Deserialize, Debug)]
struct User {
    name: String,
    age: u32,
}

/// The same shape as `writer`'s point.
#[derive(Serialize, Deserialize, Debug)]
struct Point {
    x: i32,
    y: i32,
}

/// Other shapes under the same name.
mod other {
    /// Unsigned coordinates.
    #[derive(serde::Serialize, serde::Deserialize, Debug)]
    pub struct Point {
        pub x: u32,
        pub y: u32,
    }
}
mod narrow {
    /// One coordinate only.
    #[derive(serde::Serialize, serde::Deserialize, Debug)]
    pub struct Point {
        pub x: i32,
    }
}

fn main() -> Result<(), cache_core::CacheError> {
    let (file, redis) = cache_interop::caches(std::env::args().skip(1));
    report("file", &file)?;
    report("redis", &redis)
}

fn report<C>(backend: &str, cache: &C) -> Result<(), cache_core::CacheError>
where
    C: Cache<User> + Cache<Point> + Cache<other::Point> + Cache<narrow::Point> + Cache<String>,
{
    fn show<V: DeserializeOwned + std::fmt::Debug>(
        cache: &dyn Cache<V>,
        line: &str,
        key: &str,
    ) -> Result<(), cache_core::CacheError> {
        println!("{line}: {:?}", cache.get(key)?);
        Ok(())
    }
    show::<User>(cache, &format!("{backend} user as User"), "user")?;
    show::<Point>(
        cache,
        &format!("{backend} point as Point {{ x: i32, y: i32 }}"),
        "point",
    )?;
    show::<other::Point>(
        cache,
        &format!("{backend} point as Point {{ x: u32, y: u32 }}"),
        "point",
    )?;
    show::<narrow::Point>(
        cache,
        &format!("{backend} point as Point {{ x: i32 }}"),
        "point",
    )?;
    show::<String>(cache, &format!("{backend} point as String"), "point")
}
