//! What a failed Redis call becomes: a [`CacheError::Backend`] with the kind a program can
//! act on ([`BackendFailure`]) and the Redis error as its single cause.

use std::error::Error;
use std::fmt;

use cache_core::{BackendFailure, CacheError};
use redis::{ErrorKind, RedisError, ServerErrorKind};

/// The cause of a [`CacheError::Backend`] from a [`RedisCache`](crate::RedisCache): the
/// error of the `redis` crate, whose text it shows.
///
/// Its `source()` is `None` on purpose: a `redis::RedisError` shows the text of its own
/// cause and returns that cause again, so a report walking the chain would print it twice.
/// The original is still there, through [`RedisFailure::redis_error`].
///
/// ```
/// use cache_redis::RedisFailure;
/// use std::error::Error;
///
/// let err = cache_core::CacheError::config("x");
/// assert!(err.source().and_then(|s| s.downcast_ref::<RedisFailure>()).is_none());
/// ```
#[derive(Debug, Clone)]
pub struct RedisFailure(RedisError);

impl RedisFailure {
    /// The error of the `redis` crate (its kind, its server error code...).
    ///
    /// ```no_run
    /// use cache_redis::{RedisCache, RedisFailure};
    /// use std::error::Error;
    ///
    /// let err = RedisCache::open("redis://127.0.0.1:1/").unwrap_err();
    /// let redis = err.source().and_then(|s| s.downcast_ref::<RedisFailure>()).unwrap();
    /// println!("{:?}", redis.redis_error().kind());
    /// ```
    pub fn redis_error(&self) -> &RedisError {
        &self.0
    }
}

impl fmt::Display for RedisFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Error for RedisFailure {}

/// A failed pool checkout: every connection busy, or none could be opened, within the
/// pool wait. r2d2's text (with the last connection error) is kept as text.
#[derive(Debug)]
struct PoolExhausted(String);

impl fmt::Display for PoolExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for PoolExhausted {}

/// `e`, which happened while doing `context`, as a cache error of the right kind.
pub(crate) fn backend(context: String, e: RedisError) -> CacheError {
    CacheError::backend_failure(classify(&e), context, RedisFailure(e))
}

/// A pool checkout that failed: the service is unavailable (or this process asks more of
/// it than `pool_size` allows).
pub(crate) fn pool(context: String, e: r2d2::Error) -> CacheError {
    CacheError::backend_failure(
        BackendFailure::Unavailable,
        context,
        PoolExhausted(e.to_string()),
    )
}

/// The kind of failure `e` is.
///
/// - timeout: a read, write or connect that timed out;
/// - auth: a refused login (`WRONGPASS`, `NOAUTH`) or a missing permission (`NOPERM`);
/// - unavailable: refused, reset or closed connections, no node for a slot, a cluster that
///   is down or reconfiguring (`CLUSTERDOWN`, `TRYAGAIN`, `MASTERDOWN`), a server loading
///   its data, a demoted primary (`READONLY`), no primary known to the sentinels;
/// - misconfigured: a TLS handshake that cannot succeed (a server certificate that is not
///   trusted, a client certificate refused or missing, a peer that does not speak TLS);
/// - other: the rest.
pub(crate) fn classify(e: &RedisError) -> BackendFailure {
    if e.is_timeout() {
        return BackendFailure::Timeout;
    }
    if tls_refused(e) {
        return BackendFailure::Misconfigured;
    }
    if matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM")) {
        return BackendFailure::Auth;
    }
    match e.kind() {
        ErrorKind::AuthenticationFailed | ErrorKind::Server(ServerErrorKind::NoPerm) => {
            BackendFailure::Auth
        }
        ErrorKind::ClusterConnectionNotFound
        | ErrorKind::MasterNameNotFoundBySentinel
        | ErrorKind::NoValidReplicasFoundBySentinel
        | ErrorKind::Server(
            ServerErrorKind::ClusterDown
            | ServerErrorKind::TryAgain
            | ServerErrorKind::MasterDown
            | ServerErrorKind::BusyLoading
            | ServerErrorKind::ReadOnly
            | ServerErrorKind::Moved
            | ServerErrorKind::Ask,
        ) => BackendFailure::Unavailable,
        // Refused, reset or closed connections; not a refused certificate, a broken
        // handshake or a name that does not resolve, which do not pass by themselves.
        ErrorKind::Io if e.is_connection_dropped() || e.is_connection_refusal() => {
            BackendFailure::Unavailable
        }
        _ => BackendFailure::Other,
    }
}

/// `e` (a reset or closed connection), which happened while connecting to a plain
/// `redis://` address that turned out to speak TLS (see `connection::client::speaks_tls`):
/// kind misconfigured, saying so.
pub(crate) fn plain_on_tls(context: String, e: RedisError) -> CacheError {
    CacheError::backend_failure(
        BackendFailure::Misconfigured,
        format!("{context} (a TLS port: the URL must be rediss://)"),
        RedisFailure(e),
    )
}

/// Whether `e` is a TLS handshake that no retry will make succeed: the peer's certificate
/// not trusted, our certificate refused or missing (the server's alert), or a peer that
/// does not speak TLS (what it sent is no TLS record).
#[cfg(feature = "tls-rustls")]
fn tls_refused(e: &RedisError) -> bool {
    use rustls::{AlertDescription as A, Error as Tls};
    let mut cause: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(mut c) = cause {
        // redis gives its cause as the `Arc` that holds it: look inside.
        if let Some(held) = c.downcast_ref::<std::sync::Arc<dyn Error + Send + Sync>>() {
            c = &**held;
        }
        // An I/O error's `source()` skips the error it wraps: look at it too.
        let tls = c.downcast_ref::<Tls>().or_else(|| {
            c.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<Tls>())
        });
        if let Some(tls) = tls {
            return match tls {
                Tls::InvalidCertificate(_)
                | Tls::NoCertificatesPresented
                | Tls::InvalidMessage(_)
                | Tls::InappropriateMessage { .. }
                | Tls::InappropriateHandshakeMessage { .. }
                | Tls::PeerIncompatible(_) => true,
                Tls::AlertReceived(alert) => matches!(
                    alert,
                    A::CertificateRequired
                        | A::BadCertificate
                        | A::UnsupportedCertificate
                        | A::CertificateRevoked
                        | A::CertificateExpired
                        | A::CertificateUnknown
                        | A::UnknownCA
                        | A::DecryptError
                        | A::AccessDenied
                        | A::HandshakeFailure
                        | A::ProtocolVersion
                        | A::InsufficientSecurity
                        | A::UnexpectedMessage
                ),
                _ => false,
            };
        }
        cause = c.source();
    }
    false
}

#[cfg(not(feature = "tls-rustls"))]
fn tls_refused(_: &RedisError) -> bool {
    false
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

/// Whether an operation may be sent again after its connection failed (on a failure
/// [`worth_retrying`]).
///
/// A command whose connection fails after it was sent may have run: the server can have run
/// it and its reply been lost. Sent again, it would then run twice. That is harmless for a
/// command whose effect and answer are the same when it runs twice (`GET`, `SET` of the
/// same value, `PEXPIRE`, `UNLINK`), not for `INCRBY`, `SET NX` or the scripts built on
/// them, which are sent again only when they cannot have run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resend {
    /// Sent again on any failure worth retrying.
    Always,
    /// Sent again only if it cannot have run (it was not sent, or the server refused it);
    /// otherwise the error is [`BackendFailure::OutcomeUnknown`].
    IfNotRun,
}

impl Resend {
    /// Whether to send again an operation that failed with `e`; `sent`: whether its
    /// command may have been handed to the connection (as far as the link can tell).
    pub(crate) fn again(self, e: &RedisError, sent: bool) -> bool {
        worth_retrying(e) && (self == Resend::Always || !lost_after_sending(e, sent))
    }

    /// What an operation that failed with `e` (in `context`) returns.
    pub(crate) fn error(self, context: String, e: RedisError, sent: bool) -> CacheError {
        if self == Resend::IfNotRun && lost_after_sending(&e, sent) {
            CacheError::backend_failure(
                BackendFailure::OutcomeUnknown,
                format!(
                    "{context}: the connection failed after the command was sent, so it may \
                     or may not have run (it was not sent again)"
                ),
                RedisFailure(e),
            )
        } else {
            backend(context, e)
        }
    }
}

/// Whether a command that failed with `e` may have run: it was `sent`, and then its
/// connection was dropped or reset (not refused, which sends nothing, and not a timeout,
/// which keeps its own kind and is never retried).
fn lost_after_sending(e: &RedisError, sent: bool) -> bool {
    sent && e.is_io_error() && !e.is_timeout() && !e.is_connection_refusal()
}

fn is_read_only(e: &RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
}

/// At most 64 characters of `key`, for messages.
pub(crate) fn short(key: &str) -> String {
    match key.char_indices().nth(64) {
        Some((i, _)) => format!("{}...", &key[..i]),
        None => key.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn io(kind: io::ErrorKind) -> RedisError {
        io::Error::from(kind).into()
    }

    #[test]
    fn kinds_of_redis_errors() {
        assert_eq!(
            classify(&io(io::ErrorKind::TimedOut)),
            BackendFailure::Timeout
        );
        assert_eq!(
            classify(&io(io::ErrorKind::WouldBlock)),
            BackendFailure::Timeout
        );
        for kind in [
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::UnexpectedEof,
        ] {
            assert_eq!(classify(&io(kind)), BackendFailure::Unavailable, "{kind:?}");
        }
        assert_eq!(
            classify(&io(io::ErrorKind::InvalidData)),
            BackendFailure::Other
        );
        let auth = RedisError::from((
            ErrorKind::AuthenticationFailed,
            "Password authentication failed",
        ));
        assert_eq!(classify(&auth), BackendFailure::Auth);
        let down = RedisError::from((ErrorKind::ClusterConnectionNotFound, "no node"));
        assert_eq!(classify(&down), BackendFailure::Unavailable);
        let other = RedisError::from((ErrorKind::UnexpectedReturnType, "odd"));
        assert_eq!(classify(&other), BackendFailure::Other);
    }

    /// As the `redis` crate gives a failed handshake: rustls's error in an I/O error.
    #[cfg(feature = "tls-rustls")]
    #[test]
    fn tls_handshakes_that_cannot_succeed_are_misconfigured() {
        use rustls::{AlertDescription, CertificateError, Error as Tls};
        let tls = |e: Tls| RedisError::from(io::Error::new(io::ErrorKind::InvalidData, e));
        for e in [
            Tls::InvalidCertificate(CertificateError::UnknownIssuer),
            Tls::AlertReceived(AlertDescription::CertificateRequired),
            Tls::AlertReceived(AlertDescription::DecryptError),
        ] {
            assert_eq!(classify(&tls(e)), BackendFailure::Misconfigured);
        }
        assert_eq!(
            classify(&tls(Tls::AlertReceived(AlertDescription::CloseNotify))),
            BackendFailure::Other
        );
    }

    #[test]
    fn the_cause_is_shown_once() {
        let e = backend(
            "GET on redis h:1".into(),
            io(io::ErrorKind::ConnectionRefused),
        );
        let cause = e.source().expect("a cause");
        assert!(cause.source().is_none());
        assert_eq!(format!("{e:#}"), format!("GET on redis h:1: {cause}"));
    }

    #[test]
    fn only_what_cannot_have_run_is_sent_again_unless_running_twice_is_harmless() {
        let reset = io(io::ErrorKind::ConnectionReset);
        let refused = io(io::ErrorKind::ConnectionRefused);
        let timeout = io(io::ErrorKind::TimedOut);
        let read_only = RedisError::from((
            ErrorKind::Server(ServerErrorKind::ReadOnly),
            "You can't write against a read only replica.",
        ));
        assert!(Resend::Always.again(&reset, true));
        assert!(!Resend::IfNotRun.again(&reset, true), "may have run");
        assert!(Resend::IfNotRun.again(&reset, false), "never sent");
        assert!(Resend::IfNotRun.again(&refused, true), "no connection");
        assert!(
            Resend::IfNotRun.again(&read_only, true),
            "refused by the server"
        );
        assert!(!Resend::Always.again(&timeout, false), "never a timeout");

        let e = Resend::IfNotRun.error("INCRBY of key \"n\" on redis h:1".into(), reset, true);
        assert!(e.is_outcome_unknown(), "{e}");
        assert!(e.to_string().contains("may or may not have run"), "{e}");
        let e = Resend::IfNotRun.error("INCRBY".into(), io(io::ErrorKind::BrokenPipe), false);
        assert!(e.is_unavailable(), "{e}");
        let e = Resend::IfNotRun.error("INCRBY".into(), timeout, true);
        assert!(e.is_timeout(), "{e}");
        let e = Resend::Always.error("GET".into(), io(io::ErrorKind::ConnectionReset), true);
        assert!(e.is_unavailable(), "{e}");
    }

    #[test]
    fn long_keys_are_shortened_on_a_char_boundary() {
        assert_eq!(short("abc"), "abc");
        let long = "é".repeat(100);
        assert_eq!(short(&long), format!("{}...", "é".repeat(64)));
    }
}
