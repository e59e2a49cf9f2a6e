use std::error::Error;
use std::fmt;
use std::io;
use std::sync::Arc;

/// Everything a cache operation can fail with. Each variant says what failed and where
/// (which key, which path, which server).
///
/// # Messages state their cause once
/// `Display` (`{}`) prints what this error adds: what was being done and where. The cause,
/// when there is one, is not repeated in it: [`Error::source`] returns it, so that a report
/// that walks the chain (`anyhow`'s `{:#}`, `eyre`, a logger) prints each cause exactly once.
/// The alternate form `{:#}` prints the whole chain itself, `context: cause: cause ...`.
///
/// # Errors a program can act on
/// [`CacheError::is_timeout`], [`CacheError::is_unavailable`], [`CacheError::is_auth`] and
/// [`CacheError::is_misconfigured`] tell the failures of a backing service apart, so that a
/// program can, for example, treat an outage as a miss but a refused login or a TLS setup
/// that cannot work as a bug to report. [`CacheError::is_outcome_unknown`] tells a write
/// that may or may not have happened (its connection failed after it was sent). They look
/// through a [`CacheError::Loader`] to the cache error its loader failed with, if any.
///
/// ```
/// use cache_core::{BackendFailure, CacheError};
///
/// let err = CacheError::config("max_size must be at least 1");
/// assert_eq!(err.to_string(), "invalid cache configuration: max_size must be at least 1");
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
/// let err = CacheError::backend_failure(BackendFailure::Unavailable, "GET on redis 10.0.0.1:6379", io);
/// assert_eq!(err.to_string(), "GET on redis 10.0.0.1:6379");
/// assert_eq!(format!("{err:#}"), "GET on redis 10.0.0.1:6379: connection refused");
/// assert!(err.is_unavailable() && !err.is_timeout() && !err.is_auth());
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum CacheError {
    /// The configuration given at construction cannot work.
    Config {
        /// What is wrong, in words.
        message: String,
    },
    /// A file-system operation failed.
    Io {
        /// What was being done, and on which path.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A value could not be serialized for storage.
    Serialize {
        /// The key being written.
        key: String,
        /// What the serializer said.
        message: String,
    },
    /// The backing service failed, timed out or could not be reached.
    Backend {
        /// What kind of failure, for programs that act on it.
        failure: BackendFailure,
        /// What was being done, and against which server.
        context: String,
        /// The underlying error.
        source: Box<dyn Error + Send + Sync>,
    },
    /// The loader of `try_get_or_insert_with` failed; nothing was stored. Every caller that
    /// waited for that load gets the same `source` (one `Arc`); a caller in another process
    /// gets a [`RemoteLoaderError`](crate::flight::RemoteLoaderError) with its message.
    Loader {
        /// The key being loaded.
        key: String,
        /// The loader's error, shared by the callers of one flight.
        source: Arc<dyn Error + Send + Sync>,
    },
    /// The input cannot be handled by this backend (for example a key too large for it).
    InvalidInput {
        /// What is wrong, in words.
        message: String,
    },
    /// `incr`/`decr` found a live entry that is not a counter (not an `i64`); it is unchanged.
    NotACounter {
        /// The key of the entry.
        key: String,
    },
    /// `incr`/`decr` would take the counter past the range of `i64`; it is unchanged.
    CounterOverflow {
        /// The key of the counter.
        key: String,
        /// The amount that could not be added (`decr(key, n)` adds `-n`; for `n = i64::MIN`,
        /// whose `2^63` has no `i64`, this is `i64::MIN`).
        delta: i64,
    },
}

/// The kinds of [`CacheError::Backend`] failure a program can act on.
///
/// ```
/// use cache_core::{BackendFailure, CacheError};
/// let err = CacheError::backend_failure(BackendFailure::Timeout, "GET on redis 10.0.0.1:6379", "timed out");
/// assert!(err.is_timeout());
/// assert_eq!(err.backend_failure_kind(), Some(BackendFailure::Timeout));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendFailure {
    /// The service did not answer in time: it is hung, overloaded or unreachable without a
    /// refusal. Retrying at once may wait as long again.
    Timeout,
    /// The service cannot serve now: the connection was refused or reset, no pooled
    /// connection could be had, a cluster has no node for the key, a failover is under way.
    /// Usually passes by itself.
    Unavailable,
    /// The service refused the credentials, or they lack a permission. Does not pass by
    /// itself: the configuration is wrong.
    Auth,
    /// The client and the service cannot agree on how to talk, however often it is tried:
    /// the service's TLS certificate is not trusted, the service refused the client's
    /// certificate (or its absence), or one side speaks TLS and the other does not. Does
    /// not pass by itself: the configuration (URL scheme, certificates) is wrong.
    Misconfigured,
    /// Anything else (an unexpected reply, a command the server refused).
    Other,
    /// The connection failed after a command that changes data was sent and before its
    /// reply came: the service **may or may not have run it**. The cache does not send such
    /// a command again (running an `incr` or an `add` twice would change its effect or its
    /// answer); the caller decides, for example by reading the entry back.
    ///
    /// Not [`Unavailable`](BackendFailure::Unavailable): that kind says the operation did
    /// not happen, and a program that treats an outage as a miss must not take a write that
    /// may have happened for one that did not. A [`Timeout`](BackendFailure::Timeout) of such
    /// a command leaves its outcome unknown too, but keeps its own kind.
    OutcomeUnknown,
}

impl CacheError {
    /// A [`CacheError::Config`] error.
    ///
    /// ```
    /// assert!(matches!(cache_core::CacheError::config("x"), cache_core::CacheError::Config { .. }));
    /// ```
    pub fn config(message: impl Into<String>) -> Self {
        CacheError::Config {
            message: message.into(),
        }
    }

    /// A [`CacheError::Io`] error.
    ///
    /// ```
    /// let e = cache_core::CacheError::io("reading /tmp/x", std::io::ErrorKind::NotFound.into());
    /// assert!(e.to_string().contains("/tmp/x"));
    /// ```
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        CacheError::Io {
            context: context.into(),
            source,
        }
    }

    /// A [`CacheError::Backend`] error of kind [`BackendFailure::Other`].
    ///
    /// ```
    /// let e = cache_core::CacheError::backend("GET on 127.0.0.1:6379", "unexpected reply");
    /// assert!(e.to_string().contains("127.0.0.1:6379"));
    /// assert!(!e.is_timeout() && !e.is_unavailable() && !e.is_auth());
    /// ```
    pub fn backend(
        context: impl Into<String>,
        source: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Self {
        Self::backend_failure(BackendFailure::Other, context, source)
    }

    /// A [`CacheError::Backend`] error of the given kind.
    ///
    /// ```
    /// use cache_core::{BackendFailure, CacheError};
    /// let e = CacheError::backend_failure(BackendFailure::Auth, "connecting to redis 10.0.0.1:6379", "WRONGPASS");
    /// assert!(e.is_auth());
    /// ```
    pub fn backend_failure(
        failure: BackendFailure,
        context: impl Into<String>,
        source: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Self {
        CacheError::Backend {
            failure,
            context: context.into(),
            source: source.into(),
        }
    }

    /// A [`CacheError::Loader`] error for `key`.
    ///
    /// ```
    /// let e = cache_core::CacheError::loader("user:1", Box::<dyn std::error::Error + Send + Sync>::from("db down"));
    /// assert_eq!(e.to_string(), "the loader for key \"user:1\" failed");
    /// assert_eq!(format!("{e:#}"), "the loader for key \"user:1\" failed: db down");
    /// ```
    ///
    /// A loader that failed with the loader error of the same key (a cache in front of
    /// another, composed by hand: the inner cache's `try_get_or_insert_with` inside the outer
    /// one's loader) is that error, not a second layer saying the same thing:
    ///
    /// ```
    /// use cache_core::CacheError;
    /// let inner = CacheError::loader("user:0", Box::<dyn std::error::Error + Send + Sync>::from("no user 0"));
    /// let outer = CacheError::loader("user:0", Box::<dyn std::error::Error + Send + Sync>::from(inner));
    /// assert_eq!(format!("{outer:#}"), "the loader for key \"user:0\" failed: no user 0");
    /// ```
    pub fn loader(key: &str, source: impl Into<Arc<dyn Error + Send + Sync>>) -> Self {
        let source = source.into();
        if let Some(CacheError::Loader {
            key: inner,
            source: cause,
        }) = source.downcast_ref::<CacheError>()
        {
            if inner == key {
                return CacheError::Loader {
                    key: key.to_owned(),
                    source: Arc::clone(cause),
                };
            }
        }
        CacheError::Loader {
            key: key.to_owned(),
            source,
        }
    }

    /// What the kind predicates look at: this error, or, for a loader's error, the cache error
    /// the loader failed with, found anywhere in the loader error's chain of causes (through
    /// any number of loaders). So a loader that read another cache and found its service
    /// down makes `get_or_insert_with`'s error [`is_unavailable`](CacheError::is_unavailable)
    /// too, and "treat an outage as a miss" keeps working through a loader.
    fn acted_on(&self) -> &CacheError {
        let CacheError::Loader { source, .. } = self else {
            return self;
        };
        let mut cause: Option<&(dyn Error + 'static)> = Some(source.as_ref());
        while let Some(e) = cause {
            if let Some(inner) = e.downcast_ref::<CacheError>() {
                return inner.acted_on();
            }
            cause = e.source();
        }
        self
    }

    /// The kind of a [`CacheError::Backend`] failure; `None` for the other variants.
    ///
    /// ```
    /// assert_eq!(cache_core::CacheError::config("x").backend_failure_kind(), None);
    /// ```
    pub fn backend_failure_kind(&self) -> Option<BackendFailure> {
        match self.acted_on() {
            CacheError::Backend { failure, .. } => Some(*failure),
            _ => None,
        }
    }

    /// Whether the backing service (or the file system) did not answer in time.
    ///
    /// ```
    /// use cache_core::{BackendFailure, CacheError};
    /// assert!(CacheError::backend_failure(BackendFailure::Timeout, "GET", "timed out").is_timeout());
    /// let io = std::io::Error::from(std::io::ErrorKind::TimedOut);
    /// assert!(CacheError::io("reading /mnt/nfs/cache/ab/cd", io).is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        match self.acted_on() {
            CacheError::Backend { failure, .. } => *failure == BackendFailure::Timeout,
            CacheError::Io { source, .. } => source.kind() == io::ErrorKind::TimedOut,
            _ => false,
        }
    }

    /// Whether the backing service cannot serve now (refused, reset, no pooled connection,
    /// cluster down, failover under way): an outage a program may treat as a miss.
    ///
    /// ```
    /// use cache_core::{BackendFailure, CacheError};
    /// assert!(CacheError::backend_failure(BackendFailure::Unavailable, "GET", "refused").is_unavailable());
    /// assert!(!CacheError::config("x").is_unavailable());
    /// ```
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self.acted_on(),
            CacheError::Backend {
                failure: BackendFailure::Unavailable,
                ..
            }
        )
    }

    /// Whether the backing service refused the credentials (or they lack a permission).
    ///
    /// ```
    /// use cache_core::{BackendFailure, CacheError};
    /// assert!(CacheError::backend_failure(BackendFailure::Auth, "AUTH", "WRONGPASS").is_auth());
    /// ```
    pub fn is_auth(&self) -> bool {
        matches!(
            self.acted_on(),
            CacheError::Backend {
                failure: BackendFailure::Auth,
                ..
            }
        )
    }

    /// Whether the connection failed after a command that changes data was sent, so that it
    /// may or may not have run ([`BackendFailure::OutcomeUnknown`]): an `incr` whose count
    /// is not known, an `add` that may have stored its value. The cache did not send it
    /// again. Not [`CacheError::is_unavailable`].
    ///
    /// ```
    /// use cache_core::{BackendFailure, CacheError};
    /// let e = CacheError::backend_failure(
    ///     BackendFailure::OutcomeUnknown,
    ///     "INCRBY of key \"n\" on redis 10.0.0.1:6379: the connection failed after the command was sent; it may or may not have run",
    ///     "connection reset",
    /// );
    /// assert!(e.is_outcome_unknown() && !e.is_unavailable());
    /// ```
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(
            self.acted_on(),
            CacheError::Backend {
                failure: BackendFailure::OutcomeUnknown,
                ..
            }
        )
    }

    /// Whether the client and the backing service cannot agree on how to talk (an untrusted
    /// TLS certificate, a refused client certificate, TLS on one side only): a
    /// configuration to fix, not an outage to wait out.
    ///
    /// ```
    /// use cache_core::{BackendFailure, CacheError};
    /// let e = CacheError::backend_failure(BackendFailure::Misconfigured, "connecting", "UnknownIssuer");
    /// assert!(e.is_misconfigured() && !e.is_unavailable() && !e.is_auth());
    /// ```
    pub fn is_misconfigured(&self) -> bool {
        matches!(
            self.acted_on(),
            CacheError::Backend {
                failure: BackendFailure::Misconfigured,
                ..
            }
        )
    }

    /// A [`CacheError::InvalidInput`] error.
    ///
    /// ```
    /// let e = cache_core::CacheError::invalid_input("key too long");
    /// assert!(e.to_string().contains("key too long"));
    /// ```
    pub fn invalid_input(message: impl Into<String>) -> Self {
        CacheError::InvalidInput {
            message: message.into(),
        }
    }
}

impl CacheError {
    /// A [`CacheError::NotACounter`] error.
    ///
    /// ```
    /// let e = cache_core::CacheError::not_a_counter("hits");
    /// assert!(e.to_string().contains("not a counter"));
    /// ```
    pub fn not_a_counter(key: &str) -> Self {
        CacheError::NotACounter {
            key: key.to_owned(),
        }
    }

    /// A [`CacheError::CounterOverflow`] error.
    ///
    /// ```
    /// let e = cache_core::CacheError::counter_overflow("hits", 1);
    /// assert!(e.to_string().contains("overflow"));
    /// ```
    pub fn counter_overflow(key: &str, delta: i64) -> Self {
        CacheError::CounterOverflow {
            key: key.to_owned(),
            delta,
        }
    }
}

/// `{}` prints this error's own text; `{:#}` appends every cause of the chain once.
impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Config { message } => write!(f, "invalid cache configuration: {message}")?,
            CacheError::Io { context, .. } | CacheError::Backend { context, .. } => {
                f.write_str(context)?
            }
            CacheError::Serialize { key, message } => {
                write!(f, "cannot serialize the value for key {key:?}: {message}")?
            }
            CacheError::Loader { key, .. } => write!(f, "the loader for key {key:?} failed")?,
            CacheError::InvalidInput { message } => write!(f, "invalid input: {message}")?,
            CacheError::NotACounter { key } => {
                write!(f, "the entry of key {key:?} is not a counter (an i64)")?
            }
            CacheError::CounterOverflow { key, delta } => write!(
                f,
                "adding {delta} to the counter of key {key:?} would overflow i64"
            )?,
        }
        if f.alternate() {
            let mut cause = self.source();
            while let Some(e) = cause {
                write!(f, ": {e}")?;
                cause = e.source();
            }
        }
        Ok(())
    }
}

impl Error for CacheError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            CacheError::Io { source, .. } => Some(source),
            CacheError::Backend { source, .. } => Some(source.as_ref()),
            CacheError::Loader { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose text is its own and whose cause is another error.
    #[derive(Debug)]
    struct Wrapper(io::Error);

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("server said no")
        }
    }

    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    fn chain(e: &dyn Error) -> String {
        let mut parts = vec![e.to_string()];
        let mut cause = e.source();
        while let Some(c) = cause {
            parts.push(c.to_string());
            cause = c.source();
        }
        parts.join(": ")
    }

    #[test]
    fn every_variant_states_its_cause_once() {
        let io = || io::Error::other("NOAUTH Authentication required");
        let errors = [
            CacheError::io("reading /x", io()),
            CacheError::backend("GET on redis h:1", Wrapper(io())),
            CacheError::backend_failure(BackendFailure::Auth, "GET on redis h:1", io()),
            CacheError::Loader {
                key: "k".into(),
                source: std::sync::Arc::new(io()),
            },
        ];
        for err in errors {
            let walked = chain(&err);
            assert_eq!(walked.matches("NOAUTH").count(), 1, "{walked}");
            assert_eq!(format!("{err:#}"), walked);
            assert!(!err.to_string().contains("NOAUTH"), "{err}");
        }
        let plain = CacheError::config("pool_size must be at least 1");
        assert_eq!(format!("{plain:#}"), plain.to_string());
        assert!(plain.source().is_none());
    }

    #[test]
    fn kinds_are_told_apart() {
        let kinds = [
            BackendFailure::Timeout,
            BackendFailure::Unavailable,
            BackendFailure::Auth,
            BackendFailure::Misconfigured,
            BackendFailure::Other,
            BackendFailure::OutcomeUnknown,
        ];
        for kind in kinds {
            let e = CacheError::backend_failure(kind, "op", "cause");
            assert_eq!(
                (
                    e.is_timeout(),
                    e.is_unavailable(),
                    e.is_auth(),
                    e.is_outcome_unknown(),
                    e.is_misconfigured()
                ),
                (
                    kind == BackendFailure::Timeout,
                    kind == BackendFailure::Unavailable,
                    kind == BackendFailure::Auth,
                    kind == BackendFailure::OutcomeUnknown,
                    kind == BackendFailure::Misconfigured
                )
            );
            assert_eq!(e.backend_failure_kind(), Some(kind));
        }
        assert!(!CacheError::io("x", io::ErrorKind::NotFound.into()).is_timeout());
    }

    /// A loader's error, boxed as a loader's error is.
    fn boxed(e: impl Error + Send + Sync + 'static) -> Box<dyn Error + Send + Sync> {
        Box::new(e)
    }

    #[test]
    fn loader_errors_say_each_thing_once_and_keep_the_kind_of_their_cause() {
        // A memory cache in front of Redis, by hand: Redis's outage in the inner loader.
        let outage = CacheError::backend_failure(
            BackendFailure::Unavailable,
            "GET on redis h:1",
            io::Error::from(io::ErrorKind::ConnectionRefused),
        );
        let inner = CacheError::loader("user:0", boxed(outage));
        let outer = CacheError::loader("user:0", boxed(inner));
        assert!(outer.is_unavailable() && !outer.is_timeout() && !outer.is_auth());
        assert_eq!(
            outer.backend_failure_kind(),
            Some(BackendFailure::Unavailable)
        );
        let text = format!("{outer:#}");
        assert_eq!(text.matches("the loader for key").count(), 1, "{text}");
        assert_eq!(
            text,
            "the loader for key \"user:0\" failed: GET on redis h:1: connection refused"
        );
        // Through a wrapper of the user's own, and through a loader of another key.
        let timeout =
            CacheError::backend_failure(BackendFailure::Timeout, "GET on redis h:1", "timed out");
        let wrapped = CacheError::loader("a", boxed(Wrapper2(timeout)));
        assert!(wrapped.is_timeout());
        let other_key = CacheError::loader("b", boxed(wrapped));
        assert!(other_key.is_timeout());
        assert_eq!(
            format!("{other_key:#}")
                .matches("the loader for key")
                .count(),
            2
        );
        // A loader's own error has no kind.
        let plain = CacheError::loader("k", boxed(io::Error::other("no user 0")));
        assert!(!plain.is_timeout() && !plain.is_unavailable() && !plain.is_auth());
        assert_eq!(plain.backend_failure_kind(), None);
    }

    /// A user's error that wraps a cache error as its cause.
    #[derive(Debug)]
    struct Wrapper2(CacheError);

    impl fmt::Display for Wrapper2 {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("fetching the profile")
        }
    }

    impl Error for Wrapper2 {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }
}
