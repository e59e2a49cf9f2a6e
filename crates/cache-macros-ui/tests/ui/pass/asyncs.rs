use cache::prelude::*;
use cache::memoize;

#[memoize(ttl = "10s")]
async fn free(n: u32) -> u32 {
    n + 1
}

#[memoize]
async fn fallible(name: &str) -> Result<usize, std::num::ParseIntError> {
    let n: usize = name.parse()?;
    Ok(n)
}

struct Service {
    cache: AsyncInMemoryCache<String>,
}

impl Service {
    #[memoize(cache = self.cache, key = "item:{id}")]
    async fn method(&self, id: u32) -> String {
        format!("{id}")
    }

    #[memoize]
    async fn own(&self, id: u32) -> u32 {
        id
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        assert_eq!(free(1).await, 2);
        assert_eq!(fallible("12").await, Ok(12));
        assert!(fallible("x").await.is_err());
        let s = Service {
            cache: AsyncInMemoryCache::new(InMemoryCache::new(10, None).unwrap()),
        };
        assert_eq!(s.method(3).await, "3");
        assert!(s.method_invalidate(3).await.unwrap());
        assert_eq!(s.own(4).await, 4);
        assert_eq!(s.own_clear().await.unwrap(), 1);
        assert!(free_invalidate(1).await.unwrap());
    });
}
