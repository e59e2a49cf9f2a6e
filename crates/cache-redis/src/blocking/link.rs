//! The blocking link: one connection to a server, or one set of connections to every node of
//! a cluster, behind one interface (single commands, pipelines per node, `SCAN` on every
//! primary), and the r2d2 manager that opens them through the [`Connector`].

#[cfg(feature = "cluster")]
use std::collections::HashMap;

#[cfg(feature = "cluster")]
use redis::cluster::ClusterConnection;
#[cfg(feature = "cluster")]
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, Slot};
#[cfg(feature = "cluster")]
use redis::Value;
use redis::{Cmd, ConnectionLike, FromRedisValue, RedisError, RedisResult};

use crate::connection::{open, Connector, Timeouts};
#[cfg(feature = "cluster")]
use crate::proto::command::{by_address, single};
use crate::proto::command::{scan_cmd, KEEP_BYTES};
use crate::proto::ops::Call;

/// The most times a cluster command goes again after a redirection was passed on.
#[cfg(feature = "cluster")]
const MAX_REDIRECTS: usize = 5;

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
    /// When it connected: [`HotSlot`](super::hot::HotSlot) keeps `max_lifetime` with it.
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
    /// Whether a command was written whole since [`Link::start`]: a command whose write
    /// failed cannot have run (the server runs only complete commands, and the connection
    /// is dropped after the failure).
    sent: bool,
}

impl Single {
    pub(crate) fn new(conn: redis::Connection) -> Self {
        Single {
            conn,
            packed: Vec::new(),
            sent: false,
        }
    }

    /// [`Cmd::query`], packing `cmd` into this connection's buffer: the write, then the
    /// read of the reply, so that a failed write is told from a lost reply.
    #[inline]
    fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> RedisResult<T> {
        self.packed.clear();
        cmd.write_packed_command(&mut self.packed);
        let reply = self.request();
        if self.packed.capacity() > KEEP_BYTES {
            self.packed = Vec::new();
        }
        Ok(redis::from_redis_value(reply?.extract_error()?)?)
    }

    /// Sends the packed command and reads its reply (push messages aside, as
    /// `req_packed_command` does).
    fn request(&mut self) -> RedisResult<redis::Value> {
        self.conn.send_packed_command(&self.packed)?;
        self.sent = true;
        loop {
            match self.conn.recv_response()? {
                redis::Value::Push { .. } => continue,
                reply => return Ok(reply),
            }
        }
    }
}

/// What [`Link::scan`] calls with each page of keys, lending it the connection.
pub(crate) type PageFn<'a> = dyn FnMut(&mut Link, Vec<Vec<u8>>) -> RedisResult<()> + 'a;

impl r2d2::ManageConnection for Manager {
    type Connection = Box<Tracked>;
    type Error = RedisError;

    fn connect(&self) -> RedisResult<Box<Tracked>> {
        self.connect_with(self.timeouts)
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

impl Link {
    /// Bounds each read of a server connection by `limit` (a cluster connection keeps the
    /// response timeout of its client).
    pub(crate) fn limit_reads(&mut self, limit: std::time::Duration) -> RedisResult<()> {
        match self {
            Link::Single(s) => s.conn.set_read_timeout(Some(limit)),
            #[cfg(feature = "cluster")]
            Link::Cluster(_) => Ok(()),
        }
    }
}

impl Manager {
    /// A new connection opened with `timeouts` (those of the configuration, or less: what
    /// is left of a call, for its retry). A cluster connection keeps the timeouts its
    /// client was built with.
    pub(crate) fn connect_with(&self, timeouts: Timeouts) -> RedisResult<Box<Tracked>> {
        let link = match &self.connector {
            Connector::Single(client) => Link::Single(Single::new(open(client, timeouts)?)),
            #[cfg(feature = "cluster")]
            Connector::Cluster(client) => {
                // The client carries the connect and response (read) timeouts itself.
                let conn = client.get_connection()?;
                conn.set_write_timeout(Some(timeouts.write))?;
                Link::Cluster(Box::new(conn))
            }
            // Every new connection asks the sentinels for the current primary (bounded by
            // the timeouts, holding no lock).
            Connector::Sentinel(sentinels) => {
                Link::Single(Single::new(sentinels.connect(timeouts)?))
            }
        };
        Ok(Box::new(Tracked {
            link,
            broken: false,
            born: std::time::Instant::now(),
        }))
    }
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
    /// The start of an attempt: nothing sent yet (see [`Link::may_have_sent`]).
    pub(crate) fn start(&mut self) {
        match self {
            Link::Single(s) => s.sent = false,
            #[cfg(feature = "cluster")]
            Link::Cluster(_) => {}
        }
    }

    /// Whether a command may have reached the server since [`Link::start`]: on one server,
    /// whether one was written whole; on a cluster (whose client does not tell), always.
    pub(crate) fn may_have_sent(&self) -> bool {
        match self {
            Link::Single(s) => s.sent,
            #[cfg(feature = "cluster")]
            Link::Cluster(_) => true,
        }
    }

    /// Sends one command and converts its reply.
    #[inline]
    pub(crate) fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> RedisResult<T> {
        match self {
            Link::Single(s) => s.query(cmd),
            #[cfg(feature = "cluster")]
            Link::Cluster(c) => {
                // The cluster client follows a redirection itself, within `cluster_retries`
                // tries; while a slot migrates it can meet `MOVED` (its map was stale) and
                // then `ASK` (the key moved already) and pass the last one on. A migration
                // is routine: the command goes again (the client has read the new map, and
                // follows an `ASK` with `ASKING`), a few times at most. A redirection is a
                // prompt reply, so this adds round trips, not waits.
                let mut reply = cmd.query(c);
                for _ in 0..MAX_REDIRECTS {
                    match &reply {
                        Err(e) if e.redirect_node().is_some() => reply = cmd.query(c),
                        _ => break,
                    }
                }
                reply
            }
        }
    }

    /// Sends `call`: its command, then the full script to a node that does not know it.
    pub(crate) fn call<T: FromRedisValue>(&mut self, call: &Call) -> RedisResult<T> {
        match self.query(call.first()) {
            Err(e) => match call.then(&e) {
                Some(eval) => self.query(&eval),
                None => Err(e),
            },
            ok => ok,
        }
    }

    /// Runs a batch and returns one reply per command, in order.
    pub(crate) fn run<T: FromRedisValue>(&mut self, batch: &Batch) -> RedisResult<Vec<T>> {
        match (self, batch) {
            (Link::Single(s), Batch::Single(p)) => {
                // Some commands of a pipeline may be written before a failure.
                s.sent = true;
                p.query(&mut s.conn)
            }
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
