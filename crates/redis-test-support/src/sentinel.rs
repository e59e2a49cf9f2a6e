//! A primary, its replicas and the sentinels that watch them.

use std::time::{Duration, Instant};

use crate::{Options, RedisServer, READY_TIMEOUT};

/// How long the sentinels wait before they call an unanswering primary down. Short, so that
/// failover tests take seconds.
const DOWN_AFTER_MS: u32 = 1000;

/// How long a failover may take before the sentinels try another (their minimum is enforced
/// by the sentinels themselves).
const FAILOVER_TIMEOUT_MS: u32 = 5000;

/// One primary (`servers()[0]` at start), its replicas, and sentinels monitoring it under
/// the name [`SentinelGroup::MASTER_NAME`] with a quorum of a majority of them. The
/// sentinels call the primary down after 1 s without an answer.
///
/// ```no_run
/// let group = redis_test_support::SentinelGroup::start(1, 3);
/// let primary = group.primary();
/// group.servers()[primary].kill();
/// let new_primary = group.wait_for_promotion(primary);
/// assert_ne!(new_primary, primary);
/// ```
pub struct SentinelGroup {
    servers: Vec<RedisServer>,
    sentinels: Vec<RedisServer>,
}

impl SentinelGroup {
    /// The name the sentinels know the primary by.
    pub const MASTER_NAME: &'static str = "cache-primary";

    /// Starts a primary, `replicas` replicas of it and `sentinels` sentinels (at least 1),
    /// and waits until the replicas are in sync and every sentinel knows every replica and
    /// every other sentinel.
    ///
    /// # Panics
    /// When a process cannot be started or the group does not settle within 20 s.
    pub fn start(replicas: usize, sentinels: usize) -> SentinelGroup {
        assert!(sentinels >= 1, "a sentinel group needs a sentinel");
        let primary = RedisServer::start();
        let primary_port = primary.port().to_string();
        let mut servers = vec![primary];
        for _ in 0..replicas {
            servers.push(RedisServer::start_with(
                &["--replicaof", "127.0.0.1", &primary_port],
                false,
            ));
        }
        let quorum = sentinels / 2 + 1;
        let name = Self::MASTER_NAME;
        let config = format!(
            "sentinel monitor {name} 127.0.0.1 {primary_port} {quorum}\n\
             sentinel down-after-milliseconds {name} {DOWN_AFTER_MS}\n\
             sentinel failover-timeout {name} {FAILOVER_TIMEOUT_MS}\n\
             sentinel parallel-syncs {name} 1\n"
        );
        let sentinels = (0..sentinels)
            .map(|_| {
                RedisServer::start_full(&Options {
                    extra: vec!["--sentinel".into()],
                    config_file: Some(config.clone()),
                    ..Options::default()
                })
            })
            .collect();
        let group = SentinelGroup { servers, sentinels };
        group.wait_settled(replicas);
        group
    }

    fn wait_settled(&self, replicas: usize) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let synced = format!("connected_slaves:{replicas}");
        let others = (self.sentinels.len() - 1).to_string();
        let replicas = replicas.to_string();
        loop {
            let primary_ok = self.servers[0]
                .query(&["INFO", "replication"])
                .is_ok_and(|r| r.text().contains(&synced));
            let sentinels_ok = self.sentinels.iter().all(|s| {
                s.query(&["SENTINEL", "MASTER", Self::MASTER_NAME])
                    .is_ok_and(|r| {
                        let fields = pairs(&r);
                        field(&fields, "num-slaves") == Some(replicas.as_str())
                            && field(&fields, "num-other-sentinels") == Some(others.as_str())
                    })
            });
            if primary_ok && sentinels_ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the sentinel group did not settle within {READY_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The primary and the replicas; the primary is at index 0 until a failover.
    ///
    /// ```no_run
    /// assert_eq!(redis_test_support::SentinelGroup::start(1, 1).servers().len(), 2);
    /// ```
    pub fn servers(&self) -> &[RedisServer] {
        &self.servers
    }

    /// The sentinels.
    ///
    /// ```no_run
    /// assert_eq!(redis_test_support::SentinelGroup::start(1, 3).sentinels().len(), 3);
    /// ```
    pub fn sentinels(&self) -> &[RedisServer] {
        &self.sentinels
    }

    /// The sentinels' URLs, to build a sentinel client from.
    ///
    /// ```no_run
    /// assert!(redis_test_support::SentinelGroup::start(1, 3).sentinel_urls()[0].starts_with("redis://"));
    /// ```
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(RedisServer::url).collect()
    }

    /// The index in [`SentinelGroup::servers`] of the server the first answering sentinel
    /// names as the primary.
    ///
    /// # Panics
    /// When no sentinel answers, or it names no server of this group.
    ///
    /// ```no_run
    /// assert_eq!(redis_test_support::SentinelGroup::start(1, 1).primary(), 0);
    /// ```
    pub fn primary(&self) -> usize {
        self.sentinels
            .iter()
            .find_map(|s| self.named_primary(s))
            .expect("no sentinel names a primary of this group")
    }

    fn named_primary(&self, sentinel: &RedisServer) -> Option<usize> {
        let reply = sentinel
            .query(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", Self::MASTER_NAME])
            .ok()?;
        let port: u16 = reply.items().get(1)?.text().parse().ok()?;
        self.servers.iter().position(|s| s.port() == port)
    }

    /// Waits until every sentinel that answers names a primary other than `old`, and that
    /// server says it is a primary; returns its index.
    ///
    /// # Panics
    /// When that takes longer than 30 s.
    ///
    /// ```no_run
    /// let group = redis_test_support::SentinelGroup::start(1, 3);
    /// group.servers()[0].kill();
    /// assert_eq!(group.wait_for_promotion(0), 1);
    /// ```
    pub fn wait_for_promotion(&self, old: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let named: Vec<Option<usize>> = self
                .sentinels
                .iter()
                .filter(|s| s.pid().is_some())
                .map(|s| self.named_primary(s))
                .collect();
            if let Some(Some(new)) = named.first() {
                let agreed = named.iter().all(|n| *n == Some(*new));
                let is_primary = self.servers[*new]
                    .query(&["ROLE"])
                    .is_ok_and(|r| r.items().first().is_some_and(|f| f.text() == "master"));
                if *new != old && agreed && is_primary {
                    return *new;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no replica was promoted within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The field-value pairs of a flat array reply.
fn pairs(reply: &crate::Reply) -> Vec<(String, String)> {
    reply
        .items()
        .chunks(2)
        .filter_map(|kv| match kv {
            [k, v] => Some((k.text(), v.text())),
            _ => None,
        })
        .collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
