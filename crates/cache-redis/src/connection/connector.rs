//! [`Connector::from_config`] is the one place where a [`RedisConfig`] becomes `redis`
//! clients (URLs, TLS certificates, sentinel lookup, cluster options): the blocking pool and
//! the async cache build their connections from the same clients.

use std::sync::Arc;

use cache_core::CacheError;
#[cfg(feature = "cluster")]
use redis::cluster::{ClusterClient, ClusterClientBuilder};
#[cfg(feature = "cluster")]
use redis::{ConnectionAddr, ConnectionInfo, RedisResult};

#[cfg(feature = "cluster")]
use super::client::tcp_settings;
use super::client::{client, invalid, is_tls, no_certificates, parse};
use super::sentinel::Sentinels;
#[cfg(feature = "cluster")]
use super::tls;
#[cfg(feature = "cluster")]
use crate::config::TlsCertificates;
use crate::config::{RedisConfig, RedisTopology};

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

    /// The plain (`redis://`) address of one server; `None` for TLS, a cluster or sentinels.
    pub(crate) fn plain_address(&self) -> Option<redis::ConnectionAddr> {
        match self {
            Connector::Single(client) => {
                let addr = client.get_connection_info().addr();
                (!is_tls(addr)).then(|| addr.clone())
            }
            _ => None,
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
/// single-key commands to the nodes itself through these (see `aio/route.rs`), and the
/// invalidation listeners reach every primary through them (`tracking/target.rs`).
#[cfg(feature = "cluster")]
#[derive(Clone)]
pub(crate) struct NodeClients {
    first: ConnectionInfo,
    certificates: TlsCertificates,
}

#[cfg(feature = "cluster")]
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
