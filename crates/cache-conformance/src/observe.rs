//! The checks of a backend's metrics and spans (feature `observe`): a [`Recorded`] metrics
//! recorder and a [`Captured`] tracing layer that keep what they are given, and
//! [`check_observed`], the case every backend runs: the `CacheStats` counters as published,
//! a histogram entry per operation with its outcome, spans with the cache's name, and the key
//! nowhere (not in a label, not in a span) unless the builder opted in.
//!
//! ```
//! use cache_conformance::observe::{Captured, Recorded};
//! use cache_core::observe::{ObserveOptions, Observer, Op};
//!
//! let recorded = Recorded::default();
//! let captured = Captured::default();
//! let observer = metrics::with_local_recorder(&recorded, || {
//!     Observer::new("memory", &ObserveOptions::default().name("pages"), &[])
//! })?;
//! captured.run(|| {
//!     let r: Result<Option<u8>, cache_core::CacheError> = Ok(Some(1));
//!     observer.op(Op::Get, "k").found(r)
//! })?;
//! let hit = [("backend", "memory"), ("cache", "pages"), ("operation", "get"), ("outcome", "hit")];
//! assert_eq!(recorded.histogram("cache_operation_duration_seconds", &hit).len(), 1);
//! assert_eq!(captured.spans_named("cache_op").len(), 1);
//! # Ok::<(), cache_core::CacheError>(())
//! ```

use cache_core::{Cache, CacheError};
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

type Labels = Vec<(String, String)>;

/// A metric's identity: its name and its labels, sorted.
type Id2 = (String, Labels);

/// A `metrics` recorder that keeps every value (counters, gauges, histogram samples) for a
/// test to read. Install it around a cache's build with `metrics::with_local_recorder` (the
/// handles are resolved then).
///
/// ```
/// use cache_conformance::observe::Recorded;
/// let recorded = Recorded::default();
/// metrics::with_local_recorder(&recorded, || metrics::counter!("n", "a" => "b").absolute(3));
/// assert_eq!(recorded.counter("n", &[("a", "b")]), Some(3));
/// ```
#[derive(Debug, Default, Clone)]
pub struct Recorded {
    inner: Arc<Store>,
}

#[derive(Debug, Default)]
struct Store {
    counters: Mutex<BTreeMap<Id2, Arc<Value>>>,
    gauges: Mutex<BTreeMap<Id2, Arc<Value>>>,
    histograms: Mutex<BTreeMap<Id2, Arc<Samples>>>,
}

#[derive(Debug, Default)]
struct Value(AtomicU64);

#[derive(Debug, Default)]
struct Samples(Mutex<Vec<f64>>);

impl CounterFn for Value {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

impl GaugeFn for Value {
    fn increment(&self, value: f64) {
        self.set(f64::from_bits(self.0.load(Ordering::Relaxed)) + value);
    }
    fn decrement(&self, value: f64) {
        GaugeFn::increment(self, -value);
    }
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(value);
    }
}

fn id_of(key: &Key) -> Id2 {
    let mut labels: Labels = key
        .labels()
        .map(|l| (l.key().to_owned(), l.value().to_owned()))
        .collect();
    labels.sort();
    (key.name().to_owned(), labels)
}

fn id_from(name: &str, labels: &[(&str, &str)]) -> Id2 {
    let mut labels: Labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    (name.to_owned(), labels)
}

fn ids<T>(map: &Mutex<BTreeMap<Id2, T>>) -> Vec<Id2> {
    map.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .keys()
        .cloned()
        .collect()
}

fn entry<T: Default>(map: &Mutex<BTreeMap<Id2, Arc<T>>>, key: &Key) -> Arc<T> {
    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(map.entry(id_of(key)).or_default())
}

impl Recorder for Recorded {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(entry(&self.inner.counters, key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(entry(&self.inner.gauges, key))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(entry(&self.inner.histograms, key))
    }
}

impl Recorded {
    /// The counter `name` with exactly these labels, if registered.
    ///
    /// ```
    /// assert_eq!(cache_conformance::observe::Recorded::default().counter("x", &[]), None);
    /// ```
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        let map = self
            .inner
            .counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(&id_from(name, labels))
            .map(|v| v.0.load(Ordering::Relaxed))
    }

    /// The gauge `name` with exactly these labels, if registered.
    ///
    /// ```
    /// assert_eq!(cache_conformance::observe::Recorded::default().gauge("x", &[]), None);
    /// ```
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let map = self
            .inner
            .gauges
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(&id_from(name, labels))
            .map(|v| f64::from_bits(v.0.load(Ordering::Relaxed)))
    }

    /// The samples of the histogram `name` with exactly these labels (none if unregistered).
    ///
    /// ```
    /// assert!(cache_conformance::observe::Recorded::default().histogram("x", &[]).is_empty());
    /// ```
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        let map = self
            .inner
            .histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(&id_from(name, labels)).map_or_else(Vec::new, |s| {
            s.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
        })
    }

    /// Every label value of every metric registered, to check that a key is none of them.
    ///
    /// ```
    /// assert!(cache_conformance::observe::Recorded::default().label_values().is_empty());
    /// ```
    pub fn label_values(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut take = |ids: Vec<Id2>| {
            for (_, labels) in ids {
                out.extend(labels.into_iter().map(|(_, v)| v));
            }
        };
        take(ids(&self.inner.counters));
        take(ids(&self.inner.gauges));
        take(ids(&self.inner.histograms));
        out
    }
}

/// A span or an event as the [`Captured`] layer saw it: its name (an event's message), level,
/// target and fields (recorded later included), with, for an event, the fields of the span it
/// happened in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// The span's name, or the event's message.
    pub name: String,
    /// Its level (`INFO`, `DEBUG` ...).
    pub level: String,
    /// Its target.
    pub target: String,
    /// Its fields, each value as `Debug` shows it (strings without quotes).
    pub fields: BTreeMap<String, String>,
    /// An event's enclosing span's name, if any.
    pub parent: Option<String>,
}

#[derive(Default)]
struct FieldMap<'a>(Option<&'a mut BTreeMap<String, String>>);

impl Visit for FieldMap<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(m) = self.0.as_mut() {
            m.insert(field.name().to_owned(), value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if let Some(m) = self.0.as_mut() {
            m.insert(field.name().to_owned(), format!("{value:?}"));
        }
    }
}

/// A tracing layer that keeps every span and event; [`run`](Self::run) runs a closure with
/// it as the thread's default subscriber.
///
/// ```
/// let captured = cache_conformance::observe::Captured::default();
/// captured.run(|| tracing::info!(target: "cache", what = "x", "hello"));
/// assert_eq!(captured.events()[0].fields["what"], "x");
/// ```
#[derive(Debug, Default, Clone)]
pub struct Captured {
    spans: Arc<Mutex<Vec<Seen>>>,
    events: Arc<Mutex<Vec<Seen>>>,
}

/// The index of a span in `Captured::spans`, kept in the registry's span extensions.
struct Index(usize);

impl<S> Layer<S> for Captured
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        let mut seen = Seen {
            name: meta.name().to_owned(),
            level: meta.level().to_string(),
            target: meta.target().to_owned(),
            ..Seen::default()
        };
        attrs.record(&mut FieldMap(Some(&mut seen.fields)));
        let mut spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        spans.push(seen);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Index(spans.len() - 1));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let ext = span.extensions();
        let Some(Index(i)) = ext.get::<Index>() else {
            return;
        };
        let mut spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        values.record(&mut FieldMap(Some(&mut spans[*i].fields)));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut seen = Seen {
            level: meta.level().to_string(),
            target: meta.target().to_owned(),
            parent: ctx.event_span(event).map(|s| s.name().to_owned()),
            ..Seen::default()
        };
        event.record(&mut FieldMap(Some(&mut seen.fields)));
        seen.name = seen.fields.get("message").cloned().unwrap_or_default();
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(seen);
    }
}

impl Captured {
    /// Runs `f` with this layer (over a registry) as the thread's default subscriber.
    ///
    /// ```
    /// let captured = cache_conformance::observe::Captured::default();
    /// let n = captured.run(|| 2 + 2);
    /// assert_eq!(n, 4);
    /// ```
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::with_default(subscriber, f)
    }

    /// Makes this layer (over a registry) the process's global subscriber, for work on
    /// threads the test does not run itself; fails if a global subscriber is already set.
    /// Spans and events of other tests of the process are kept too: filter on the cache
    /// name.
    ///
    /// ```
    /// let captured = cache_conformance::observe::Captured::default();
    /// captured.install_globally().expect("the first global subscriber");
    /// std::thread::spawn(|| tracing::info!(target: "cache", "elsewhere")).join().unwrap();
    /// assert_eq!(captured.events()[0].name, "elsewhere");
    /// ```
    pub fn install_globally(&self) -> Result<(), CacheError> {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::set_global_default(subscriber)
            .map_err(|e| CacheError::config(format!("a global subscriber: {e}")))
    }

    /// Every span seen, in order of creation.
    ///
    /// ```
    /// assert!(cache_conformance::observe::Captured::default().spans().is_empty());
    /// ```
    pub fn spans(&self) -> Vec<Seen> {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The spans named `name`.
    ///
    /// ```
    /// assert!(cache_conformance::observe::Captured::default().spans_named("x").is_empty());
    /// ```
    pub fn spans_named(&self, name: &str) -> Vec<Seen> {
        self.spans()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }

    /// Every event seen, in order.
    ///
    /// ```
    /// assert!(cache_conformance::observe::Captured::default().events().is_empty());
    /// ```
    pub fn events(&self) -> Vec<Seen> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What [`check_observed`] needs of a backend: how to build a named cache (with keys traced
/// or not) and how to publish its metrics.
pub trait Observed {
    /// The cache type.
    type Cache: Cache<String>;
    /// The `backend` label the backend's caches carry.
    const BACKEND: &'static str;
    /// A fresh, empty cache named `name`, its spans recording keys iff `trace_keys`.
    fn build(&self, name: &str, trace_keys: bool) -> Result<Self::Cache, CacheError>;
    /// The cache's `publish_metrics()`.
    fn publish(&self, cache: &Self::Cache);
}

fn fail(message: String) -> CacheError {
    CacheError::config(format!("observe check: {message}"))
}

fn expect(ok: bool, message: impl FnOnce() -> String) -> Result<(), CacheError> {
    if ok {
        Ok(())
    } else {
        Err(fail(message()))
    }
}

/// The observability case of a backend: with a [`Recorded`] recorder installed around the
/// build and [`Captured`] spans around the calls, a cache named `sessions` does one set, one
/// hit, two misses and one delete; then
/// - the published counters `cache_hits_total` ... equal its `stats()`: 1, 2, 1, 1;
/// - `cache_operation_duration_seconds` has one sample per call under its operation and
///   outcome (`get`/`hit` 1, `get`/`miss` 2, `set`/`ok` 1, `delete`/`ok` 1), each finite and
///   not negative;
/// - each call had a `cache_op` span with `backend`, `cache = sessions`, its `operation` and
///   `outcome`, and no `key`; the key is in no label and no span field;
/// - a second cache built with keys traced has the key in its `get` span.
///
/// Returns an error naming the first thing that differs.
pub fn check_observed<O: Observed>(backend: &O) -> Result<(), CacheError> {
    const KEY: &str = "secret-key-4f2a";
    const ABSENT: &str = "absent-key-9c1d";
    let recorded = Recorded::default();
    let captured = Captured::default();
    let cache = metrics::with_local_recorder(&recorded, || backend.build("sessions", false))?;
    captured.run(|| -> Result<(), CacheError> {
        cache.set(KEY, "v".to_owned(), cache_core::Ttl::Never)?;
        expect(cache.get(KEY)?.as_deref() == Some("v"), || {
            "the get missed".into()
        })?;
        expect(cache.get(ABSENT)?.is_none(), || "a get hit".into())?;
        expect(cache.get(ABSENT)?.is_none(), || "a get hit".into())?;
        expect(cache.delete(KEY)?, || "the delete found nothing".into())?;
        Ok(())
    })?;
    backend.publish(&cache);
    let stats = cache.stats();
    let base = [("backend", O::BACKEND), ("cache", "sessions")];
    for (name, want) in [
        ("cache_hits_total", stats.hits),
        ("cache_misses_total", stats.misses),
        ("cache_sets_total", stats.sets),
        ("cache_deletes_total", stats.deletes),
        ("cache_evictions_total", stats.evictions),
        ("cache_expirations_total", stats.expirations),
    ] {
        let got = recorded.counter(name, &base);
        expect(got == Some(want), || {
            format!("{name} is {got:?}, stats say {want}")
        })?;
    }
    expect(
        (stats.hits, stats.misses, stats.sets, stats.deletes) == (1, 2, 1, 1),
        || format!("stats {stats:?}"),
    )?;
    for (operation, outcome, want) in [
        ("get", "hit", 1),
        ("get", "miss", 2),
        ("set", "ok", 1),
        ("delete", "ok", 1),
        ("get", "error", 0),
    ] {
        let mut labels = base.to_vec();
        labels.extend([("operation", operation), ("outcome", outcome)]);
        let samples = recorded.histogram("cache_operation_duration_seconds", &labels);
        expect(samples.len() == want, || {
            format!(
                "{operation}/{outcome}: {} samples, not {want}",
                samples.len()
            )
        })?;
        expect(samples.iter().all(|s| s.is_finite() && *s >= 0.0), || {
            format!("{operation}/{outcome} samples {samples:?}")
        })?;
    }
    let labels = recorded.label_values();
    expect(
        !labels.iter().any(|v| v.contains(KEY) || v.contains(ABSENT)),
        || format!("a key is a label value: {labels:?}"),
    )?;
    let spans = captured.spans_named("cache_op");
    let ops: Vec<(&str, &str)> = spans
        .iter()
        .map(|s| {
            (
                s.fields.get("operation").map_or("", String::as_str),
                s.fields.get("outcome").map_or("", String::as_str),
            )
        })
        .collect();
    expect(
        ops == [
            ("set", "ok"),
            ("get", "hit"),
            ("get", "miss"),
            ("get", "miss"),
            ("delete", "ok"),
        ],
        || format!("cache_op spans {ops:?}"),
    )?;
    for span in &spans {
        expect(
            span.fields.get("backend").map(String::as_str) == Some(O::BACKEND)
                && span.fields.get("cache").map(String::as_str) == Some("sessions")
                && span.target == "cache"
                && span.level == "DEBUG",
            || format!("span {span:?}"),
        )?;
        expect(!span.fields.contains_key("key"), || {
            format!("a span records the key unasked: {span:?}")
        })?;
    }
    let everything = format!("{:?}{:?}", captured.spans(), captured.events());
    expect(
        !everything.contains(KEY) && !everything.contains(ABSENT),
        || "a key is in a span or event".into(),
    )?;

    let keyed = Captured::default();
    let cache = backend.build("keyed", true)?;
    keyed.run(|| cache.get(ABSENT))?;
    let spans = keyed.spans_named("cache_op");
    expect(
        spans.len() == 1 && spans[0].fields.get("key").map(String::as_str) == Some(ABSENT),
        || format!("with keys traced, the get span is {spans:?}"),
    )?;
    Ok(())
}
