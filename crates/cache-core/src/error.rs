use std::error::Error;
use std::fmt;
use std::io;
use std::sync::Arc;

/// Everything a cache operation can fail with. Each variant says what failed and where
/// (which key, which path, which server).
///
/// ```
/// use cache_core::CacheError;
///
/// let err = CacheError::config("max_size must be at least 1");
/// assert_eq!(err.to_string(), "invalid cache configuration: max_size must be at least 1");
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
        /// The amount that could not be added.
        delta: i64,
    },
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

    /// A [`CacheError::Backend`] error.
    ///
    /// ```
    /// let e = cache_core::CacheError::backend("GET on 127.0.0.1:6379", "timed out");
    /// assert!(e.to_string().contains("127.0.0.1:6379"));
    /// ```
    pub fn backend(
        context: impl Into<String>,
        source: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Self {
        CacheError::Backend {
            context: context.into(),
            source: source.into(),
        }
    }

    /// A [`CacheError::Loader`] error for `key`.
    ///
    /// ```
    /// let e = cache_core::CacheError::loader("user:1", Box::<dyn std::error::Error + Send + Sync>::from("db down"));
    /// assert_eq!(e.to_string(), "the loader for key \"user:1\" failed: db down");
    /// ```
    pub fn loader(key: &str, source: impl Into<Arc<dyn Error + Send + Sync>>) -> Self {
        CacheError::Loader {
            key: key.to_owned(),
            source: source.into(),
        }
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

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Config { message } => write!(f, "invalid cache configuration: {message}"),
            CacheError::Io { context, source } => write!(f, "{context}: {source}"),
            CacheError::Serialize { key, message } => {
                write!(f, "cannot serialize the value for key {key:?}: {message}")
            }
            CacheError::Backend { context, source } => write!(f, "{context}: {source}"),
            CacheError::Loader { key, source } => {
                write!(f, "the loader for key {key:?} failed: {source}")
            }
            CacheError::InvalidInput { message } => write!(f, "invalid input: {message}"),
            CacheError::NotACounter { key } => {
                write!(f, "the entry of key {key:?} is not a counter (an i64)")
            }
            CacheError::CounterOverflow { key, delta } => {
                write!(
                    f,
                    "adding {delta} to the counter of key {key:?} would overflow i64"
                )
            }
        }
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
