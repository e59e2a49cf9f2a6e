//! Single-key commands of [`AsyncRedisCache`](crate::AsyncRedisCache) on a cluster, sent
//! straight to the primary that owns the key's slot, on one multiplexed connection per
//! primary: the commands of every task pipeline on it, gathered in rounds (`coalesce.rs`),
//! with no hop through the task of redis's cluster client (which handles every request of a connection in turn, and held
//! a cluster `get` at 64 tasks to about two thirds of fred's rate).
//!
//! The slot map is read once (`CLUSTER SLOTS`, through the cluster client). A command
//! that a node redirects (`MOVED`, `ASK`: a slot migration) is sent where the redirection
//! says ([`SlotRouter::follow`], `ASKING` first for an `ASK`), and so is one that the
//! cluster client passes on redirected once its own retries ran out: a routine migration
//! never reaches the caller. Anything else out of the ordinary goes to redis's cluster
//! client, which reconnects and refreshes its own map: a command whose key this module
//! cannot name, any command while there is no map, and a command refused by a replica
//! (`READONLY`) or whose connection failed. A redirection or such a failure drops the map,
//! and a new one is read in the background (at most once a second), so that after a
//! failover or a resharding commands go straight to the new owners again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{
    Arg, AsyncConnectionConfig, Cmd, ErrorKind, FromRedisValue, RedisError, RedisResult,
    ServerErrorKind, Value,
};

use super::coalesce::Coalescer;
use crate::connection::{NodeClients, Timeouts};

const SLOTS: usize = 16384;
/// A slot that no primary serves in the map.
const UNASSIGNED: u16 = u16::MAX;
/// The least time between two readings of the slot map.
const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// The most redirections one command follows (a slot that moves again meanwhile).
const MAX_REDIRECTS: usize = 5;
/// The most connections kept to nodes met through redirections (more: all are dropped).
const MAX_REDIRECTED_NODES: usize = 64;

/// The commands whose only key (or whose keys, all in one slot) come right after the name.
const KEY_FIRST: [&[u8]; 9] = [
    b"GET", b"SET", b"UNLINK", b"DEL", b"EXISTS", b"PTTL", b"PEXPIRE", b"PERSIST", b"INCRBY",
];

/// The slot map and the connections to the primaries, shared by every clone of a link.
pub(crate) struct SlotRouter {
    routes: RwLock<Option<Arc<Routes>>>,
    /// A reading of the map is under way.
    refreshing: AtomicBool,
    /// When the map was last read (successfully or not).
    last_refresh: Mutex<Option<Instant>>,
    clients: NodeClients,
    config: AsyncConnectionConfig,
    /// Bounds a reading of the map, connecting included.
    limit: Duration,
    cluster: ClusterConnection,
    /// Connections to the nodes that redirections named, by host and port.
    redirected: Mutex<HashMap<(String, u16), MultiplexedConnection>>,
}

/// One reading of the slot map.
struct Routes {
    /// The index in `nodes` of each slot's primary, or [`UNASSIGNED`].
    slots: Box<[u16]>,
    nodes: Vec<Arc<Coalescer<MultiplexedConnection>>>,
}

impl SlotRouter {
    /// A router over `cluster`'s primaries, with its first map read (without one, commands
    /// go through `cluster` until a later reading succeeds).
    pub(crate) async fn new(
        cluster: ClusterConnection,
        clients: NodeClients,
        timeouts: Timeouts,
    ) -> Arc<Self> {
        let router = Arc::new(SlotRouter {
            routes: RwLock::new(None),
            refreshing: AtomicBool::new(false),
            last_refresh: Mutex::new(None),
            clients,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeouts.connect))
                .set_response_timeout(Some(timeouts.read)),
            limit: timeouts.call,
            cluster,
            redirected: Mutex::new(HashMap::new()),
        });
        router.refresh().await;
        router
    }

    /// `cmd`'s reply from the primary of its key's slot; `None` when the cluster client
    /// must send it (see the module's documentation). A timeout is answered, not passed
    /// on: the cluster client would only wait as long again.
    pub(crate) async fn query<T: FromRedisValue>(
        self: &Arc<Self>,
        cmd: &Cmd,
    ) -> Option<RedisResult<T>> {
        let key = key_of(cmd)?;
        let node = self
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(|routes| routes.node_of(key).cloned());
        let Some(node) = node else {
            self.refresh_soon();
            return None;
        };
        match node.query::<T>(cmd).await {
            Err(e) if e.redirect_node().is_some() => {
                self.invalidate();
                Some(self.follow(cmd, e).await)
            }
            Err(e) if off_route(&e) => {
                self.invalidate();
                e.is_timeout().then_some(Err(e))
            }
            reply => Some(reply),
        }
    }

    /// `cmd`'s reply, after a node answered it with the redirection `e` (`MOVED`: the slot
    /// has a new owner; `ASK`: this key has moved already, while the slot is migrating):
    /// sent to the node named, after `ASKING` for an `ASK`, and so on for at most
    /// [`MAX_REDIRECTS`] redirections. A slot migration is routine: its redirections are
    /// followed, not passed on, while the new owner answers. Any other error is returned.
    pub(crate) async fn follow<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        mut e: RedisError,
    ) -> RedisResult<T> {
        for _ in 0..MAX_REDIRECTS {
            let Some((addr, _slot)) = e.redirect_node() else {
                return Err(e);
            };
            let Some(node) = parse_address(addr) else {
                return Err(e);
            };
            let asking = e.kind() == ErrorKind::Server(ServerErrorKind::Ask);
            let mut conn = self.redirected_to(&node).await?;
            let reply = if asking {
                let mut pipe = redis::pipe();
                pipe.cmd("ASKING").ignore().add_command(cmd.clone());
                pipe.query_async::<(T,)>(&mut conn).await.map(|(v,)| v)
            } else {
                cmd.query_async::<T>(&mut conn).await
            };
            match reply {
                Err(next) if next.redirect_node().is_some() => e = next,
                Err(next) => {
                    if breaks(&next) {
                        self.redirected
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .remove(&node);
                    }
                    return Err(next);
                }
                ok => return ok,
            }
        }
        Err(e)
    }

    /// A connection to the node at `node`, met through a redirection: the one opened
    /// before, or a new one.
    async fn redirected_to(&self, node: &(String, u16)) -> RedisResult<MultiplexedConnection> {
        let known = self
            .redirected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(node)
            .cloned();
        if let Some(conn) = known {
            return Ok(conn);
        }
        let client = self.clients.client(&node.0, node.1)?;
        let conn = client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        let mut redirected = self
            .redirected
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if redirected.len() >= MAX_REDIRECTED_NODES {
            redirected.clear();
        }
        redirected.insert(node.clone(), conn.clone());
        Ok(conn)
    }

    /// Whether there is a map now.
    #[cfg(test)]
    pub(crate) fn has_routes(&self) -> bool {
        self.routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Forgets the map (commands go through the cluster client) and reads it again soon.
    fn invalidate(self: &Arc<Self>) {
        *self.routes.write().unwrap_or_else(PoisonError::into_inner) = None;
        self.refresh_soon();
    }

    /// Reads the map again in the background, unless that is under way or was done less
    /// than [`REFRESH_EVERY`] ago.
    fn refresh_soon(self: &Arc<Self>) {
        let due = self
            .last_refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none_or(|at| at.elapsed() >= REFRESH_EVERY);
        if !due || self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.refreshing.store(false, Ordering::Release);
            return;
        };
        let router = Arc::clone(self);
        runtime.spawn(async move {
            router.refresh().await;
            router.refreshing.store(false, Ordering::Release);
        });
    }

    /// Reads the map and connects to its primaries; on failure leaves no map.
    async fn refresh(&self) {
        *self
            .last_refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        let routes = tokio::time::timeout(self.limit, self.discover()).await;
        let routes = match routes {
            Ok(Ok(routes)) => routes.map(Arc::new),
            _ => None,
        };
        *self.routes.write().unwrap_or_else(PoisonError::into_inner) = routes;
    }

    /// The current map (`None` for one this module does not follow, such as a node known
    /// by no host name), with a connection to each primary.
    async fn discover(&self) -> RedisResult<Option<Routes>> {
        let mut slots_cmd = redis::cmd("CLUSTER");
        slots_cmd.arg("SLOTS");
        let random = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
        let reply = self
            .cluster
            .clone()
            .route_command(slots_cmd, random)
            .await?;
        let Some(ranges) = slot_ranges(reply) else {
            return Ok(None);
        };
        let mut addrs: Vec<(String, u16)> = Vec::new();
        let mut slots = vec![UNASSIGNED; SLOTS].into_boxed_slice();
        for (start, end, addr) in ranges {
            let index = match addrs.iter().position(|a| *a == addr) {
                Some(i) => i,
                None => {
                    addrs.push(addr);
                    addrs.len() - 1
                }
            };
            slots[start..=end].fill(index as u16);
        }
        let connecting = addrs.iter().map(|(host, port)| async move {
            let client = self.clients.client(host, *port)?;
            let conn = client
                .get_multiplexed_async_connection_with_config(&self.config)
                .await?;
            Ok::<_, RedisError>(Coalescer::new(conn))
        });
        let nodes = futures_util::future::try_join_all(connecting).await?;
        Ok(Some(Routes { slots, nodes }))
    }
}

impl Routes {
    fn node_of(&self, key: &[u8]) -> Option<&Arc<Coalescer<MultiplexedConnection>>> {
        self.nodes.get(usize::from(self.slots[slot_of(key)]))
    }
}

/// The slot of `key`: CRC16 (XMODEM) of its hash tag (what is between its first `{` and the
/// next `}`, if not empty) or else of the whole key, modulo 16384, as Redis Cluster defines
/// it. (redis's `Slot` computes the same but does not give its number.)
fn slot_of(key: &[u8]) -> usize {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            rest.iter()
                .position(|&b| b == b'}')
                .map(|close| &rest[..close])
        })
        .filter(|tag| !tag.is_empty());
    let crc = tagged.unwrap_or(key).iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16[usize::from((crc >> 8) as u8 ^ b)]
    });
    usize::from(crc) % SLOTS
}

/// CRC16-XMODEM (polynomial 0x1021) of each byte value.
const CRC16: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// The key that routes `cmd`: the first argument of the commands of [`KEY_FIRST`], the
/// key of a script called on one key; `None` for any other command.
fn key_of(cmd: &Cmd) -> Option<&[u8]> {
    let mut args = cmd.args_iter().map(|arg| match arg {
        Arg::Simple(a) => Some(a),
        _ => None,
    });
    let name = args.next()??;
    if name.eq_ignore_ascii_case(b"EVALSHA") || name.eq_ignore_ascii_case(b"EVAL") {
        let _script = args.next()??;
        let keys = args.next()??;
        return if keys == b"1" { args.next()? } else { None };
    }
    if KEY_FIRST.iter().any(|c| name.eq_ignore_ascii_case(c)) {
        args.next()?
    } else {
        None
    }
}

/// Whether `e` means that the map or the connection is wrong: a redirection, a replica,
/// a cluster that is down for that slot, a failed connection.
fn off_route(e: &RedisError) -> bool {
    e.is_cluster_error()
        || e.is_io_error()
        || e.is_connection_dropped()
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
                | ErrorKind::ClusterConnectionNotFound
        )
}

/// Whether `e` leaves the connection it happened on suspect.
fn breaks(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

/// The host and port of a redirection's `host:port` (an IPv6 host may be bracketed).
fn parse_address(addr: &str) -> Option<(String, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.parse().ok()?;
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

/// A range of slots and its primary: `(first, last, (host, port))`.
type SlotRange = (usize, usize, (String, u16));

/// The primaries' slot ranges in a `CLUSTER SLOTS` reply.
/// `None` if a range is malformed or names its node by no host (`""` or `?`).
fn slot_ranges(reply: Value) -> Option<Vec<SlotRange>> {
    let ranges: Vec<Value> = FromRedisValue::from_redis_value(reply).ok()?;
    ranges
        .into_iter()
        .map(|range| {
            let fields: Vec<Value> = FromRedisValue::from_redis_value(range).ok()?;
            let mut fields = fields.into_iter();
            let start: usize = FromRedisValue::from_redis_value(fields.next()?).ok()?;
            let end: usize = FromRedisValue::from_redis_value(fields.next()?).ok()?;
            let primary: Vec<Value> = FromRedisValue::from_redis_value(fields.next()?).ok()?;
            let mut primary = primary.into_iter();
            let host: String = FromRedisValue::from_redis_value(primary.next()?).ok()?;
            let port: u16 = FromRedisValue::from_redis_value(primary.next()?).ok()?;
            let known = !host.is_empty() && host != "?" && start <= end && end < SLOTS;
            known.then_some((start, end, (host, port)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::cluster_routing::Slot;

    #[test]
    fn slots_are_redis_clusters() {
        for key in [
            &b""[..],
            b"a",
            b"123456789",
            b"cache:user:1",
            b"{user}:1",
            b"x{user}:2",
            b"{}x",
            b"{a",
            b"a}{b}",
            "caf\u{e9}\0\n".as_bytes(),
        ] {
            let ours = Slot::new(slot_of(key) as u16).expect("a slot");
            assert_eq!(ours, Slot::for_key(key), "{key:?}");
        }
        // The check value of CRC16-XMODEM.
        assert_eq!(slot_of(b"123456789"), 0x31C3);
        assert_eq!(slot_of(b"x{user}:2"), slot_of(b"user"));
    }

    #[test]
    fn the_key_of_each_routed_command_is_found() {
        let key = b"cache:k".as_slice();
        let mut script = redis::cmd("EVALSHA");
        script.arg("abc").arg(1).arg(key).arg(5);
        assert_eq!(key_of(&script), Some(key));
        assert_eq!(key_of(redis::cmd("GET").arg(key)), Some(key));
        assert_eq!(key_of(redis::cmd("set").arg(key).arg("v")), Some(key));
        // No key, or keys this module does not route: the cluster client's.
        assert_eq!(key_of(&redis::cmd("PING")), None);
        assert_eq!(key_of(redis::cmd("MGET").arg(key)), None);
        assert_eq!(key_of(redis::cmd("EVAL").arg("return 1").arg(0)), None);
        assert_eq!(
            key_of(redis::cmd("EVAL").arg("s").arg(2).arg(key).arg(key)),
            None
        );
    }

    /// On a cluster, plain and over TLS: the map is read at once, the nodes are reached
    /// through it (their TLS settings and certificates included), and a command a node
    /// redirects drops the map, which is read again.
    #[test]
    fn commands_go_straight_to_the_primaries_and_a_redirection_rereads_the_map() {
        use crate::{AsyncRedisCache, RedisConfig, TlsCertificates};
        use cache_core::{AsyncCache, Ttl};
        use redis_test_support::{RedisCluster, TestCertificates};

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let plain = RedisCluster::start(3);
        let certificates = TestCertificates::generate();
        let tls = RedisCluster::start_tls(3, &certificates);
        let configs = [
            RedisConfig::cluster(plain.urls()),
            RedisConfig::cluster(tls.tls_urls())
                .tls(TlsCertificates::default().ca_cert(certificates.ca_pem.clone())),
        ];
        for config in configs {
            rt.block_on(async {
                let cache = AsyncRedisCache::new(config.key_prefix("route:"))
                    .await
                    .unwrap();
                assert!(cache.routes_directly());
                for i in 0..50 {
                    let key = format!("k{i}");
                    cache.set(&key, i, Ttl::Never).await.unwrap();
                    assert_eq!(AsyncCache::<i64>::get(&cache, &key).await.unwrap(), Some(i));
                    assert_eq!(cache.incr(&format!("n{i}"), 3).await.unwrap(), 3);
                }
                assert!(cache.routes_directly());
                // A map that sends every slot to one node: most commands are redirected,
                // still answered right (by the cluster client), and the map read again.
                let router = cache.inner_router();
                let wrong = {
                    let routes = router.routes.read().unwrap();
                    let routes = routes.as_ref().unwrap();
                    Routes {
                        slots: vec![0; SLOTS].into_boxed_slice(),
                        nodes: routes.nodes.clone(),
                    }
                };
                *router.last_refresh.lock().unwrap() = None;
                *router.routes.write().unwrap() = Some(Arc::new(wrong));
                for i in 0..50 {
                    let key = format!("k{i}");
                    assert_eq!(AsyncCache::<i64>::get(&cache, &key).await.unwrap(), Some(i));
                }
                let deadline = Instant::now() + Duration::from_secs(10);
                while !(cache.routes_directly()
                    && router.routes.read().unwrap().as_ref().unwrap().slots[..] != [0; SLOTS][..])
                {
                    assert!(Instant::now() < deadline, "the map is read again");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                AsyncCache::<i64>::clear(&cache).await.unwrap();
            });
        }
    }

    #[test]
    fn redirection_addresses_are_parsed() {
        assert_eq!(
            parse_address("127.0.0.1:7000"),
            Some(("127.0.0.1".to_owned(), 7000))
        );
        assert_eq!(parse_address("[::1]:7001"), Some(("::1".to_owned(), 7001)));
        assert_eq!(parse_address(":7000"), None);
        assert_eq!(parse_address("host"), None);
        assert_eq!(parse_address("host:port"), None);
    }

    #[test]
    fn slot_ranges_are_read_and_anonymous_nodes_refused() {
        let node = |host: &str, port: i64| {
            Value::Array(vec![
                Value::BulkString(host.into()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let range = |a: i64, b: i64, host: &str| {
            Value::Array(vec![
                Value::Int(a),
                Value::Int(b),
                node(host, 7000),
                node("r", 1),
            ])
        };
        let reply = Value::Array(vec![range(0, 99, "h1"), range(100, 16383, "h2")]);
        assert_eq!(
            slot_ranges(reply),
            Some(vec![
                (0, 99, ("h1".to_owned(), 7000)),
                (100, 16383, ("h2".to_owned(), 7000))
            ])
        );
        assert_eq!(slot_ranges(Value::Array(vec![range(0, 9, "")])), None);
        assert_eq!(slot_ranges(Value::Array(vec![range(0, 16384, "h")])), None);
        assert_eq!(slot_ranges(Value::Int(3)), None);
    }
}
