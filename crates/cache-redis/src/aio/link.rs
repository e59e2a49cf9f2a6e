//! The async link: what [`AsyncRedisCache`](crate::AsyncRedisCache) sends its commands
//! through, the async twin of the blocking `Link` (`blocking/link.rs`). One multiplexed
//! connection to a server, kept by redis's `ConnectionManager` (every task shares it and
//! their commands pipeline on it; it reconnects when the connection drops), or the async
//! cluster client.
//!
//! [`Links`] holds it: fixed for a server or a cluster, or, through sentinels, followed
//! ([`crate::connection::follow`]): when the primary's connection fails, the sentinels are asked again
//! (the steps of [`crate::connection::sentinel`], each bounded) and a connection to the primary they
//! name replaces it.
//!
//! The commands themselves are built by the same code as the blocking link's
//! ([`crate::proto::command::single`], [`crate::proto::command::scan_cmd`], [`crate::proto::ops::set_cmd`]).

#[cfg(feature = "cluster")]
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
#[cfg(feature = "cluster")]
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, Slot};
use redis::AsyncConnectionConfig;
use redis::{Cmd, FromRedisValue, RedisError, RedisResult};

use super::coalesce::Coalescer;
use crate::connection::follow::{Follow, Lookup, Ticket};
use crate::connection::sentinel::{is_primary, role_cmd, Search, Sentinels};
use crate::connection::{Connector, Timeouts};
use crate::proto::command::scan_cmd;
use crate::proto::failure::{breaks_connection, worth_retrying};
use crate::proto::ops::Call;

/// Where an [`AsyncRedisCache`](crate::AsyncRedisCache) sends its commands: a fixed link (a
/// server, which its connection manager reconnects to; a cluster, whose client follows its
/// own failovers) or the primary that sentinels name, found again when its link fails.
pub(crate) enum Links {
    Fixed(AsyncLink),
    Followed(Arc<Follow<Primary>>),
}

impl Links {
    /// Whether the link follows the primary the sentinels name (a lookup may replace it).
    pub(crate) fn follows_primary(&self) -> bool {
        matches!(self, Links::Followed(_))
    }

    /// Connects (within the connect timeout) to the server or cluster of `connector`, or to
    /// the primary its sentinels name.
    pub(crate) async fn open(connector: Connector, timeouts: Timeouts) -> RedisResult<Self> {
        let limit = limit(timeouts);
        let conn = match connector {
            Connector::Single(client) => {
                Conn::Single(within(limit, single(client, timeouts)).await?)
            }
            #[cfg(feature = "cluster")]
            Connector::Cluster(client) => {
                Conn::Cluster(within(limit, client.get_async_connection()).await?)
            }
            Connector::Sentinel(sentinels) => {
                let mut primary = Primary {
                    sentinels,
                    timeouts,
                };
                let link = primary.lookup().await?;
                return Ok(Links::Followed(Arc::new(Follow::new(link, primary))));
            }
        };
        Ok(Links::Fixed(AsyncLink::new(conn, limit)))
    }

    /// On a cluster, these links with single-key commands sent straight to the primary of
    /// their slot, connecting to the nodes through `clients` (see `aio/route.rs`).
    #[cfg(feature = "cluster")]
    pub(crate) async fn route_by_slot(
        self,
        clients: Option<crate::connection::NodeClients>,
        timeouts: Timeouts,
    ) -> Self {
        match self {
            Links::Fixed(link) => Links::Fixed(link.route_by_slot(clients, timeouts).await),
            followed => followed,
        }
    }

    /// The link to send on, and the ticket to hand to [`Links::recover`] if it fails.
    #[inline]
    pub(crate) fn current(&self) -> (AsyncLink, Ticket) {
        match self {
            Links::Fixed(link) => (link.clone(), Ticket::default()),
            Links::Followed(follow) => follow.current(),
        }
    }

    /// After `e` on the link taken with `ticket`: whether to try once more, on
    /// [`Links::current`]. As the blocking cache does with its pooled connection: a
    /// connection that was dropped or refused, or whose server was demoted (`READONLY`), is
    /// worth one more try; a timeout is not (a hung server would make the caller wait twice).
    ///
    /// A fixed link is retried as is (its connection manager reconnects). A followed
    /// primary is looked up again first (once for every task that failed meanwhile), and
    /// retried only if a new link replaced the failed one. After a timeout or another error
    /// that leaves the connection suspect, the lookup runs in the background, for the calls
    /// that come next.
    ///
    /// The lookup runs in a task of its own: a caller that stops waiting for it (its
    /// deadline passed) leaves it to finish, for the calls that come next.
    pub(crate) async fn recover(&self, ticket: Ticket, e: &RedisError) -> bool {
        match self {
            Links::Fixed(_) => worth_retrying(e),
            Links::Followed(follow) if worth_retrying(e) => {
                let follow = Arc::clone(follow);
                tokio::spawn(async move { follow.refresh(ticket).await })
                    .await
                    .unwrap_or(false)
            }
            Links::Followed(follow) => {
                if breaks_connection(e) {
                    let follow = Arc::clone(follow);
                    tokio::spawn(async move { follow.refresh(ticket).await });
                }
                false
            }
        }
    }
}

/// The lookup of the primary: its sentinels and the timeouts of a new connection.
pub(crate) struct Primary {
    sentinels: Arc<Sentinels>,
    timeouts: Timeouts,
}

impl Lookup for Primary {
    type Link = AsyncLink;

    /// Asks the sentinels in turn for the primary, connects to the server named and checks
    /// that it is one, as the blocking lookup ([`Sentinels::connect`]) does, each step
    /// within the bound of a request.
    fn lookup(&mut self) -> impl Future<Output = RedisResult<AsyncLink>> + Send + '_ {
        let timeouts = self.timeouts;
        let limit = limit(timeouts);
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeouts.connect))
            .set_response_timeout(Some(timeouts.read));
        async move {
            let sentinels = &*self.sentinels;
            let mut search = Search::default();
            for sentinel in sentinels.nodes() {
                let ask = async {
                    let mut c = sentinel
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?;
                    sentinels.ask().query_async(&mut c).await
                };
                let Some(address) = search.named(within(limit, ask).await) else {
                    continue;
                };
                let found = async {
                    let client = sentinels.primary(address)?;
                    let mut conn = within(limit, single(client, timeouts)).await?;
                    is_primary(within(limit, role_cmd().query_async(&mut conn)).await?)?;
                    Ok(conn)
                };
                match found.await {
                    Ok(conn) => return Ok(AsyncLink::new(Conn::Single(conn), limit)),
                    Err(e) => search.failed(e),
                }
            }
            Err(search.end(sentinels.name()))
        }
    }
}

/// The bound on a request, reconnecting included: the bound of a whole call
/// ([`crate::RedisConfig::call_timeout`]).
fn limit(timeouts: Timeouts) -> Duration {
    timeouts.call
}

/// A connection manager on `client`'s server, with `timeouts`. It makes one attempt per
/// (re)connection, no retries of its own: a refused connection fails at once (it is
/// unavailable), and the caller's one retry and its deadline are the only ones (redis's
/// default, six attempts with waits of up to 500 ms between them, held every call on a
/// server that was down for several timeouts, and turned the refusal into a timeout).
async fn single(client: redis::Client, timeouts: Timeouts) -> RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeouts.connect))
        .set_response_timeout(Some(timeouts.read))
        .set_number_of_retries(0);
    ConnectionManager::new_with_config(client, config).await
}

/// A connection handle (cheap to clone: every clone shares the one connection) and the
/// bound on each request.
#[derive(Clone)]
pub(crate) struct AsyncLink {
    conn: Conn,
    /// Bounds each request, reconnecting included: the connect timeout plus the read and
    /// write timeouts. redis's own response timeout normally answers first.
    limit: Duration,
    /// On one server, single commands gathered in rounds on the connection (see
    /// `coalesce.rs`).
    rounds: Option<Arc<Coalescer<ConnectionManager>>>,
    /// On a cluster, single-key commands straight to their slot's primary (see
    /// `route.rs`); the cluster client sends the rest.
    #[cfg(feature = "cluster")]
    router: Option<Arc<super::route::SlotRouter>>,
}

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl AsyncLink {
    fn new(conn: Conn, limit: Duration) -> Self {
        let rounds = match &conn {
            Conn::Single(c) => Some(Coalescer::new(c.clone())),
            #[cfg(feature = "cluster")]
            Conn::Cluster(_) => None,
        };
        AsyncLink {
            conn,
            limit,
            rounds,
            #[cfg(feature = "cluster")]
            router: None,
        }
    }

    /// On a cluster, this link with single-key commands sent straight to the primary of
    /// their slot, connecting to the nodes through `clients` (see `aio/route.rs`).
    #[cfg(feature = "cluster")]
    async fn route_by_slot(
        mut self,
        clients: Option<crate::connection::NodeClients>,
        timeouts: Timeouts,
    ) -> Self {
        if let (Conn::Cluster(c), Some(clients)) = (&self.conn, clients) {
            let router = super::route::SlotRouter::new(c.clone(), clients, timeouts);
            self.router = Some(router.await);
        }
        self
    }

    /// Whether single-key commands go straight to their slot's primary now.
    #[cfg(all(test, feature = "cluster"))]
    pub(crate) fn routes_directly(&self) -> bool {
        self.router.as_ref().is_some_and(|r| r.has_routes())
    }

    #[cfg(all(test, feature = "cluster"))]
    pub(crate) fn router(&self) -> Option<Arc<super::route::SlotRouter>> {
        self.router.clone()
    }

    /// Sends one command and converts its reply.
    pub(crate) async fn query<T: FromRedisValue>(self, cmd: &Cmd) -> RedisResult<T> {
        #[cfg(feature = "cluster")]
        if let Some(router) = &self.router {
            if let Some(reply) = router.query(cmd).await {
                return reply;
            }
        }
        if let Some(rounds) = &self.rounds {
            return within(self.limit, rounds.query(cmd)).await;
        }
        match self.conn {
            Conn::Single(mut c) => within(self.limit, cmd.query_async(&mut c)).await,
            #[cfg(feature = "cluster")]
            Conn::Cluster(mut c) => {
                let reply = within(self.limit, cmd.query_async(&mut c)).await;
                // The cluster client passes a redirection on when its retries ran out
                // (`cluster_retries`) while a slot was moving: followed here.
                match (reply, &self.router) {
                    (Err(e), Some(router)) if e.redirect_node().is_some() => {
                        within(self.limit, router.follow(cmd, e)).await
                    }
                    (reply, _) => reply,
                }
            }
        }
    }

    /// Sends `call`: its command, then the full script to a node that does not know it.
    pub(crate) async fn call<T: FromRedisValue>(self, call: &Call) -> RedisResult<T> {
        match self.clone().query(call.first()).await {
            Err(e) => match call.then(&e) {
                Some(eval) => self.query(&eval).await,
                None => Err(e),
            },
            ok => ok,
        }
    }

    /// Replies to `cmds`, in order, where `keys[i]` is the key of `cmds[i]`: one pipeline on
    /// a server; on a cluster one pipeline per slot (no CROSSSLOT), all sent at once.
    pub(crate) async fn batch<T: FromRedisValue>(
        self,
        cmds: Vec<Cmd>,
        keys: &[Vec<u8>],
    ) -> RedisResult<Vec<T>> {
        debug_assert_eq!(cmds.len(), keys.len());
        let limit = self.limit;
        match self.conn {
            Conn::Single(mut c) => {
                let mut pipe = redis::Pipeline::with_capacity(cmds.len());
                for cmd in cmds {
                    pipe.add_command(cmd);
                }
                within(limit, pipe.query_async(&mut c)).await
            }
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => {
                let mut by_slot: HashMap<Slot, (Vec<usize>, redis::Pipeline)> = HashMap::new();
                for (i, (cmd, key)) in cmds.into_iter().zip(keys).enumerate() {
                    let (indices, pipe) = by_slot.entry(Slot::for_key(key)).or_default();
                    indices.push(i);
                    pipe.add_command(cmd);
                }
                let sent = by_slot.into_values().map(|(indices, pipe)| {
                    let mut c = c.clone();
                    async move {
                        let replies: Vec<redis::Value> =
                            within(limit, pipe.query_async(&mut c)).await?;
                        Ok::<_, RedisError>((indices, replies))
                    }
                });
                let mut out: Vec<Option<T>> = (0..keys.len()).map(|_| None).collect();
                for (indices, replies) in futures_util::future::try_join_all(sent).await? {
                    for (i, reply) in indices.into_iter().zip(replies) {
                        out[i] = Some(T::from_redis_value(reply)?);
                    }
                }
                out.into_iter()
                    .map(|r| r.ok_or_else(|| client_error("a pipeline reply is missing")))
                    .collect()
            }
        }
    }

    /// The values under `keys` (`None` for absent keys), in order: one `MGET` on a server,
    /// `GET`s pipelined per slot on a cluster.
    pub(crate) async fn get_many(self, keys: &[Vec<u8>]) -> RedisResult<Vec<Option<Vec<u8>>>> {
        match &self.conn {
            Conn::Single(_) => self.query(redis::cmd("MGET").arg(keys)).await,
            #[cfg(feature = "cluster")]
            Conn::Cluster(_) => {
                let cmds = keys
                    .iter()
                    .map(|k| crate::proto::command::single("GET", k).into_cmd())
                    .collect();
                self.batch(cmds, keys).await
            }
        }
    }

    /// Unlinks `keys` and returns how many existed: one `UNLINK` on a server, one per slot
    /// (all sent at once) on a cluster.
    pub(crate) async fn unlink(self, keys: &[Vec<u8>]) -> RedisResult<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        match &self.conn {
            Conn::Single(_) => self.query(redis::cmd("UNLINK").arg(keys)).await,
            #[cfg(feature = "cluster")]
            Conn::Cluster(_) => {
                let mut by_slot: HashMap<Slot, Cmd> = HashMap::new();
                for k in keys {
                    by_slot
                        .entry(Slot::for_key(k))
                        .or_insert_with(|| redis::cmd("UNLINK"))
                        .arg(k);
                }
                let sent = by_slot.into_values().map(|cmd| {
                    let link = self.clone();
                    async move { link.query::<u64>(&cmd).await }
                });
                Ok(futures_util::future::try_join_all(sent)
                    .await?
                    .into_iter()
                    .sum())
            }
        }
    }
}

/// A `SCAN ... MATCH` in progress over a server, or over every primary of a cluster: pages
/// of keys, each key at least once (the guarantees of `SCAN`).
pub(crate) struct Scan<'p> {
    pattern: &'p [u8],
    count: u32,
    state: ScanState,
}

/// Where a `SCAN` page is asked: a node of a cluster (no such thing on one server).
#[cfg(feature = "cluster")]
type Route = RoutingInfo;
#[cfg(not(feature = "cluster"))]
type Route = std::convert::Infallible;

enum ScanState {
    Start,
    /// The cursor of the one server.
    Single(String),
    /// The nodes whose cursor is not back to 0 yet.
    #[cfg(feature = "cluster")]
    Nodes(Vec<(RoutingInfo, String)>),
    Done,
}

impl<'p> Scan<'p> {
    pub(crate) fn new(pattern: &'p [u8], count: u32) -> Self {
        Scan {
            pattern,
            count,
            state: ScanState::Start,
        }
    }

    /// The next page of keys, or `None` once every cursor is back to 0.
    pub(crate) async fn next_page(
        &mut self,
        link: &AsyncLink,
    ) -> RedisResult<Option<Vec<Vec<u8>>>> {
        let state = std::mem::replace(&mut self.state, ScanState::Done);
        let (cursor, route): (String, Option<Route>) = match (state, &link.conn) {
            (ScanState::Done, _) => return Ok(None),
            (ScanState::Start, Conn::Single(_)) => ("0".to_owned(), None),
            (ScanState::Single(cursor), _) => (cursor, None),
            #[cfg(feature = "cluster")]
            (ScanState::Start, Conn::Cluster(c)) => {
                // Start on every primary at once, then go on node by node, by address.
                let all = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                let cmd = scan_cmd("0", self.pattern, self.count);
                let reply = within(link.limit, c.clone().route_command(cmd, all)).await?;
                let replies: HashMap<String, (String, Vec<Vec<u8>>)> =
                    FromRedisValue::from_redis_value(reply)?;
                let mut nodes = Vec::new();
                let mut keys = Vec::new();
                for (node, (cursor, page)) in replies {
                    keys.extend(page);
                    if cursor != "0" {
                        nodes.push((crate::proto::command::by_address(&node)?, cursor));
                    }
                }
                self.state = ScanState::Nodes(nodes);
                return Ok(Some(keys));
            }
            #[cfg(feature = "cluster")]
            (ScanState::Nodes(mut nodes), _) => match nodes.pop() {
                None => return Ok(None),
                Some((route, cursor)) => {
                    self.state = ScanState::Nodes(nodes);
                    (cursor, Some(route))
                }
            },
        };
        let cmd = scan_cmd(&cursor, self.pattern, self.count);
        let (next, keys): (String, Vec<Vec<u8>>) = match route {
            None => link.clone().query(&cmd).await?,
            #[cfg(feature = "cluster")]
            Some(route) => {
                let Conn::Cluster(c) = &link.conn else {
                    unreachable!("routes exist on a cluster only")
                };
                let reply = within(link.limit, c.clone().route_command(cmd, route.clone())).await?;
                let (next, keys): (String, Vec<Vec<u8>>) = FromRedisValue::from_redis_value(reply)?;
                if let ScanState::Nodes(nodes) = &mut self.state {
                    if next != "0" {
                        nodes.push((route, next));
                    }
                }
                return Ok(Some(keys));
            }
        };
        if next != "0" {
            self.state = ScanState::Single(next);
        }
        Ok(Some(keys))
    }
}

/// `fut`, failing with a timeout error (an I/O error of kind `TimedOut`, so not retried)
/// after `limit`.
pub(crate) async fn within<T>(
    limit: Duration,
    fut: impl Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result,
        Err(_) => Err(RedisError::from(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no reply within {limit:?}"),
        ))),
    }
}

#[cfg(feature = "cluster")]
fn client_error(message: &'static str) -> RedisError {
    RedisError::from((redis::ErrorKind::Client, message))
}
