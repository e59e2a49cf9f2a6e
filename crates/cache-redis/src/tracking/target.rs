//! Which servers a subscription listens to: the one server, the primary the sentinels name
//! (looked up again at every reconnection, so a failover is followed), or every primary of a
//! cluster (read from `CLUSTER SLOTS`, and read again while listening: a change of the
//! primaries ends the round).

use std::sync::Arc;

use cache_core::CacheError;
use redis::{Connection, RedisResult};

use crate::config::RedisConfig;
use crate::connection::sentinel::Sentinels;
use crate::connection::{open, Connector, Timeouts};

/// A server's host and port.
pub(super) type Address = (String, u16);

/// A connection to every server that takes writes, each with its address for messages,
/// and, on a cluster, the primaries they are on.
pub(super) type Connections = (Vec<(String, Connection)>, Option<Vec<Address>>);

/// Where the cache's writes go.
pub(crate) enum Target {
    Single(redis::Client),
    Sentinel(Arc<Sentinels>),
    #[cfg(feature = "cluster")]
    Cluster(cluster::Cluster),
}

impl Target {
    pub(super) fn new<C>(
        config: &RedisConfig<C>,
        connector: &Connector,
    ) -> Result<Self, CacheError> {
        #[cfg(not(feature = "cluster"))]
        let _ = config;
        match connector {
            Connector::Single(client) => Ok(Target::Single(client.clone())),
            Connector::Sentinel(sentinels) => Ok(Target::Sentinel(Arc::clone(sentinels))),
            #[cfg(feature = "cluster")]
            Connector::Cluster(_) => Ok(Target::Cluster(cluster::Cluster::new(config)?)),
        }
    }

    /// A connection to every server that takes the cache's writes, with its address, each
    /// opened within `timeouts`; on a cluster, also its primaries.
    pub(super) fn connections(&self, timeouts: Timeouts) -> RedisResult<Connections> {
        match self {
            Target::Single(client) => {
                let addr = client.get_connection_info().addr().to_string();
                Ok((vec![(addr, open(client, timeouts)?)], None))
            }
            Target::Sentinel(sentinels) => {
                let conn = sentinels.connect(timeouts)?;
                Ok((vec![(format!("primary {}", sentinels.name()), conn)], None))
            }
            #[cfg(feature = "cluster")]
            Target::Cluster(cluster) => cluster.connections(timeouts),
        }
    }

    /// What watches for a change of the primaries listened to (`primaries`, on a cluster).
    pub(super) fn checker(&self, primaries: Option<Vec<Address>>) -> Checker<'_> {
        match (self, primaries) {
            #[cfg(feature = "cluster")]
            (Target::Cluster(cluster), Some(primaries)) => Checker {
                watch: Some((cluster, primaries, None)),
            },
            _ => Checker {
                #[cfg(feature = "cluster")]
                watch: None,
                #[cfg(not(feature = "cluster"))]
                _none: std::marker::PhantomData,
            },
        }
    }
}

/// Reads a cluster's primaries again (on a side connection of its own, kept between
/// readings) and tells whether they changed. One server or sentinels: never.
pub(super) struct Checker<'a> {
    /// The cluster, the primaries listened to, the side connection.
    #[cfg(feature = "cluster")]
    watch: Option<(&'a cluster::Cluster, Vec<Address>, Option<Connection>)>,
    #[cfg(not(feature = "cluster"))]
    _none: std::marker::PhantomData<&'a ()>,
}

impl Checker<'_> {
    /// Whether the cluster's primaries are no longer those listened to. A reading that
    /// fails says nothing (a lost primary is its listener's news).
    pub(super) fn changed(&mut self, timeouts: Timeouts) -> bool {
        #[cfg(feature = "cluster")]
        if let Some((cluster, primaries, side)) = &mut self.watch {
            if side.is_none() {
                *side = cluster.side(primaries, timeouts);
            }
            let Some(conn) = side.as_mut() else {
                return false;
            };
            return match cluster::primaries_of(conn, None) {
                Ok(now) => now != *primaries,
                Err(_) => {
                    *side = None;
                    false
                }
            };
        }
        let _ = timeouts;
        false
    }
}

#[cfg(feature = "cluster")]
pub(super) mod cluster {
    use super::*;
    use crate::config::RedisTopology;
    use crate::connection::{client_of, NodeClients};

    /// A cluster's seed nodes (the configured ones) and how to reach any node.
    pub(crate) struct Cluster {
        seeds: Vec<redis::Client>,
        nodes: NodeClients,
    }

    impl Cluster {
        pub(super) fn new<C>(config: &RedisConfig<C>) -> Result<Self, CacheError> {
            let RedisTopology::Cluster(urls) = &config.topology else {
                return Err(CacheError::config("not a cluster configuration"));
            };
            let seeds = urls
                .iter()
                .map(|url| client_of(url, &config.tls))
                .collect::<Result<Vec<_>, _>>()?;
            let nodes = NodeClients::of(config)?
                .ok_or_else(|| CacheError::config("a Redis cluster needs at least one node"))?;
            Ok(Cluster { seeds, nodes })
        }

        /// A connection to every primary, and the primaries.
        pub(super) fn connections(&self, timeouts: Timeouts) -> RedisResult<Connections> {
            let primaries = self.primaries(timeouts)?;
            let conns = primaries
                .iter()
                .map(|(host, port)| {
                    let client = self.nodes.client(host, *port)?;
                    Ok((format!("{host}:{port}"), open(&client, timeouts)?))
                })
                .collect::<RedisResult<Vec<_>>>()?;
            Ok((conns, Some(primaries)))
        }

        /// The primaries, as the first seed that answers names them.
        fn primaries(&self, timeouts: Timeouts) -> RedisResult<Vec<Address>> {
            let mut last = None;
            for seed in &self.seeds {
                let host = match seed.get_connection_info().addr() {
                    redis::ConnectionAddr::Tcp(h, _)
                    | redis::ConnectionAddr::TcpTls { host: h, .. } => Some(h.clone()),
                    _ => None,
                };
                match open(seed, timeouts).and_then(|mut c| primaries_of(&mut c, host)) {
                    Ok(primaries) => return Ok(primaries),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| {
                redis::RedisError::from((redis::ErrorKind::Client, "no cluster node configured"))
            }))
        }

        /// A side connection for readings of the slot map: to a primary listened to, else a
        /// seed; `None` when none connects.
        pub(super) fn side(&self, primaries: &[Address], timeouts: Timeouts) -> Option<Connection> {
            let listened = primaries
                .iter()
                .filter_map(|(host, port)| self.nodes.client(host, *port).ok());
            listened
                .chain(self.seeds.iter().cloned())
                .find_map(|client| open(&client, timeouts).ok())
        }
    }

    /// The primaries that `CLUSTER SLOTS` on `conn` names, sorted, each once (a node with
    /// no host name is `asked`, the host `conn` is on).
    pub(super) fn primaries_of(
        conn: &mut Connection,
        asked: Option<String>,
    ) -> RedisResult<Vec<Address>> {
        let ranges: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER").arg("SLOTS").query(conn)?;
        let mut primaries = parse_primaries(ranges, asked.as_deref()).ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Client, "CLUSTER SLOTS of unknown form"))
        })?;
        primaries.sort();
        primaries.dedup();
        Ok(primaries)
    }

    fn parse_primaries(
        ranges: Vec<Vec<redis::Value>>,
        asked: Option<&str>,
    ) -> Option<Vec<Address>> {
        use redis::FromRedisValue;
        ranges
            .into_iter()
            .map(|range| {
                let node: Vec<redis::Value> =
                    FromRedisValue::from_redis_value(range.into_iter().nth(2)?).ok()?;
                let mut node = node.into_iter();
                let host: String = FromRedisValue::from_redis_value(node.next()?).ok()?;
                let port: u16 = FromRedisValue::from_redis_value(node.next()?).ok()?;
                let host = if host.is_empty() || host == "?" {
                    asked?.to_owned()
                } else {
                    host
                };
                Some((host, port))
            })
            .collect()
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use redis::Value;

        fn range(a: i64, b: i64, host: &str, port: i64) -> Vec<Value> {
            let node = Value::Array(vec![
                Value::BulkString(host.into()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ]);
            vec![Value::Int(a), Value::Int(b), node]
        }

        #[test]
        fn the_primaries_of_a_slot_map() {
            let ranges = vec![
                range(0, 9, "h1", 7000),
                range(10, 19, "", 7001),
                range(20, 29, "h1", 7000),
            ];
            assert_eq!(
                parse_primaries(ranges.clone(), Some("h0")),
                Some(vec![
                    ("h1".to_owned(), 7000),
                    ("h0".to_owned(), 7001),
                    ("h1".to_owned(), 7000)
                ])
            );
            assert_eq!(parse_primaries(ranges, None), None);
            assert_eq!(parse_primaries(vec![vec![Value::Int(1)]], None), None);
        }
    }
}
