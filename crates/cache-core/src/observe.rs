//! What a backend tells the outside about its work: metrics (feature `metrics`) and tracing
//! (feature `tracing`), in one place that every backend calls.
//!
//! A backend builds one [`Observer`] per cache (from its builder's [`ObserveOptions`]: the
//! cache name and whether spans may carry keys) and opens an [`OpGuard`] at the entry of each
//! operation; the guard records the operation's latency and outcome when it is finished (or
//! dropped: a panic or a cancelled future counts as `abandoned`). With both features off the
//! guards are zero-sized and every call an empty `#[inline]` function: the code compiles
//! away.
//!
//! # Metrics (feature `metrics`)
//!
//! Names follow Prometheus; labels are `backend` and `cache` (the name), plus `operation` and
//! `outcome` on the histogram. Keys never become labels.
//!
//! | name | kind | from |
//! | --- | --- | --- |
//! | `cache_operation_duration_seconds` | histogram | each operation (outcome `hit`, `miss`, `ok`, `error`, `abandoned`) |
//! | `cache_hits_total`, `cache_misses_total`, `cache_sets_total`, `cache_deletes_total`, `cache_evictions_total`, `cache_expirations_total` | counter | [`CacheStats`], at [`Observer::publish`] |
//! | `cache_entries` | gauge | [`CacheStats::entries`], at [`Observer::publish`] |
//! | backend gauges: `cache_weight` (memory), `cache_bytes` (file), `cache_loads_in_flight` (file, Redis), `cache_pool_connections`, `_idle`, `_in_use` (Redis) | gauge | the backend, at [`Observer::publish`] |
//!
//! The counters are [`CacheStats`], the one source of truth (their counting rules are the
//! crate's), copied as absolute values when the backend publishes them: each backend has a
//! `publish_metrics()` to call before a scrape (a `/metrics` handler calls it, then renders).
//! Nothing counts twice on the hot path; an operation pays for its histogram only.
//!
//! Handles are resolved once, when the cache is built, from the recorder installed then (the
//! global one, or a local one around the build): install the recorder first. When none is
//! installed, the observer keeps no handles and an operation does not even read the clock.
//!
//! # Tracing (feature `tracing`)
//!
//! Each operation runs in a `DEBUG` span named `cache_op` (target `cache`; entered around a
//! blocking operation, instrumenting an async one's future) with the fields `backend`,
//! `cache`, `operation`, `outcome`, and `key` only when the builder opted in
//! ([`ObserveOptions::trace_keys`]: keys can hold personal data). The span is only built when
//! a subscriber takes `DEBUG` (one relaxed load otherwise). Events (target `cache`) carry
//! `backend` and `cache` too, never a key: `INFO` for what an operator acts on ([`notice`]:
//! a flight lease taken over from a dead or stalled process, a corrupt file dropped, the
//! async Redis cache looking the sentinels' primary up again after a failure), `DEBUG`
//! below ([`detail`]: a Redis call retried on a new connection, a loader's failure, which
//! its caller receives as an error).
//!
//! [`notice`]: Observer::notice
//! [`detail`]: Observer::detail
//!
//! # Cost
//!
//! `benches/benches/observe.rs` (one build per setting, each get paired with a fixed
//! reference; quick mode, on a shared 2-core machine where a round's ratio varies by about
//! ±8%): with `metrics` on and no recorder, a memory get is within that noise of the
//! features-off build; with `tracing` on and no subscriber, 4 to 11% slower in two paired
//! runs (within about twice the noise); with the Prometheus recorder installed, 2.7 times the
//! no-recorder get (about 40 ns → 135 ns: two clock reads and the exporter's histogram
//! push). Every operation is timed; a latency sample of 1 in N operations would cut the
//! last, at the price of a histogram count that no longer counts operations.
//!
//! ```
//! use cache_core::observe::{ObserveOptions, Observer, Op};
//!
//! let options = ObserveOptions::default().name("sessions");
//! let observer = Observer::new("memory", &options, &[])?;
//! let op = observer.op(Op::Get, "user:1");
//! let found: Result<Option<u8>, cache_core::CacheError> = Ok(Some(1));
//! assert_eq!(op.found(found)?, Some(1));
//! # Ok::<(), cache_core::CacheError>(())
//! ```

use crate::{CacheError, CacheStats};
use std::marker::PhantomData;
use std::sync::Arc;

/// An operation, as the `operation` label and span field name it.
///
/// ```
/// assert_eq!(cache_core::observe::Op::GetOrLoad.as_str(), "get_or_load");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// `get`
    Get,
    /// `set`
    Set,
    /// `delete`
    Delete,
    /// `clear`
    Clear,
    /// `exists`
    Exists,
    /// `delete_pattern`
    DeletePattern,
    /// `add`
    Add,
    /// `incr`
    Incr,
    /// `decr`
    Decr,
    /// `touch`
    Touch,
    /// `ttl`
    Ttl,
    /// `get_or_load` (and the get-or-insert helpers over it)
    GetOrLoad,
    /// `get_many`
    GetMany,
    /// `set_many`
    SetMany,
    /// `delete_many`
    DeleteMany,
}

#[cfg(feature = "metrics")]
const OPS: [Op; 15] = [
    Op::Get,
    Op::Set,
    Op::Delete,
    Op::Clear,
    Op::Exists,
    Op::DeletePattern,
    Op::Add,
    Op::Incr,
    Op::Decr,
    Op::Touch,
    Op::Ttl,
    Op::GetOrLoad,
    Op::GetMany,
    Op::SetMany,
    Op::DeleteMany,
];

impl Op {
    /// The operation's name, as in the `Cache` trait.
    ///
    /// ```
    /// assert_eq!(cache_core::observe::Op::DeletePattern.as_str(), "delete_pattern");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Delete => "delete",
            Op::Clear => "clear",
            Op::Exists => "exists",
            Op::DeletePattern => "delete_pattern",
            Op::Add => "add",
            Op::Incr => "incr",
            Op::Decr => "decr",
            Op::Touch => "touch",
            Op::Ttl => "ttl",
            Op::GetOrLoad => "get_or_load",
            Op::GetMany => "get_many",
            Op::SetMany => "set_many",
            Op::DeleteMany => "delete_many",
        }
    }
}

/// How an operation ended, as the `outcome` label and span field name it.
///
/// ```
/// assert_eq!(cache_core::observe::Outcome::Miss.as_str(), "miss");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A `get` that returned a value.
    Hit,
    /// A `get` that returned nothing.
    Miss,
    /// Any other operation that returned `Ok`.
    Ok,
    /// The operation returned an error.
    Error,
    /// The operation never returned: it panicked, or its future was dropped.
    Abandoned,
}

#[cfg(feature = "metrics")]
const OUTCOMES: [Outcome; 5] = [
    Outcome::Hit,
    Outcome::Miss,
    Outcome::Ok,
    Outcome::Error,
    Outcome::Abandoned,
];

impl Outcome {
    /// The outcome's label value.
    ///
    /// ```
    /// assert_eq!(cache_core::observe::Outcome::Abandoned.as_str(), "abandoned");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Abandoned => "abandoned",
        }
    }
}

/// What a cache's builder holds for its [`Observer`]: the cache name (the `cache` label and
/// span field) and whether spans may carry keys. Every backend's builder forwards its
/// `.name(..)` and `.trace_keys(..)` here; both exist with the features off too, so that
/// code naming its caches compiles either way.
///
/// ```
/// use cache_core::observe::ObserveOptions;
///
/// let options = ObserveOptions::default().name("sessions").trace_keys(true);
/// assert_eq!(options.cache_name(), Some("sessions"));
/// assert!(options.keys_traced());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObserveOptions {
    name: Option<Arc<str>>,
    trace_keys: bool,
}

impl ObserveOptions {
    /// Names the cache (default: the backend's name, such as `memory`). Checked when the
    /// cache is built: an empty name, or one with control characters, is a configuration
    /// error.
    ///
    /// ```
    /// let options = cache_core::observe::ObserveOptions::default().name("pages");
    /// assert_eq!(options.cache_name(), Some("pages"));
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(Arc::from(name.into()));
        self
    }

    /// Whether each operation's span records its key (default: no, since keys can hold
    /// personal data). Without the `tracing` feature there are no spans and this does
    /// nothing.
    ///
    /// ```
    /// let options = cache_core::observe::ObserveOptions::default().trace_keys(true);
    /// assert!(options.keys_traced());
    /// ```
    pub fn trace_keys(mut self, yes: bool) -> Self {
        self.trace_keys = yes;
        self
    }

    /// The name set with [`name`](Self::name), if any.
    ///
    /// ```
    /// assert_eq!(cache_core::observe::ObserveOptions::default().cache_name(), None);
    /// ```
    pub fn cache_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether spans record keys.
    ///
    /// ```
    /// assert!(!cache_core::observe::ObserveOptions::default().keys_traced());
    /// ```
    pub fn keys_traced(&self) -> bool {
        self.trace_keys
    }

    /// The name to use: the one set, after checking it, or `default`.
    fn checked_name(&self, default: &'static str) -> Result<Arc<str>, CacheError> {
        match &self.name {
            None => Ok(Arc::from(default)),
            Some(name) if name.is_empty() => Err(CacheError::config(
                "a cache name must not be empty (leave it unset for the backend's name)",
            )),
            Some(name) if name.chars().any(char::is_control) => Err(CacheError::config(format!(
                "the cache name {name:?} holds a control character"
            ))),
            Some(name) => Ok(Arc::clone(name)),
        }
    }
}

/// One cache's instruments: the metric handles (resolved when it is built) and what its
/// spans carry. Cheap to clone (an `Arc`); zero-sized with both features off.
///
/// ```
/// use cache_core::observe::{ObserveOptions, Observer, Op};
///
/// let observer = Observer::new("file", &ObserveOptions::default(), &["cache_bytes"])?;
/// assert_eq!(observer.cache_name(), "file");
/// let done: Result<bool, cache_core::CacheError> = observer.op(Op::Set, "k").done(Ok(true));
/// assert!(done?);
/// # Ok::<(), cache_core::CacheError>(())
/// ```
#[derive(Clone)]
pub struct Observer {
    #[cfg(any(feature = "metrics", feature = "tracing"))]
    shared: Arc<Shared>,
    #[cfg(not(any(feature = "metrics", feature = "tracing")))]
    name: Arc<str>,
}

#[cfg(any(feature = "metrics", feature = "tracing"))]
struct Shared {
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    backend: &'static str,
    name: Arc<str>,
    #[cfg(feature = "tracing")]
    trace_keys: bool,
    #[cfg(feature = "metrics")]
    metrics: Option<metrics_on::Handles>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("cache", &self.cache_name())
            .finish_non_exhaustive()
    }
}

impl Observer {
    /// The observer of a cache of `backend` (the `backend` label: `memory`, `file`, `redis`)
    /// with `options`; `gauges` names the backend's own gauges, whose values
    /// [`publish`](Self::publish) takes in the same order. Resolves the metric handles from
    /// the recorder installed now. An invalid cache name is a configuration error.
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer};
    ///
    /// let bad = ObserveOptions::default().name("");
    /// assert!(Observer::new("memory", &bad, &[]).is_err());
    /// ```
    pub fn new(
        backend: &'static str,
        options: &ObserveOptions,
        gauges: &[&'static str],
    ) -> Result<Self, CacheError> {
        let name = options.checked_name(backend)?;
        let _ = (backend, gauges);
        #[cfg(any(feature = "metrics", feature = "tracing"))]
        {
            Ok(Observer {
                shared: Arc::new(Shared {
                    backend,
                    #[cfg(feature = "metrics")]
                    metrics: metrics_on::Handles::resolve(backend, &name, gauges),
                    name,
                    #[cfg(feature = "tracing")]
                    trace_keys: options.trace_keys,
                }),
            })
        }
        #[cfg(not(any(feature = "metrics", feature = "tracing")))]
        {
            Ok(Observer { name })
        }
    }

    /// The cache name (the `cache` label).
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer};
    /// let o = Observer::new("redis", &ObserveOptions::default().name("pages"), &[])?;
    /// assert_eq!(o.cache_name(), "pages");
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn cache_name(&self) -> &str {
        #[cfg(any(feature = "metrics", feature = "tracing"))]
        {
            &self.shared.name
        }
        #[cfg(not(any(feature = "metrics", feature = "tracing")))]
        {
            &self.name
        }
    }

    /// Opens the instruments of one operation on `key` (a pattern for `delete_pattern`, `""`
    /// for operations without one): the span is entered until the guard is finished or
    /// dropped, so use it on the thread that does the work (an async cache uses
    /// [`op_async`](Self::op_async)).
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer, Op};
    /// let observer = Observer::new("memory", &ObserveOptions::default(), &[])?;
    /// let n: Result<i64, cache_core::CacheError> = observer.op(Op::Incr, "visits").done(Ok(1));
    /// assert_eq!(n?, 1);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn op(&self, op: Op, key: &str) -> OpGuard<'_> {
        let _ = (op, key);
        OpGuard {
            #[cfg(feature = "metrics")]
            timing: self.timing(op),
            #[cfg(feature = "tracing")]
            span: spans_wanted().then(|| self.span(op, key).entered()),
            _observer: PhantomData,
        }
    }

    /// [`op`](Self::op) for an operation that awaits: the guard is `Send` and holds its span
    /// without entering it ([`AsyncOpGuard::span`], to instrument the future with).
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer, Op};
    /// let observer = Observer::new("redis", &ObserveOptions::default(), &[])?;
    /// let op = observer.op_async(Op::Get, "k");
    /// let found: Result<Option<u8>, cache_core::CacheError> = op.found(Ok(None));
    /// assert_eq!(found?, None);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn op_async(&self, op: Op, key: &str) -> AsyncOpGuard<'_> {
        let _ = (op, key);
        AsyncOpGuard {
            #[cfg(feature = "metrics")]
            timing: self.timing(op),
            #[cfg(feature = "tracing")]
            span: spans_wanted().then(|| self.span(op, key)),
            _observer: PhantomData,
        }
    }

    #[cfg(feature = "metrics")]
    #[inline]
    fn timing(&self, op: Op) -> metrics_on::Timing<'_> {
        metrics_on::Timing::start(self.shared.metrics.as_ref(), op)
    }

    #[cfg(feature = "tracing")]
    #[inline]
    fn span(&self, op: Op, key: &str) -> tracing::Span {
        let s = &self.shared;
        let span = tracing::debug_span!(
            target: "cache",
            "cache_op",
            backend = s.backend,
            cache = &*s.name,
            operation = op.as_str(),
            outcome = tracing::field::Empty,
            key = tracing::field::Empty,
        );
        if s.trace_keys && !span.is_disabled() {
            span.record("key", key);
        }
        span
    }

    /// Copies `stats` into the counters (`cache_hits_total`, ... as absolute values) and the
    /// `cache_entries` gauge, and sets the backend's gauges to `gauges` (in the order given to
    /// [`new`](Self::new)). Does nothing without the `metrics` feature or a recorder.
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer};
    /// let observer = Observer::new("memory", &ObserveOptions::default(), &["cache_weight"])?;
    /// observer.publish(&cache_core::CacheStats::default(), &[0.0]);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn publish(&self, stats: &CacheStats, gauges: &[f64]) {
        let _ = (stats, gauges);
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.shared.metrics {
            m.publish(stats, gauges);
        }
    }

    /// Whether anything observes this cache's metrics (the `metrics` feature and a recorder
    /// installed when it was built): a backend skips gathering gauges when not.
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer};
    /// let observer = Observer::new("memory", &ObserveOptions::default(), &[])?;
    /// assert!(!observer.metrics_recorded()); // no recorder in this doctest
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn metrics_recorded(&self) -> bool {
        #[cfg(feature = "metrics")]
        {
            self.shared.metrics.is_some()
        }
        #[cfg(not(feature = "metrics"))]
        {
            false
        }
    }

    /// An event about the operator's business: a reconnect, a failover, a lease taken over, a
    /// corrupt entry dropped (`INFO`, target `cache`, with `backend`, `cache` and
    /// `what`). Nothing without the `tracing` feature.
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer};
    /// let observer = Observer::new("file", &ObserveOptions::default(), &[])?;
    /// observer.notice("corrupt entry dropped", &"bad checksum");
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[cold]
    pub fn notice(&self, what: &'static str, detail: &dyn std::fmt::Display) {
        let _ = (what, detail);
        #[cfg(feature = "tracing")]
        tracing::info!(
            target: "cache",
            backend = self.shared.backend,
            cache = &*self.shared.name,
            what,
            detail = %detail,
            "{what}"
        );
    }

    /// An event below the operator's attention: a retry, a loader's failure that its caller
    /// receives (`DEBUG`, target `cache`, with `backend`, `cache` and `what`). Nothing
    /// without the `tracing` feature.
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer};
    /// let observer = Observer::new("redis", &ObserveOptions::default(), &[])?;
    /// observer.detail("retry", &"connection reset");
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[cold]
    pub fn detail(&self, what: &'static str, detail: &dyn std::fmt::Display) {
        let _ = (what, detail);
        #[cfg(feature = "tracing")]
        tracing::debug!(
            target: "cache",
            backend = self.shared.backend,
            cache = &*self.shared.name,
            what,
            detail = %detail,
            "{what}"
        );
    }
}

/// The instruments of one operation on a blocking cache; see [`Observer::op`]. Finish it
/// with [`found`](Self::found) (a `get`: hit or miss), [`done`](Self::done) (ok or error) or
/// [`finish`](Self::finish); dropped unfinished, it records `abandoned`.
///
/// ```
/// use cache_core::observe::{ObserveOptions, Observer, Op, Outcome};
/// let observer = Observer::new("memory", &ObserveOptions::default(), &[])?;
/// observer.op(Op::Clear, "").finish(Outcome::Ok);
/// # Ok::<(), cache_core::CacheError>(())
/// ```
#[must_use = "an operation's guard records when it is finished or dropped"]
pub struct OpGuard<'a> {
    #[cfg(feature = "metrics")]
    timing: metrics_on::Timing<'a>,
    /// `None` when no subscriber wants `DEBUG` spans (one check is all an operation pays).
    #[cfg(feature = "tracing")]
    span: Option<tracing::span::EnteredSpan>,
    _observer: PhantomData<&'a Observer>,
}

impl OpGuard<'_> {
    /// Records hit (`Ok(Some)`), miss (`Ok(None)`) or error, and passes `result` on.
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer, Op};
    /// let observer = Observer::new("memory", &ObserveOptions::default(), &[])?;
    /// let r: Result<Option<u8>, cache_core::CacheError> = Ok(None);
    /// assert_eq!(observer.op(Op::Get, "k").found(r)?, None);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn found<V, E>(self, result: Result<Option<V>, E>) -> Result<Option<V>, E> {
        self.finish(found_outcome(&result));
        result
    }

    /// Records ok or error, and passes `result` on.
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer, Op};
    /// let observer = Observer::new("memory", &ObserveOptions::default(), &[])?;
    /// let r: Result<bool, cache_core::CacheError> = Ok(true);
    /// assert!(observer.op(Op::Delete, "k").done(r)?);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn done<T, E>(self, result: Result<T, E>) -> Result<T, E> {
        self.finish(done_outcome(&result));
        result
    }

    /// As [`done`](Self::done) for a `get_or_load`, with a `DEBUG` event `loader failed`
    /// (its `detail` the loader's own error, never the key) when the loader failed.
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer, Op};
    /// let observer = Observer::new("memory", &ObserveOptions::default(), &[])?;
    /// let down: Box<dyn std::error::Error + Send + Sync> = "database down".into();
    /// let r = Err(cache_core::CacheError::loader("k", down));
    /// assert!(observer.op(Op::GetOrLoad, "k").loaded::<u8>(&observer, r).is_err());
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn loaded<V>(
        self,
        observer: &Observer,
        result: Result<V, CacheError>,
    ) -> Result<V, CacheError> {
        loader_event(observer, &result);
        self.done(result)
    }

    /// Records `outcome`.
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer, Op, Outcome};
    /// let observer = Observer::new("memory", &ObserveOptions::default(), &[])?;
    /// observer.op(Op::Get, "k").finish(Outcome::Hit);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn finish(mut self, outcome: Outcome) {
        self.end(outcome);
    }

    /// Records `outcome`, the first time only (a finished guard is dropped after); the span
    /// closes here.
    #[inline]
    fn end(&mut self, outcome: Outcome) {
        let _ = outcome;
        #[cfg(feature = "tracing")]
        if let Some(span) = self.span.take() {
            span.record("outcome", outcome.as_str());
        }
        #[cfg(feature = "metrics")]
        self.timing.stop(outcome);
    }
}

impl Drop for OpGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.end(Outcome::Abandoned);
    }
}

/// The instruments of one operation that awaits; see [`Observer::op_async`]. `Send`; its span
/// is not entered ([`span`](Self::span) to instrument a future with it).
///
/// ```
/// use cache_core::observe::{ObserveOptions, Observer, Op};
/// let observer = Observer::new("redis", &ObserveOptions::default(), &[])?;
/// let r: Result<(), cache_core::CacheError> = observer.op_async(Op::Clear, "").done(Ok(()));
/// assert!(r.is_ok());
/// # Ok::<(), cache_core::CacheError>(())
/// ```
#[must_use = "an operation's guard records when it is finished or dropped"]
pub struct AsyncOpGuard<'a> {
    #[cfg(feature = "metrics")]
    timing: metrics_on::Timing<'a>,
    #[cfg(feature = "tracing")]
    span: Option<tracing::Span>,
    _observer: PhantomData<&'a Observer>,
}

impl AsyncOpGuard<'_> {
    /// As [`OpGuard::found`].
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer, Op};
    /// let observer = Observer::new("redis", &ObserveOptions::default(), &[])?;
    /// let r: Result<Option<u8>, cache_core::CacheError> = Ok(Some(3));
    /// assert_eq!(observer.op_async(Op::Get, "k").found(r)?, Some(3));
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn found<V, E>(mut self, result: Result<Option<V>, E>) -> Result<Option<V>, E> {
        self.end(found_outcome(&result));
        result
    }

    /// As [`OpGuard::done`].
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer, Op};
    /// let observer = Observer::new("redis", &ObserveOptions::default(), &[])?;
    /// let r: Result<u64, cache_core::CacheError> = Ok(2);
    /// assert_eq!(observer.op_async(Op::DeletePattern, "a*").done(r)?, 2);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn done<T, E>(mut self, result: Result<T, E>) -> Result<T, E> {
        self.end(done_outcome(&result));
        result
    }

    /// As [`OpGuard::loaded`].
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer, Op};
    /// let observer = Observer::new("redis", &ObserveOptions::default(), &[])?;
    /// let r: Result<u8, cache_core::CacheError> = Ok(1);
    /// assert_eq!(observer.op_async(Op::GetOrLoad, "k").loaded(&observer, r)?, 1);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[inline]
    pub fn loaded<V>(
        self,
        observer: &Observer,
        result: Result<V, CacheError>,
    ) -> Result<V, CacheError> {
        loader_event(observer, &result);
        self.done(result)
    }

    /// Awaits `operation` in the span (entered at each poll), then records as
    /// [`found`](Self::found).
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer, Op};
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
    /// # }
    /// let observer = Observer::new("redis", &ObserveOptions::default(), &[])?;
    /// let get = async { Ok::<_, cache_core::CacheError>(Some(1u8)) };
    /// assert_eq!(block_on(observer.op_async(Op::Get, "k").found_of(get))?, Some(1));
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub async fn found_of<V, E>(
        self,
        operation: impl std::future::Future<Output = Result<Option<V>, E>>,
    ) -> Result<Option<V>, E> {
        let result = self.within(operation).await;
        self.found(result)
    }

    /// Awaits `operation` in the span (entered at each poll), then records as
    /// [`done`](Self::done).
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer, Op};
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
    /// # }
    /// let observer = Observer::new("redis", &ObserveOptions::default(), &[])?;
    /// let set = async { Ok::<_, cache_core::CacheError>(true) };
    /// assert!(block_on(observer.op_async(Op::Set, "k").done_of(set))?);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub async fn done_of<T, E>(
        self,
        operation: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let result = self.within(operation).await;
        self.done(result)
    }

    /// Awaits `operation` in the span (entered at each poll), then records as
    /// [`loaded`](Self::loaded).
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer, Op};
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
    /// # }
    /// let observer = Observer::new("redis", &ObserveOptions::default(), &[])?;
    /// let load = async { Ok::<_, cache_core::CacheError>(5u8) };
    /// assert_eq!(block_on(observer.op_async(Op::GetOrLoad, "k").loaded_of(&observer, load))?, 5);
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub async fn loaded_of<V>(
        self,
        observer: &Observer,
        operation: impl std::future::Future<Output = Result<V, CacheError>>,
    ) -> Result<V, CacheError> {
        let result = self.within(operation).await;
        self.loaded(observer, result)
    }

    #[inline]
    async fn within<T>(&self, operation: impl std::future::Future<Output = T>) -> T {
        #[cfg(feature = "tracing")]
        if let Some(span) = &self.span {
            use tracing::Instrument;
            return operation.instrument(span.clone()).await;
        }
        operation.await
    }

    /// The operation's span (disabled without the `tracing` feature or a subscriber that
    /// wants it), to instrument the operation's future with.
    ///
    /// ```
    /// use cache_core::observe::{ObserveOptions, Observer, Op};
    /// let observer = Observer::new("redis", &ObserveOptions::default(), &[])?;
    /// let op = observer.op_async(Op::Get, "k");
    /// let _span = op.span();
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn span(&self) -> tracing::Span {
        self.span.clone().unwrap_or_else(tracing::Span::none)
    }

    /// Records `outcome`, the first time only (a finished guard is dropped after); the span
    /// closes here.
    #[inline]
    fn end(&mut self, outcome: Outcome) {
        let _ = outcome;
        #[cfg(feature = "tracing")]
        if let Some(span) = self.span.take() {
            span.record("outcome", outcome.as_str());
        }
        #[cfg(feature = "metrics")]
        self.timing.stop(outcome);
    }
}

impl Drop for AsyncOpGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.end(Outcome::Abandoned);
    }
}

/// Whether any subscriber may want a `DEBUG` span: one relaxed load (the most verbose level
/// the subscribers take), so that an operation without one builds no span at all.
#[cfg(feature = "tracing")]
#[inline]
fn spans_wanted() -> bool {
    use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
    STATIC_MAX_LEVEL >= LevelFilter::DEBUG && LevelFilter::current() >= LevelFilter::DEBUG
}

#[inline]
fn loader_event<V>(observer: &Observer, result: &Result<V, CacheError>) {
    if let Err(CacheError::Loader { source, .. }) = result {
        observer.detail("loader failed", source);
    }
}

#[inline]
fn found_outcome<V, E>(result: &Result<Option<V>, E>) -> Outcome {
    match result {
        Ok(Some(_)) => Outcome::Hit,
        Ok(None) => Outcome::Miss,
        Err(_) => Outcome::Error,
    }
}

#[inline]
fn done_outcome<T, E>(result: &Result<T, E>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(_) => Outcome::Error,
    }
}

#[cfg(feature = "metrics")]
mod metrics_on {
    use super::{Op, Outcome, OPS, OUTCOMES};
    use crate::CacheStats;
    use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, Unit};
    use std::sync::Arc;
    use std::time::Instant;

    static META: Metadata<'static> =
        Metadata::new("cache_core::observe", metrics::Level::INFO, None);

    pub(super) const DURATION: &str = "cache_operation_duration_seconds";

    /// The handles of one cache, resolved once from the recorder installed at its build.
    pub(super) struct Handles {
        /// By operation, then outcome (in the order of `OPS` and `OUTCOMES`).
        durations: Box<[[Histogram; OUTCOMES.len()]]>,
        counters: [Counter; 6],
        entries: Gauge,
        gauges: Box<[Gauge]>,
    }

    impl Handles {
        /// The handles, or `None` when no recorder is installed (the no-op recorder is the
        /// one zero-sized recorder: every real one holds its registry).
        pub(super) fn resolve(
            backend: &'static str,
            name: &Arc<str>,
            gauges: &[&'static str],
        ) -> Option<Self> {
            metrics::with_recorder(|r| {
                if std::mem::size_of_val(r) == 0 {
                    return None;
                }
                Some(Self::register(r, backend, name, gauges))
            })
        }

        fn register(
            r: &dyn Recorder,
            backend: &'static str,
            name: &Arc<str>,
            gauges: &[&'static str],
        ) -> Self {
            let base = || {
                vec![
                    Label::new("backend", backend),
                    Label::new("cache", name.to_string()),
                ]
            };
            r.describe_histogram(
                DURATION.into(),
                Some(Unit::Seconds),
                "How long each cache operation took, by operation and outcome".into(),
            );
            let durations = OPS
                .iter()
                .map(|op| {
                    OUTCOMES.map(|outcome| {
                        let mut labels = base();
                        labels.push(Label::new("operation", op.as_str()));
                        labels.push(Label::new("outcome", outcome.as_str()));
                        r.register_histogram(&Key::from_parts(DURATION, labels), &META)
                    })
                })
                .collect();
            let counter = |name: &'static str, help: &'static str| {
                r.describe_counter(name.into(), None, help.into());
                r.register_counter(&Key::from_parts(name, base()), &META)
            };
            let counters = [
                counter(
                    "cache_hits_total",
                    "Gets that returned a value (CacheStats::hits)",
                ),
                counter(
                    "cache_misses_total",
                    "Gets that returned nothing (CacheStats::misses)",
                ),
                counter("cache_sets_total", "Values stored (CacheStats::sets)"),
                counter(
                    "cache_deletes_total",
                    "Live entries deleted (CacheStats::deletes)",
                ),
                counter(
                    "cache_evictions_total",
                    "Live entries evicted for a bound (CacheStats::evictions)",
                ),
                counter(
                    "cache_expirations_total",
                    "Expired entries removed (CacheStats::expirations)",
                ),
            ];
            let gauge =
                |name: &'static str| r.register_gauge(&Key::from_parts(name, base()), &META);
            r.describe_gauge(
                "cache_entries".into(),
                None,
                "Entries stored (CacheStats::entries)".into(),
            );
            Handles {
                durations,
                counters,
                entries: gauge("cache_entries"),
                gauges: gauges.iter().map(|g| gauge(g)).collect(),
            }
        }

        pub(super) fn publish(&self, stats: &CacheStats, gauges: &[f64]) {
            let values = [
                stats.hits,
                stats.misses,
                stats.sets,
                stats.deletes,
                stats.evictions,
                stats.expirations,
            ];
            for (counter, value) in self.counters.iter().zip(values) {
                counter.absolute(value);
            }
            if let Some(entries) = stats.entries {
                self.entries.set(entries as f64);
            }
            for (gauge, value) in self.gauges.iter().zip(gauges) {
                gauge.set(*value);
            }
        }
    }

    /// An operation's start and its histograms, when a recorder will hear of it.
    pub(super) struct Timing<'a> {
        started: Option<(Instant, &'a [Histogram; OUTCOMES.len()])>,
    }

    impl<'a> Timing<'a> {
        #[inline]
        pub(super) fn start(handles: Option<&'a Handles>, op: Op) -> Self {
            Timing {
                started: handles.map(|h| (Instant::now(), &h.durations[op as usize])),
            }
        }

        #[inline]
        pub(super) fn stop(&mut self, outcome: Outcome) {
            if let Some((t0, histograms)) = self.started.take() {
                histograms[outcome as usize].record(t0.elapsed().as_secs_f64());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With both features off a guard is nothing at all; with either on it holds something.
    #[test]
    fn guards_are_zero_sized_exactly_when_both_features_are_off() {
        let off = !cfg!(any(feature = "metrics", feature = "tracing"));
        assert_eq!(std::mem::size_of::<OpGuard<'_>>() == 0, off);
        assert_eq!(std::mem::size_of::<AsyncOpGuard<'_>>() == 0, off);
    }
}
