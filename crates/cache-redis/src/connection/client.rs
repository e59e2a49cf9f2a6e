//! How one client and one connection are made: URLs parsed with `TCP_NODELAY`, TLS or plain
//! clients, a blocking connection opened within the timeouts, and the checks of a URL
//! against the certificates. The sentinel lookup and the connector build on these.

use std::time::Duration;

use cache_core::CacheError;
use redis::io::tcp::TcpSettings;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisError, RedisResult};

use super::tls;
use crate::config::{redact, RedisConfig, TlsCertificates};

/// The timeouts every connection is opened with, and the bound of a whole call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) read: Duration,
    pub(crate) write: Duration,
    /// [`RedisConfig::call_timeout`]: a whole call ends within it, retry, reconnection and
    /// sentinel lookup included.
    pub(crate) call: Duration,
}

impl Timeouts {
    pub(crate) fn of<C>(config: &RedisConfig<C>) -> Self {
        Timeouts {
            connect: config.connect_timeout,
            read: config.read_timeout,
            write: config.write_timeout,
            call: config.call_timeout(),
        }
    }

    /// These timeouts, none longer than `left` (the time left of a call), for the fresh
    /// connection of a retry.
    pub(crate) fn within(self, left: Duration) -> Self {
        // A zero timeout means "none" to the socket options: at least a millisecond.
        let left = left.max(Duration::from_millis(1));
        Timeouts {
            connect: self.connect.min(left),
            read: self.read.min(left),
            write: self.write.min(left),
            call: self.call.min(left),
        }
    }
}

/// The connection info of `url`, with `TCP_NODELAY` and without redis's `CLIENT SETINFO`
/// pair at connection: a blocking connect reads each setup reply with a timeout of its own
/// (what is left of the connect timeout), so on a frozen server those two replies held a
/// connect for twice its timeout; without them, a connection without a password or a
/// database sends no setup command at all (and a new connection costs a round trip less).
pub(crate) fn parse(url: &str) -> Result<ConnectionInfo, CacheError> {
    let info = url.into_connection_info().map_err(|e| invalid(url, e))?;
    let redis = info.redis_settings().clone().set_skip_set_lib_name();
    Ok(info
        .set_tcp_settings(tcp_settings())
        .set_redis_settings(redis))
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

/// A client for the server at `url`, with `certificates` for a `rediss://` URL.
#[cfg(feature = "cluster")]
pub(crate) fn client_of(
    url: &str,
    certificates: &TlsCertificates,
) -> Result<redis::Client, CacheError> {
    client(parse(url)?, certificates).map_err(|e| invalid(url, e))
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

/// Whether the server at `addr` (a plain `redis://` address whose connection was reset or
/// closed while connecting) speaks TLS: sent a TLS alert record, a TLS server answers with
/// an alert of its own (`0x15 0x03 ...`) and closes; a Redis server answers no such thing.
/// Blocking, within `limit` (connecting and the answer each). Only for a verdict on a
/// failure that already happened: a server that is restarting answers nothing, so the
/// reset stays an outage.
pub(crate) fn speaks_tls(addr: &ConnectionAddr, limit: Duration) -> bool {
    use std::io::{Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    let ConnectionAddr::Tcp(host, port) = addr else {
        return false;
    };
    let limit = limit.max(Duration::from_millis(1));
    let probe = || -> std::io::Result<bool> {
        let target = (host.as_str(), *port)
            .to_socket_addrs()?
            .next()
            .ok_or(std::io::ErrorKind::NotFound)?;
        let mut stream = TcpStream::connect_timeout(&target, limit)?;
        stream.set_read_timeout(Some(limit))?;
        stream.set_write_timeout(Some(limit))?;
        // An alert record (TLS 1.0 framing, 2 bytes: a level and a description) whose
        // bytes end in CRLF, so that a Redis server reads it as one line and answers `-ERR`.
        stream.write_all(&[0x15, 0x03, 0x01, 0x00, 0x02, b'\r', b'\n'])?;
        let mut head = [0u8; 2];
        stream.read_exact(&mut head)?;
        Ok(head == [0x15, 0x03])
    };
    probe().unwrap_or(false)
}
