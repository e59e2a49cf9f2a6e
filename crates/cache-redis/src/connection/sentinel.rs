//! The primary that sentinels name, found in bounded time, for the blocking pool
//! ([`Sentinels::connect`]) and the async cache (`aio::link::Primary`) alike.
//!
//! A lookup asks each sentinel in turn `SENTINEL get-master-addr-by-name <name>`, connects
//! to the address named (with the login, database and TLS of the primary) and checks that
//! it answers `ROLE` as a primary; the first one that does is the primary. Every step runs
//! on a connection opened with the cache's connect, read and write timeouts, and nothing is
//! locked or kept between lookups (each opens its own connections to the sentinels): a
//! lookup stuck on a frozen server holds up the one connection it is opening, for at most
//! its timeouts, never another thread's. An address already tried in a lookup is not tried
//! again when another sentinel names it too, so a lookup opens at most two connections per
//! sentinel (to the sentinel, to the server it names), each bounded by the connect timeout,
//! and waits for at most two replies on them (the sentinel's answer, the server's `ROLE`),
//! each bounded by the write and read timeouts.
//!
//! redis's own sentinel client is not used: its blocking lookup checks the primary's role
//! with no timeout, under the lock that guards its cached connections, so a frozen primary
//! held every new connection up.

use redis::{
    Client, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo,
    RedisConnectionInfo, RedisError, RedisResult, Role,
};

use cache_core::CacheError;

use super::client::{self, Timeouts};
use crate::config::{SentinelTopology, TlsCertificates};

/// What a lookup needs: the sentinels, the primary's name, and how to log in to it.
pub(crate) struct Sentinels {
    /// A client per sentinel, in the order given (with the sentinels' login and TLS).
    nodes: Vec<Client>,
    /// The name the sentinels know the primary by.
    name: String,
    /// The primary's login and database.
    login: RedisConnectionInfo,
    /// Whether the primary is reached over TLS (as the sentinels are).
    tls: bool,
    /// The certificates of TLS connections.
    certificates: TlsCertificates,
}

/// The address of a server, as a sentinel names it.
type Address = (String, u16);

impl Sentinels {
    /// The sentinels of `topology`, reached (and their primary reached) over TLS with
    /// `certificates` when their URLs are `rediss://`.
    ///
    /// # Errors
    /// [`CacheError::Config`] for no sentinel, no name, a malformed URL, `rediss://` and
    /// plain URLs mixed, or certificates that do not fit (see `Connector::from_config`).
    pub(crate) fn new(
        topology: &SentinelTopology,
        certificates: &TlsCertificates,
    ) -> Result<Self, CacheError> {
        let name = &topology.master_name;
        let Some(first) = topology.nodes.first() else {
            return Err(CacheError::config(
                "Redis Sentinel needs at least one sentinel",
            ));
        };
        if name.is_empty() {
            return Err(CacheError::config(
                "Redis Sentinel needs the primary's name",
            ));
        }
        let infos = topology
            .nodes
            .iter()
            .map(|n| client::parse(n))
            .collect::<Result<Vec<_>, _>>()?;
        let tls = infos.iter().any(|i| client::is_tls(i.addr()));
        if !tls {
            client::no_certificates(certificates, first)?;
        } else if let Some(plain) = infos.iter().position(|i| !client::is_tls(i.addr())) {
            return Err(CacheError::config(format!(
                "the sentinels are reached over TLS (rediss://), but {} is not",
                crate::config::redact(&topology.nodes[plain])
            )));
        }
        // The sentinels' own login comes from their URLs (the first one that has one); a
        // sentinel has no database to select.
        let mut sentinel_login = RedisConnectionInfo::default();
        if let Some(r) = infos
            .iter()
            .map(ConnectionInfo::redis_settings)
            .find(|r| r.password().is_some())
        {
            sentinel_login = with_login(sentinel_login, r.username(), r.password());
        }
        let nodes = infos
            .into_iter()
            .zip(&topology.nodes)
            .map(|(info, url)| {
                let info = info.set_redis_settings(sentinel_login.clone());
                client::client(info, certificates).map_err(|e| client::invalid(url, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let login = with_login(
            RedisConnectionInfo::default().set_db(topology.primary_db),
            topology.primary_username.as_deref(),
            topology.primary_password.as_deref(),
        );
        Ok(Sentinels {
            nodes,
            name: name.clone(),
            login,
            tls,
            certificates: certificates.clone(),
        })
    }

    /// The sentinels' clients, in the order to ask them.
    pub(crate) fn nodes(&self) -> &[Client] {
        &self.nodes
    }

    /// The name the sentinels know the primary by.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The sentinels' addresses (`host:port`), for messages.
    pub(crate) fn addresses(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|c| c.get_connection_info().addr().to_string())
            .collect()
    }

    /// The question for a sentinel; its reply is an [`Address`], or nil when the sentinel
    /// does not know the name.
    pub(crate) fn ask(&self) -> Cmd {
        let mut cmd = redis::cmd("SENTINEL");
        cmd.arg("get-master-addr-by-name").arg(&self.name);
        cmd
    }

    /// A client for the server at `address`, with the primary's login, database and TLS.
    pub(crate) fn primary(&self, (host, port): Address) -> RedisResult<Client> {
        let addr = if self.tls {
            ConnectionAddr::TcpTls {
                host,
                port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host, port)
        };
        let info = addr
            .into_connection_info()?
            .set_tcp_settings(client::tcp_settings())
            .set_redis_settings(self.login.clone());
        client::client(info, &self.certificates)
    }

    /// A connection to the primary, with the read and write timeouts set: the blocking
    /// lookup, each step bounded by `timeouts`.
    pub(crate) fn connect(&self, timeouts: Timeouts) -> RedisResult<redis::Connection> {
        let mut search = Search::default();
        for sentinel in self.nodes() {
            let named = client::open(sentinel, timeouts).and_then(|mut c| self.ask().query(&mut c));
            let Some(address) = search.named(named) else {
                continue;
            };
            let found = self.primary(address).and_then(|client| {
                let mut conn = client::open(&client, timeouts)?;
                is_primary(role_cmd().query(&mut conn)?)?;
                Ok(conn)
            });
            match found {
                Ok(conn) => return Ok(conn),
                Err(e) => search.failed(e),
            }
        }
        Err(search.end(&self.name))
    }
}

/// `info` with `username` and `password` (where given).
fn with_login(
    mut info: RedisConnectionInfo,
    username: Option<&str>,
    password: Option<&str>,
) -> RedisConnectionInfo {
    if let Some(u) = username {
        info = info.set_username(u);
    }
    if let Some(p) = password {
        info = info.set_password(p);
    }
    info
}

/// `ROLE`, whose reply [`is_primary`] checks.
pub(crate) fn role_cmd() -> Cmd {
    redis::cmd("ROLE")
}

/// Whether a server that answered `ROLE` with `role` is a primary; an error (of the kind
/// "no primary known to the sentinels") if not.
pub(crate) fn is_primary(role: Role) -> RedisResult<()> {
    match role {
        Role::Primary { .. } => Ok(()),
        Role::Replica { .. } => Err(no_primary("the server the sentinel named is a replica")),
        Role::Sentinel { .. } => Err(no_primary("the server the sentinel named is a sentinel")),
        _ => Err(no_primary("the server the sentinel named is not a primary")),
    }
}

fn no_primary(detail: &str) -> RedisError {
    RedisError::from((
        ErrorKind::MasterNameNotFoundBySentinel,
        "no primary",
        detail.to_owned(),
    ))
}

/// The state of one lookup: the addresses tried, and the errors met so far.
#[derive(Default)]
pub(crate) struct Search {
    tried: Vec<Address>,
    /// The last error met on a server a sentinel named (the one a caller can act on).
    primary: Option<RedisError>,
    /// The last error met asking a sentinel.
    sentinel: Option<RedisError>,
}

impl Search {
    /// A sentinel's reply: the address to try next, or `None` when the sentinel failed, did
    /// not know the name, or named an address already tried.
    pub(crate) fn named(&mut self, reply: RedisResult<Option<Address>>) -> Option<Address> {
        match reply {
            Ok(Some(address)) if !self.tried.contains(&address) => {
                self.tried.push(address.clone());
                Some(address)
            }
            Ok(_) => None,
            Err(e) => {
                self.sentinel = Some(e);
                None
            }
        }
    }

    /// The server named last failed to connect, or is not a primary.
    pub(crate) fn failed(&mut self, e: RedisError) {
        self.primary = Some(e);
    }

    /// The error of a lookup that found no primary named `name`: the last one met on a
    /// named server, else the last one met on a sentinel, else "unknown to the sentinels".
    pub(crate) fn end(self, name: &str) -> RedisError {
        self.primary.or(self.sentinel).unwrap_or_else(|| {
            RedisError::from((
                ErrorKind::MasterNameNotFoundBySentinel,
                "no primary",
                format!("the sentinels know no primary named {name:?}"),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind) -> RedisError {
        std::io::Error::from(kind).into()
    }

    fn at(port: u16) -> Address {
        ("127.0.0.1".to_owned(), port)
    }

    #[test]
    fn bad_sentinel_setups_are_config_errors() {
        let plain = "redis://127.0.0.1:1";
        let cases = [
            (
                SentinelTopology::new(Vec::<String>::new(), "m"),
                "at least one sentinel",
            ),
            (SentinelTopology::new([plain], ""), "primary's name"),
            (
                SentinelTopology::new(["rediss://127.0.0.1:2", "redis://u:secret@h:3"], "m"),
                "is not",
            ),
            (
                SentinelTopology::new(["redis://u:secret@[::1"], "m"),
                "invalid",
            ),
        ];
        for (topology, says) in cases {
            let err = Sentinels::new(&topology, &TlsCertificates::default())
                .err()
                .expect("a config error");
            assert!(matches!(err, CacheError::Config { .. }), "{err}");
            assert!(err.to_string().contains(says), "{err}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
        let certificates = TlsCertificates::default().ca_cert(b"pem".to_vec());
        let topology = SentinelTopology::new([plain], "m");
        assert!(Sentinels::new(&topology, &certificates).is_err());
    }

    #[test]
    fn a_sentinel_is_asked_for_the_primary_by_name() {
        let sentinels = Sentinels::new(
            &SentinelTopology::new(["redis://127.0.0.1:1", "redis://127.0.0.1:2"], "cache"),
            &TlsCertificates::default(),
        )
        .expect("valid sentinels");
        assert_eq!(sentinels.addresses(), ["127.0.0.1:1", "127.0.0.1:2"]);
        let asked = sentinels.ask().get_packed_command();
        assert!(
            asked.ends_with(b"$23\r\nget-master-addr-by-name\r\n$5\r\ncache\r\n"),
            "{}",
            String::from_utf8_lossy(&asked)
        );
    }

    #[test]
    fn an_address_is_tried_once_per_lookup() {
        let mut search = Search::default();
        assert_eq!(search.named(Ok(Some(at(1)))), Some(at(1)));
        assert_eq!(search.named(Ok(Some(at(1)))), None);
        assert_eq!(search.named(Ok(None)), None);
        assert_eq!(search.named(Ok(Some(at(2)))), Some(at(2)));
    }

    #[test]
    fn a_lookup_ends_with_the_error_a_caller_can_act_on() {
        let unknown = Search::default().end("cache");
        assert_eq!(unknown.kind(), ErrorKind::MasterNameNotFoundBySentinel);
        assert!(unknown.to_string().contains("\"cache\""), "{unknown}");

        let mut search = Search::default();
        search.named(Err(io(std::io::ErrorKind::ConnectionRefused)));
        assert!(search.end("cache").is_connection_refusal());

        // A named primary that timed out outranks a sentinel that refused.
        let mut search = Search::default();
        search.named(Ok(Some(at(1))));
        search.failed(io(std::io::ErrorKind::TimedOut));
        search.named(Err(io(std::io::ErrorKind::ConnectionRefused)));
        assert!(search.end("cache").is_timeout());
    }

    #[test]
    fn only_a_primary_passes_the_role_check() {
        assert!(is_primary(Role::Primary {
            replication_offset: 0,
            replicas: Vec::new(),
        })
        .is_ok());
        let replica = is_primary(Role::Replica {
            primary_ip: "127.0.0.1".to_owned(),
            primary_port: 1,
            replication_state: "connected".to_owned(),
            data_received: 0,
        })
        .unwrap_err();
        assert_eq!(replica.kind(), ErrorKind::MasterNameNotFoundBySentinel);
        assert!(replica.to_string().contains("replica"), "{replica}");
    }
}
