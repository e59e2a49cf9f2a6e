//! Connections to one server, a cluster or a sentinel-watched primary, behind one
//! interface, and their r2d2 manager.
//!
//! [`Connector::from_config`] is the one place where a [`RedisConfig`] becomes `redis`
//! clients (URLs, TLS certificates, sentinel lookup, cluster options): an async backend
//! builds its connections from the same clients.

use std::cell::Cell;
#[cfg(feature = "cluster")]
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use cache_core::CacheError;
#[cfg(feature = "cluster")]
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConnection};
#[cfg(feature = "cluster")]
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo, Slot};
use redis::io::tcp::TcpSettings;
#[cfg(feature = "cluster")]
use redis::Value;
use redis::{
    Arg, Cmd, ConnectionAddr, ConnectionInfo, ConnectionLike, FromRedisValue, IntoConnectionInfo,
    RedisError, RedisResult, RedisWrite,
};

use crate::config::{redact, RedisConfig, RedisTopology, TlsCertificates};
use crate::keys::KeySpace;
use crate::sentinel::Sentinels;

/// The timeouts every connection is opened with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) read: Duration,
    pub(crate) write: Duration,
}

impl Timeouts {
    pub(crate) fn of<C>(config: &RedisConfig<C>) -> Self {
        Timeouts {
            connect: config.connect_timeout,
            read: config.read_timeout,
            write: config.write_timeout,
        }
    }
}

/// What opens connections: a client for one server, for a cluster, or for the primary that
/// sentinels name (asked again for every new connection, so a failover is followed).
// One per cache, built once: the size of its largest variant (a client with TLS parameters)
// costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum Connector {
    Single(redis::Client),
    #[cfg(feature = "cluster")]
    Cluster(ClusterClient),
    Sentinel(Arc<Sentinels>),
}

impl Connector {
    /// The clients `config` describes, and a name of the server(s) for messages ("redis
    /// host:port", "redis cluster host:port,...", "redis sentinel NAME via host:port,...").
    ///
    /// # Errors
    /// [`CacheError::Config`] for a malformed URL, certificates that do not parse, TLS
    /// asked for without the `tls-rustls` feature, or certificates without `rediss://`.
    pub(crate) fn from_config<C>(
        config: &RedisConfig<C>,
    ) -> Result<(Connector, String), CacheError> {
        match &config.topology {
            RedisTopology::Standalone(url) => {
                let info = parse(url)?;
                let server = format!("redis {}", info.addr());
                if !is_tls(info.addr()) {
                    no_certificates(&config.tls, url)?;
                }
                let client = client(info, &config.tls).map_err(|e| invalid(url, e))?;
                Ok((Connector::Single(client), server))
            }
            #[cfg(not(feature = "cluster"))]
            RedisTopology::Cluster(_) => Err(CacheError::config(
                "a Redis cluster needs the `cluster` feature of cache-redis \
                 (`redis-cluster` of the cache facade)",
            )),
            #[cfg(feature = "cluster")]
            RedisTopology::Cluster(nodes) => {
                if nodes.is_empty() {
                    return Err(CacheError::config(
                        "a Redis cluster needs at least one node",
                    ));
                }
                let infos = nodes
                    .iter()
                    .map(|n| parse(n))
                    .collect::<Result<Vec<_>, _>>()?;
                let tls = infos.iter().any(|i| is_tls(i.addr()));
                if !tls {
                    no_certificates(&config.tls, &nodes[0])?;
                }
                let addrs: Vec<String> = infos.iter().map(|i| i.addr().to_string()).collect();
                let mut builder = ClusterClientBuilder::new(infos)
                    .tcp_settings(tcp_settings())
                    .connection_timeout(config.connect_timeout)
                    .response_timeout(config.read_timeout)
                    .retries(config.cluster_retries)
                    .min_retry_wait(10)
                    .max_retry_wait(100);
                if tls {
                    builder = tls::cluster(builder, &config.tls)?;
                }
                let client = builder
                    .build()
                    .map_err(|e| CacheError::config(format!("invalid Redis cluster: {e}")))?;
                Ok((
                    Connector::Cluster(client),
                    format!("redis cluster {}", addrs.join(",")),
                ))
            }
            RedisTopology::Sentinel(topology) => {
                let sentinels = Sentinels::new(topology, &config.tls)?;
                let server = format!(
                    "redis sentinel {} via {}",
                    sentinels.name(),
                    sentinels.addresses().join(",")
                );
                Ok((Connector::Sentinel(Arc::new(sentinels)), server))
            }
        }
    }

    /// Whether this connects to a cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        #[cfg(feature = "cluster")]
        return matches!(self, Connector::Cluster(_));
        #[cfg(not(feature = "cluster"))]
        false
    }
}

/// What opens a connection to one node of a cluster, found by address in its slot map: the
/// first node's URL (login, database, TLS mode) with that address, and the certificates, as
/// redis's cluster client does for the nodes it discovers. The async cache routes
/// single-key commands to the nodes itself through these (see `async_route.rs`).
#[cfg(all(feature = "cluster", feature = "tokio"))]
#[derive(Clone)]
pub(crate) struct NodeClients {
    first: ConnectionInfo,
    certificates: TlsCertificates,
}

#[cfg(all(feature = "cluster", feature = "tokio"))]
impl NodeClients {
    /// The node clients of `config`'s cluster; `None` for another topology.
    pub(crate) fn of<C>(config: &RedisConfig<C>) -> Result<Option<Self>, CacheError> {
        match &config.topology {
            RedisTopology::Cluster(nodes) => match nodes.first() {
                Some(first) => Ok(Some(NodeClients {
                    first: parse(first)?,
                    certificates: config.tls.clone(),
                })),
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }

    /// A client for the node at `host:port`.
    pub(crate) fn client(&self, host: &str, port: u16) -> RedisResult<redis::Client> {
        let host = host.to_owned();
        let addr = match self.first.addr() {
            ConnectionAddr::TcpTls { insecure, .. } => ConnectionAddr::TcpTls {
                host,
                port,
                insecure: *insecure,
                tls_params: None,
            },
            _ => ConnectionAddr::Tcp(host, port),
        };
        client(self.first.clone().set_addr(addr), &self.certificates)
    }
}

pub(crate) fn parse(url: &str) -> Result<ConnectionInfo, CacheError> {
    let info = url.into_connection_info().map_err(|e| invalid(url, e))?;
    Ok(info.set_tcp_settings(tcp_settings()))
}

/// `TCP_NODELAY`: a request goes out at once. Without it, the several small writes of a
/// TLS handshake wait on delayed acknowledgements (tens of milliseconds per connection).
pub(crate) fn tcp_settings() -> TcpSettings {
    TcpSettings::default().set_nodelay(true)
}

pub(crate) fn invalid(url: &str, e: RedisError) -> CacheError {
    CacheError::config(format!("invalid Redis URL {}: {e}", redact(url)))
}

pub(crate) fn is_tls(addr: &ConnectionAddr) -> bool {
    matches!(addr, ConnectionAddr::TcpTls { .. })
}

/// A client for `info`: over TLS with `certificates` for a `rediss://` address, plain
/// otherwise.
pub(crate) fn client(
    info: ConnectionInfo,
    certificates: &TlsCertificates,
) -> RedisResult<redis::Client> {
    if is_tls(info.addr()) {
        tls::client(info, certificates)
    } else {
        redis::Client::open(info)
    }
}

/// A connection to `client`'s server, opened (TCP, TLS, login) within the connect timeout,
/// with the read and write timeouts set.
pub(crate) fn open(client: &redis::Client, timeouts: Timeouts) -> RedisResult<redis::Connection> {
    let conn = client.get_connection_with_timeout(timeouts.connect)?;
    conn.set_read_timeout(Some(timeouts.read))?;
    conn.set_write_timeout(Some(timeouts.write))?;
    Ok(conn)
}

/// Certificates are only for `rediss://`: given with a plain URL, they are a mistake that
/// would otherwise go unnoticed (and the traffic unencrypted).
pub(crate) fn no_certificates(certificates: &TlsCertificates, url: &str) -> Result<(), CacheError> {
    if certificates.is_empty() {
        Ok(())
    } else {
        Err(CacheError::config(format!(
            "TLS certificates are set but {} is not a rediss:// URL",
            redact(url)
        )))
    }
}

/// TLS through rustls (the `tls-rustls` feature).
#[cfg(feature = "tls-rustls")]
mod tls {
    use super::*;

    /// The certificates in the form the `redis` crate takes; also installs rustls's `ring`
    /// provider as the process default if no provider was installed yet (the `redis` crate
    /// builds its TLS configurations from the process default).
    pub(super) fn certificates(c: &TlsCertificates) -> Result<redis::TlsCertificates, CacheError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client_tls = match (&c.client_cert_pem, &c.client_key_pem) {
            (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.clone(),
            }),
            (None, None) => None,
            _ => {
                return Err(CacheError::config(
                    "a client certificate needs its private key, and a key its certificate",
                ))
            }
        };
        Ok(redis::TlsCertificates {
            client_tls,
            root_cert: c.ca_cert_pem.clone(),
        })
    }

    pub(super) fn client(
        info: ConnectionInfo,
        c: &TlsCertificates,
    ) -> Result<redis::Client, RedisError> {
        match certificates(c) {
            Ok(certs) => redis::Client::build_with_tls(info, certs),
            Err(e) => Err(RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "invalid TLS certificates",
                e.to_string(),
            ))),
        }
    }

    #[cfg(feature = "cluster")]
    pub(super) fn cluster(
        builder: ClusterClientBuilder,
        c: &TlsCertificates,
    ) -> Result<ClusterClientBuilder, CacheError> {
        Ok(builder.tls(redis::TlsMode::Secure).certs(certificates(c)?))
    }
}

/// Without the `tls-rustls` feature, a `rediss://` URL is a configuration error that says
/// which feature to enable.
#[cfg(not(feature = "tls-rustls"))]
mod tls {
    use super::*;

    const DISABLED: &str = "rediss:// (TLS) needs the `tls-rustls` feature of cache-redis \
        (`redis-tls-rustls` of the cache crate)";

    pub(super) fn client(
        _: ConnectionInfo,
        _: &TlsCertificates,
    ) -> Result<redis::Client, RedisError> {
        Err(RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            DISABLED,
        )))
    }

    #[cfg(feature = "cluster")]
    pub(super) fn cluster(
        _: ClusterClientBuilder,
        _: &TlsCertificates,
    ) -> Result<ClusterClientBuilder, CacheError> {
        Err(CacheError::config(DISABLED))
    }
}

/// The r2d2 manager. Unlike the one redis-rs ships, it bounds connecting with the connect
/// timeout and sets the read and write timeouts on every connection.
#[derive(Clone)]
pub(crate) struct Manager {
    pub(crate) connector: Connector,
    pub(crate) timeouts: Timeouts,
}

/// A connection, with a mark set when an operation on it failed in a way that may leave it
/// unusable or out of step with the server (an I/O error or a timeout mid-reply): the pool
/// then drops it instead of handing it out again. The pool holds it boxed: r2d2 moves its
/// connections in and out of its idle list on every checkout and checkin, and a pointer
/// moves for less than a connection's few hundred bytes.
pub(crate) struct Tracked {
    pub(crate) link: Link,
    pub(crate) broken: bool,
    /// When it connected: [`crate::hot::HotSlot`] keeps `max_lifetime` with it.
    pub(crate) born: std::time::Instant,
}

/// One connection to a server, or one set of connections to every node of a cluster.
pub(crate) enum Link {
    Single(Single),
    #[cfg(feature = "cluster")]
    Cluster(Box<ClusterConnection>),
}

/// A connection to one server, and the buffer its commands are packed into (RESP), kept
/// from one command to the next so that sending one allocates nothing.
pub(crate) struct Single {
    conn: redis::Connection,
    packed: Vec<u8>,
}

/// The largest buffer kept for the next command (the packed command of a connection, a
/// thread's reused `Cmd`); a larger one, left by a large value, is freed after its use.
pub(crate) const KEEP_BYTES: usize = 64 * 1024;

impl Single {
    pub(crate) fn new(conn: redis::Connection) -> Self {
        Single {
            conn,
            packed: Vec::new(),
        }
    }

    /// [`Cmd::query`], packing `cmd` into this connection's buffer.
    #[inline]
    fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> RedisResult<T> {
        self.packed.clear();
        cmd.write_packed_command(&mut self.packed);
        let reply = self.conn.req_packed_command(&self.packed);
        if self.packed.capacity() > KEEP_BYTES {
            self.packed = Vec::new();
        }
        Ok(redis::from_redis_value(reply?.extract_error()?)?)
    }
}

/// What [`Link::scan`] calls with each page of keys, lending it the connection.
pub(crate) type PageFn<'a> = dyn FnMut(&mut Link, Vec<Vec<u8>>) -> RedisResult<()> + 'a;

impl r2d2::ManageConnection for Manager {
    type Connection = Box<Tracked>;
    type Error = RedisError;

    fn connect(&self) -> RedisResult<Box<Tracked>> {
        let link = match &self.connector {
            Connector::Single(client) => Link::Single(Single::new(open(client, self.timeouts)?)),
            #[cfg(feature = "cluster")]
            Connector::Cluster(client) => {
                // The client carries the connect and response (read) timeouts itself.
                let conn = client.get_connection()?;
                conn.set_write_timeout(Some(self.timeouts.write))?;
                Link::Cluster(Box::new(conn))
            }
            // Every new connection asks the sentinels for the current primary (bounded by
            // the timeouts, holding no lock).
            Connector::Sentinel(sentinels) => {
                Link::Single(Single::new(sentinels.connect(self.timeouts)?))
            }
        };
        Ok(Box::new(Tracked {
            link,
            broken: false,
            born: std::time::Instant::now(),
        }))
    }

    fn is_valid(&self, conn: &mut Box<Tracked>) -> RedisResult<()> {
        conn.link.query::<()>(&redis::cmd("PING"))
    }

    fn has_broken(&self, conn: &mut Box<Tracked>) -> bool {
        conn.broken
            || match &conn.link {
                Link::Single(s) => !s.conn.is_open(),
                #[cfg(feature = "cluster")]
                Link::Cluster(c) => !c.is_open(),
            }
    }
}

/// Whether an error leaves the connection it happened on suspect. `READONLY` counts: the
/// server was a primary and is now a replica (a failover demoted it), so the connection
/// must go and its replacement find the new primary.
pub(crate) fn breaks_connection(e: &RedisError) -> bool {
    e.is_io_error() || e.is_unrecoverable_error() || is_read_only(e)
}

/// Whether an operation that failed with `e` is worth one more try on a fresh connection:
/// the connection was dropped or refused (a pooled connection that went stale when the
/// server restarted), or its server was demoted to a replica, but not a timeout (a hung
/// server would only make the caller wait twice as long).
pub(crate) fn worth_retrying(e: &RedisError) -> bool {
    (e.is_io_error() && !e.is_timeout()) || is_read_only(e)
}

fn is_read_only(e: &RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

/// Commands sent in one round trip (per node, on a cluster).
pub(crate) enum Batch {
    Single(redis::Pipeline),
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster::ClusterPipeline),
}

impl Batch {
    pub(crate) fn new(cluster: bool, capacity: usize) -> Self {
        #[cfg(feature = "cluster")]
        if cluster {
            return Batch::Cluster(redis::cluster::ClusterPipeline::with_capacity(capacity));
        }
        debug_assert!(!cluster, "a cluster link without the cluster feature");
        Batch::Single(redis::Pipeline::with_capacity(capacity))
    }

    pub(crate) fn add(&mut self, cmd: Cmd) {
        match self {
            Batch::Single(p) => {
                p.add_command(cmd);
            }
            #[cfg(feature = "cluster")]
            Batch::Cluster(p) => {
                p.add_command(cmd);
            }
        }
    }
}

impl Link {
    /// Sends one command and converts its reply.
    #[inline]
    pub(crate) fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> RedisResult<T> {
        match self {
            Link::Single(s) => s.query(cmd),
            #[cfg(feature = "cluster")]
            Link::Cluster(c) => cmd.query(c),
        }
    }

    /// Runs a batch and returns one reply per command, in order.
    pub(crate) fn run<T: FromRedisValue>(&mut self, batch: &Batch) -> RedisResult<Vec<T>> {
        match (self, batch) {
            (Link::Single(s), Batch::Single(p)) => p.query(&mut s.conn),
            #[cfg(feature = "cluster")]
            (Link::Cluster(c), Batch::Cluster(p)) => p.query(c),
            #[cfg(feature = "cluster")]
            _ => unreachable!("a batch is built for the topology of its cache"),
        }
    }

    #[cfg(feature = "cluster")]
    fn is_cluster(&self) -> bool {
        matches!(self, Link::Cluster(_))
    }

    /// The values under `keys` (`None` for absent keys), in order: one `MGET` on a server, a
    /// pipeline of `GET`s (one round trip per node) on a cluster, where `MGET` across slots
    /// would fail with CROSSSLOT.
    pub(crate) fn get_many(&mut self, keys: &[Vec<u8>]) -> RedisResult<Vec<Option<Vec<u8>>>> {
        match self {
            Link::Single(s) => s.query(redis::cmd("MGET").arg(keys)),
            #[cfg(feature = "cluster")]
            Link::Cluster(_) => {
                let mut batch = Batch::new(true, keys.len());
                for k in keys {
                    batch.add(single("GET", k).into_cmd());
                }
                self.run(&batch)
            }
        }
    }

    /// Unlinks `keys` and returns how many existed: one `UNLINK` on a server, one per slot
    /// in a pipeline on a cluster.
    pub(crate) fn unlink(&mut self, keys: &[Vec<u8>]) -> RedisResult<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        #[cfg(feature = "cluster")]
        if self.is_cluster() {
            return self.unlink_by_slot(keys);
        }
        self.query(redis::cmd("UNLINK").arg(keys))
    }

    /// [`Link::unlink`] on a cluster: one `UNLINK` per slot, in one pipeline.
    #[cfg(feature = "cluster")]
    fn unlink_by_slot(&mut self, keys: &[Vec<u8>]) -> RedisResult<u64> {
        let mut by_slot: HashMap<Slot, Cmd> = HashMap::new();
        for k in keys {
            by_slot
                .entry(Slot::for_key(k))
                .or_insert_with(|| redis::cmd("UNLINK"))
                .arg(k);
        }
        let mut batch = Batch::new(true, by_slot.len());
        for (_, cmd) in by_slot {
            batch.add(cmd);
        }
        Ok(self.run::<u64>(&batch)?.into_iter().sum())
    }

    /// Calls `each` with every page of keys that `SCAN ... MATCH pattern` returns, on every
    /// primary of a cluster. A key may come twice; keys added or removed meanwhile may or may
    /// not come (the guarantees of `SCAN`).
    pub(crate) fn scan(
        &mut self,
        pattern: &[u8],
        count: u32,
        each: &mut PageFn<'_>,
    ) -> RedisResult<()> {
        let scan = |cursor: &str| scan_cmd(cursor, pattern, count);
        match self {
            Link::Single(_) => {
                let mut cursor = "0".to_owned();
                loop {
                    let (next, keys): (String, Vec<Vec<u8>>) = self.query(&scan(&cursor))?;
                    each(self, keys)?;
                    if next == "0" {
                        return Ok(());
                    }
                    cursor = next;
                }
            }
            #[cfg(feature = "cluster")]
            Link::Cluster(c) => {
                // `scan_match` refuses a cluster: start on every primary at once, then go on
                // node by node, by address, until each cursor is back to 0.
                let all = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                let replies: HashMap<String, (String, Vec<Vec<u8>>)> =
                    FromRedisValue::from_redis_value(c.route_command(&scan("0"), all)?)?;
                for (node, (mut cursor, keys)) in replies {
                    each(self, keys)?;
                    let route = by_address(&node)?;
                    while cursor != "0" {
                        let Link::Cluster(c) = self else {
                            unreachable!("still a cluster")
                        };
                        let reply: Value = c.route_command(&scan(&cursor), route.clone())?;
                        let (next, keys): (String, Vec<Vec<u8>>) =
                            FromRedisValue::from_redis_value(reply)?;
                        each(self, keys)?;
                        cursor = next;
                    }
                }
                Ok(())
            }
        }
    }
}

/// `SCAN cursor MATCH pattern COUNT count`.
pub(crate) fn scan_cmd(cursor: &str, pattern: &[u8], count: u32) -> Cmd {
    let mut cmd = redis::cmd("SCAN");
    cmd.arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(count);
    cmd
}

/// A command with one key argument (used by the cluster and async paths).
#[cfg(any(feature = "cluster", feature = "tokio"))]
#[inline]
pub(crate) fn single(name: &str, key: &[u8]) -> Command {
    let mut cmd = Command::new(name, 1, key.len());
    cmd.arg(key);
    cmd
}

/// A command with one argument, the Redis key of `key` in `keys`, written straight into the
/// command (no Redis key of its own is built).
#[inline]
pub(crate) fn keyed(name: &str, keys: &KeySpace, key: &str) -> Command {
    let mut cmd = Command::new(name, 1, keys.key_len(key));
    keys.write_key(&mut cmd, key);
    cmd
}

/// Appends to `cmd` one argument made of `parts`, one after the other.
pub(crate) fn arg_of_parts(cmd: &mut Cmd, parts: &[&[u8]]) {
    let mut arg = cmd.writer_for_next_arg();
    for part in parts {
        // A command's buffer is a `Vec`, which takes every write.
        let _infallible = arg.write_all(part);
    }
}

/// A command being built, and a buffer to encode its value into, that reuse the buffers of
/// the last command this thread finished with instead of allocating their own: a blocking
/// call then allocates nothing to build its command. Dereferences to the `Cmd`.
pub(crate) struct Command {
    cmd: Cmd,
    scratch: Vec<u8>,
}

thread_local! {
    /// The buffers of the last [`Command`] this thread dropped, for the next one.
    static SPARE: Cell<Option<(Cmd, Vec<u8>)>> = const { Cell::new(None) };
}

impl Command {
    /// The command `name`. With no buffers to reuse, it gets room for `args` more arguments
    /// of `bytes` bytes in all, so that adding them does not grow its buffers.
    #[inline]
    pub(crate) fn new(name: &str, args: usize, bytes: usize) -> Self {
        let (mut cmd, scratch) = SPARE
            .try_with(Cell::take)
            .ok()
            .flatten()
            .unwrap_or_else(|| (Cmd::with_capacity(1 + args, name.len() + bytes), Vec::new()));
        cmd.arg(name);
        Command { cmd, scratch }
    }

    /// The command and the scratch buffer, borrowed together.
    pub(crate) fn parts(&mut self) -> (&mut Cmd, &mut Vec<u8>) {
        (&mut self.cmd, &mut self.scratch)
    }

    /// The `Cmd` itself (for a pipeline, which takes its commands by value).
    pub(crate) fn into_cmd(mut self) -> Cmd {
        std::mem::take(&mut self.cmd)
    }
}

impl std::ops::Deref for Command {
    type Target = Cmd;

    fn deref(&self) -> &Cmd {
        &self.cmd
    }
}

impl std::ops::DerefMut for Command {
    fn deref_mut(&mut self) -> &mut Cmd {
        &mut self.cmd
    }
}

impl Drop for Command {
    /// Hands the buffers to the next command of this thread, unless a large value left them
    /// large.
    fn drop(&mut self) {
        let bytes: usize = self
            .cmd
            .args_iter()
            .map(|a| match a {
                Arg::Simple(a) => a.len(),
                _ => 0,
            })
            .sum();
        if bytes > KEEP_BYTES || self.scratch.capacity() > KEEP_BYTES {
            return;
        }
        let mut cmd = std::mem::take(&mut self.cmd);
        let mut scratch = std::mem::take(&mut self.scratch);
        cmd.clear();
        scratch.clear();
        // A thread being torn down keeps nothing.
        let _ = SPARE.try_with(|spare| spare.set(Some((cmd, scratch))));
    }
}

/// The route to a node given as `host:port`.
#[cfg(feature = "cluster")]
pub(crate) fn by_address(node: &str) -> RedisResult<RoutingInfo> {
    let bad = || {
        RedisError::from((
            redis::ErrorKind::Client,
            "unexpected node address",
            node.to_owned(),
        ))
    };
    let (host, port) = node.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse().map_err(|_| bad())?;
    Ok(RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
        host: host.to_owned(),
        port,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_reuses_buffers_but_starts_empty_and_nests() {
        let mut big = Command::new("SET", 2, 0);
        big.arg("k").arg(vec![1u8; 100]);
        drop(big);
        let mut outer = Command::new("GET", 1, 0);
        outer.arg("a");
        // A second command while the first is alive gets buffers of its own.
        let mut inner = Command::new("EXISTS", 1, 0);
        inner.arg("b");
        assert_eq!(
            inner.get_packed_command(),
            b"*2\r\n$6\r\nEXISTS\r\n$1\r\nb\r\n"
        );
        drop(inner);
        assert_eq!(
            outer.get_packed_command(),
            b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n"
        );
        let cmd = outer.into_cmd();
        assert_eq!(cmd.args_iter().count(), 2);
        let keys = KeySpace::new("p:", 7);
        let mut keyed = keyed("GET", &keys, "x");
        arg_of_parts(&mut keyed, &[b"a", b"", b"bc"]);
        assert_eq!(
            keyed.get_packed_command(),
            b"*3\r\n$3\r\nGET\r\n$5\r\np:x\xff7\r\n$3\r\nabc\r\n"
        );
    }
}
