//! TLS through rustls (the `tls-rustls` feature), or, without it, the configuration error
//! that says which feature to enable.

#[cfg(any(feature = "tls-rustls", feature = "cluster"))]
use cache_core::CacheError;
#[cfg(feature = "cluster")]
use redis::cluster::ClusterClientBuilder;
use redis::{ConnectionInfo, RedisError};

use crate::config::TlsCertificates;

/// TLS through rustls (the `tls-rustls` feature).
#[cfg(feature = "tls-rustls")]
mod enabled {
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

    pub(in crate::connection) fn client(
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
    pub(in crate::connection) fn cluster(
        builder: ClusterClientBuilder,
        c: &TlsCertificates,
    ) -> Result<ClusterClientBuilder, CacheError> {
        Ok(builder.tls(redis::TlsMode::Secure).certs(certificates(c)?))
    }
}

/// Without the `tls-rustls` feature, a `rediss://` URL is a configuration error that says
/// which feature to enable.
#[cfg(not(feature = "tls-rustls"))]
mod disabled {
    use super::*;

    const DISABLED: &str = "rediss:// (TLS) needs the `tls-rustls` feature of cache-redis \
        (`redis-tls-rustls` of the cache crate)";

    pub(in crate::connection) fn client(
        _: ConnectionInfo,
        _: &TlsCertificates,
    ) -> Result<redis::Client, RedisError> {
        Err(RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            DISABLED,
        )))
    }

    #[cfg(feature = "cluster")]
    pub(in crate::connection) fn cluster(
        _: ClusterClientBuilder,
        _: &TlsCertificates,
    ) -> Result<ClusterClientBuilder, CacheError> {
        Err(CacheError::config(DISABLED))
    }
}

#[cfg(not(feature = "tls-rustls"))]
pub(super) use disabled::*;
#[cfg(feature = "tls-rustls")]
pub(super) use enabled::*;
