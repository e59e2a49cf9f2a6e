//! The whole conformance suite, typed cases included, on one real `redis-server`, once per
//! codec (the default envelope, JSON, and raw bytes with compression and a version on top).

#[macro_use]
mod common;

use cache_redis::RedisConfig;
use common::{RedisHarness, SharedRedisHarness};

fn server() -> RedisConfig {
    RedisConfig::new(redis_test_support::shared_server().url())
}

// The cross-process cases run here, on the standalone server, once.
cache_conformance::conformance_tests!(
    SharedRedisHarness(RedisHarness { base: server }),
    skip: [
        lru_evicts_least_recently_used,
        lru_drops_expired_entries_first,
        removal_listener_hears_each_removal_once,
    ]
);
cache_conformance::typed_conformance_tests!(RedisHarness { base: server });

/// JSON text: no envelope, but a value read as a type its text does not fit is still a miss.
/// Of the typed cases, not the counter one (see below).
mod json {
    use super::*;
    use cache_core::codec::Json;

    fn json() -> RedisConfig<Json> {
        server().codec(Json)
    }
    redis_conformance_tests!(RedisHarness { base: json });

    // Of the typed cases, not the counter one: JSON has one kind of number, so a counter
    // (an `i64`) also reads as a `u64`.
    #[test]
    fn value_read_as_another_type_is_a_miss() {
        cache_conformance::cases::value_read_as_another_type_is_a_miss(&RedisHarness {
            base: json,
        });
    }

    #[test]
    fn serde_values_round_trip() {
        cache_conformance::cases::serde_values_round_trip(&RedisHarness { base: json });
    }
}

/// Raw bytes (no type check, so no typed cases), compressed above 16 bytes, in version 9.
mod raw_compressed_v9 {
    use super::*;
    use cache_core::codec::Raw;

    pub(super) fn raw() -> RedisConfig<Raw> {
        server().codec(Raw).compress_above(16).version(9)
    }
    redis_conformance_tests!(RedisHarness { base: raw });
}

/// The same suite on the async API (`AsyncRedisCache`).
#[cfg(feature = "tokio")]
mod async_api {
    use super::{common::AsyncRedisHarness, server};

    redis_conformance_tests!(AsyncRedisHarness { base: server });

    /// Raw bytes, compressed above 16 bytes, in version 9, on the async API too.
    mod raw_compressed_v9 {
        use super::super::{common::AsyncRedisHarness, raw_compressed_v9::raw};

        redis_conformance_tests!(AsyncRedisHarness { base: raw });
    }
}

/// What only a real server shows: native TTLs, prefixes and escaping, foreign keys.
mod on_the_server {
    use std::time::Duration;

    use cache_core::{codec, Cache, Ttl};
    use cache_redis::{RedisCache, RedisConfig};
    use redis_test_support::{shared_server, unique_prefix, Reply};

    fn cache(prefix: &str) -> RedisCache {
        RedisCache::new(RedisConfig::new(shared_server().url()).key_prefix(prefix)).unwrap()
    }

    fn pttl(key: &str) -> i64 {
        shared_server()
            .query(&["PTTL", key])
            .expect("a reply of the test server")
            .int()
            .unwrap()
    }

    #[test]
    fn ttls_are_native_px_and_a_plain_set_clears_them() {
        let p = unique_prefix("ttl");
        let c = cache(&p);
        let key = format!("{p}k");
        c.set("k", 1u8, Ttl::After(Duration::from_secs(60)))
            .unwrap();
        assert!((59_000..=60_000).contains(&pttl(&key)), "{}", pttl(&key));
        c.set("k", 1u8, Ttl::Never).unwrap();
        assert_eq!(pttl(&key), -1, "no expiry");
        c.set("k", 1u8, Ttl::After(Duration::MAX)).unwrap();
        assert_eq!(pttl(&key), -1, "a TTL too large for Redis means no expiry");
        let years = Duration::from_secs(100 * 365 * 24 * 3600);
        c.set("k", 1u8, Ttl::After(years)).unwrap();
        assert!(pttl(&key) > 3_000_000_000_000);
        c.set("k", 1u8, Ttl::After(Duration::from_nanos(1)))
            .unwrap();
        assert!(pttl(&key) <= 1, "sub-millisecond TTLs round up to 1 ms");
        c.set("k", 1u8, Ttl::After(Duration::ZERO)).unwrap();
        assert_eq!(pttl(&key), -2, "a zero TTL deletes the key");
        let with_default = RedisCache::new(
            RedisConfig::new(shared_server().url())
                .key_prefix(&p)
                .default_ttl(Duration::from_secs(5)),
        )
        .unwrap();
        with_default.set("k", 1u8, Ttl::Default).unwrap();
        assert!((4_000..=5_000).contains(&pttl(&key)));
    }

    #[test]
    fn values_are_codec_envelopes_under_prefixed_keys() {
        let p = unique_prefix("raw");
        let c = cache(&p);
        c.set("a\0b", "text".to_string(), Ttl::Never).unwrap();
        let raw = shared_server()
            .query(&[b"GET".as_slice(), format!("{p}a\0b").as_bytes()])
            .expect("a reply of the test server");
        assert_eq!(
            raw,
            Reply::Bulk(Some(codec::encode("a\0b", &"text".to_string()).unwrap()))
        );
    }

    #[test]
    fn glob_characters_in_the_prefix_are_escaped() {
        let base = unique_prefix("esc");
        // Unescaped, each first prefix's MATCH would also match the second prefix's keys.
        for (mine, other) in [("a*", "ab"), ("?", "x"), ("[xy]", "x"), ("\\*", "*x")] {
            let mine = cache(&format!("{base}{mine}"));
            let other = cache(&format!("{base}{other}"));
            mine.set("k", 1u8, Ttl::Never).unwrap();
            other.set("k", 2u8, Ttl::Never).unwrap();
            other.set("*", 2u8, Ttl::Never).unwrap();
            assert_eq!(mine.count().unwrap(), 1);
            assert_eq!(mine.delete_pattern("*").unwrap(), 1);
            mine.set("k", 1u8, Ttl::Never).unwrap();
            mine.clear().unwrap();
            assert_eq!(Cache::<u8>::get(&other, "k").unwrap(), Some(2));
            assert_eq!(other.count().unwrap(), 2);
        }
    }

    #[test]
    fn foreign_keys_are_left_alone() {
        let p = unique_prefix("foreign");
        let c = cache(&p);
        let outside = format!("x{p}k");
        shared_server()
            .query(&["SET", &outside, "not ours"])
            .expect("a reply of the test server");
        // Under our prefix but no UTF-8 key: no pattern matches it, clear removes it.
        let mut odd = p.clone().into_bytes();
        odd.push(0xff);
        shared_server()
            .query(&[b"SET".as_slice(), &odd, b"?"])
            .expect("a reply of the test server");
        c.set("k", 1u8, Ttl::Never).unwrap();
        assert_eq!(c.count().unwrap(), 2);
        assert_eq!(c.delete_pattern("*").unwrap(), 1);
        assert_eq!(c.count().unwrap(), 1);
        c.clear().unwrap();
        assert_eq!(c.count().unwrap(), 0);
        assert_eq!(
            shared_server()
                .query(&["GET", &outside])
                .expect("a reply of the test server")
                .text(),
            "not ours"
        );
    }

    #[test]
    fn patterns_with_many_wildcards_still_match() {
        let c = cache(&unique_prefix("stars"));
        let many = "a*".repeat(1500);
        c.set(&"a".repeat(1500), 1u8, Ttl::Never).unwrap();
        c.set(&"a".repeat(1499), 1u8, Ttl::Never).unwrap();
        c.set(&format!("b{}", "a".repeat(1500)), 1u8, Ttl::Never)
            .unwrap();
        c.set("short", 1u8, Ttl::Never).unwrap();
        assert_eq!(c.delete_pattern(&many).unwrap(), 1);
        // At least 100 characters: the two long keys left, not "short".
        assert_eq!(c.delete_pattern(&"?*".repeat(100)).unwrap(), 2);
        assert_eq!(c.count().unwrap(), 1);
    }

    #[test]
    fn an_empty_prefix_is_allowed() {
        let c = cache("");
        assert_eq!(c.key_prefix(), "");
        let key = unique_prefix("no-prefix");
        c.set(&key, 7u32, Ttl::Never).unwrap();
        assert_eq!(
            shared_server()
                .query(&["EXISTS", &key])
                .expect("a reply of the test server")
                .int(),
            Some(1)
        );
        assert!(c.delete(&key).unwrap());
    }
}
