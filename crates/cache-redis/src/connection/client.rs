//! How one client and one connection are made: URLs parsed with `TCP_NODELAY`, TLS or plain
//! clients, a blocking connection opened within the timeouts, and the checks of a URL
//! against the certificates. The sentinel lookup and the connector build on these.

use std::time::Duration;

use cache_core::CacheError;
use redis::io::tcp::TcpSettings;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisError, RedisResult};

use super::tls;
use crate::config::{redact, RedisConfig, TlsCertificates};

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
