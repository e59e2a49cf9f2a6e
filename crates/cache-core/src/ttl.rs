use std::fmt;
use std::time::Duration;

use crate::CacheError;

/// How long an entry written by one `set` lives.
///
/// All three forms of the contract are expressible: the cache's default TTL, no expiry at
/// all, and an explicit duration (a zero duration means "already expired").
///
/// ```
/// use cache_core::Ttl;
/// use std::time::Duration;
///
/// let default = Ttl::Default;
/// let forever = Ttl::Never;
/// let minute: Ttl = Duration::from_secs(60).into();
/// assert_eq!(minute, Ttl::After(Duration::from_secs(60)));
/// // The default resolves against the cache's own default TTL:
/// assert_eq!(default.resolve(Some(Duration::from_secs(5))), Some(Duration::from_secs(5)));
/// assert_eq!(forever.resolve(Some(Duration::from_secs(5))), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Ttl {
    /// Use the default TTL the cache was built with (which may itself be "never").
    #[default]
    Default,
    /// Never expire.
    Never,
    /// Expire this long after the write; `Duration::ZERO` is already expired.
    After(Duration),
}

impl Ttl {
    /// The effective duration once the cache's default is known: `None` means never expire.
    ///
    /// ```
    /// use cache_core::Ttl;
    /// use std::time::Duration;
    /// assert_eq!(Ttl::Default.resolve(None), None);
    /// assert_eq!(Ttl::After(Duration::ZERO).resolve(None), Some(Duration::ZERO));
    /// ```
    #[inline]
    pub fn resolve(self, default: Option<Duration>) -> Option<Duration> {
        match self {
            Ttl::Default => default,
            Ttl::Never => None,
            Ttl::After(d) => Some(d),
        }
    }

    /// Checks a cache's default TTL when the cache is built, for the builder of the cache named
    /// `cache`: `None` (entries written with [`Ttl::Default`] never expire) or a positive
    /// duration. A zero default is a [`CacheError::Config`]: every `Ttl::Default` write would
    /// store nothing. Every backend's builder and constructor takes its default TTL as
    /// `impl Into<Option<Duration>>` and checks it with this.
    ///
    /// ```
    /// use cache_core::Ttl;
    /// use std::time::Duration;
    /// let minute = Duration::from_secs(60);
    /// assert_eq!(Ttl::check_default("MyCache", Some(minute))?, Some(minute));
    /// assert_eq!(Ttl::check_default("MyCache", None)?, None);
    /// let err = Ttl::check_default("MyCache", Some(Duration::ZERO)).unwrap_err();
    /// assert!(err.to_string().contains("MyCache default_ttl"), "{err}");
    /// # Ok::<(), cache_core::CacheError>(())
    /// ```
    pub fn check_default(
        cache: &str,
        default: Option<Duration>,
    ) -> Result<Option<Duration>, CacheError> {
        if default == Some(Duration::ZERO) {
            return Err(CacheError::config(format!(
                "{cache} default_ttl must be positive (or None, never expire): a zero default \
                 would make every Ttl::Default write store nothing"
            )));
        }
        Ok(default)
    }
}

/// A duration is [`Ttl::After`] it.
///
/// ```
/// use cache_core::Ttl;
/// use std::time::Duration;
/// assert_eq!(Ttl::from(Duration::from_secs(1)), Ttl::After(Duration::from_secs(1)));
/// ```
impl From<Duration> for Ttl {
    fn from(d: Duration) -> Self {
        Ttl::After(d)
    }
}

/// `Some(duration)` is [`Ttl::After`] it and `None` is [`Ttl::Never`]: no expiry, as `None`
/// means for a cache's default TTL (see [`Ttl::check_default`]). Never [`Ttl::Default`]:
/// write that one by name.
///
/// ```
/// use cache_core::Ttl;
/// use std::time::Duration;
/// let minute = Some(Duration::from_secs(60));
/// assert_eq!(Ttl::from(minute), Ttl::After(Duration::from_secs(60)));
/// assert_eq!(Ttl::from(None::<Duration>), Ttl::Never);
/// ```
impl From<Option<Duration>> for Ttl {
    fn from(d: Option<Duration>) -> Self {
        match d {
            Some(d) => Ttl::After(d),
            None => Ttl::Never,
        }
    }
}

/// A point in time: nanoseconds since the Unix epoch, as a [`Clock`](crate::Clock) reports it.
///
/// [`Timestamp::MAX`] stands for "never" when used as an expiry time: additions saturate to it,
/// so a huge TTL never wraps into the past.
///
/// ```
/// use cache_core::Timestamp;
/// use std::time::Duration;
///
/// let t = Timestamp::from_nanos(1_000);
/// assert_eq!(t.saturating_add(Duration::from_nanos(500)).as_nanos(), 1_500);
/// assert_eq!(t.saturating_add(Duration::MAX), Timestamp::MAX);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const ZERO: Timestamp = Timestamp(0);
    /// The far future; used as "never expires".
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    /// A timestamp `nanos` nanoseconds after the Unix epoch.
    ///
    /// ```
    /// assert_eq!(cache_core::Timestamp::from_nanos(7).as_nanos(), 7);
    /// ```
    #[inline]
    pub const fn from_nanos(nanos: u64) -> Self {
        Timestamp(nanos)
    }

    /// Nanoseconds since the Unix epoch.
    ///
    /// ```
    /// assert_eq!(cache_core::Timestamp::ZERO.as_nanos(), 0);
    /// ```
    #[inline]
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating at [`Timestamp::MAX`].
    ///
    /// ```
    /// use cache_core::Timestamp;
    /// use std::time::Duration;
    /// assert_eq!(Timestamp::ZERO.saturating_add(Duration::from_millis(1)).as_nanos(), 1_000_000);
    /// ```
    #[inline]
    pub fn saturating_add(self, d: Duration) -> Self {
        let add = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(add))
    }

    /// The expiry time of an entry written at `self` with the resolved TTL `ttl`
    /// ([`Timestamp::MAX`] for `None`).
    ///
    /// ```
    /// use cache_core::Timestamp;
    /// use std::time::Duration;
    /// let t = Timestamp::from_nanos(10);
    /// assert_eq!(t.expiry(None), Timestamp::MAX);
    /// assert_eq!(t.expiry(Some(Duration::ZERO)), t);
    /// ```
    #[inline]
    pub fn expiry(self, ttl: Option<Duration>) -> Self {
        match ttl {
            None => Timestamp::MAX,
            Some(d) => self.saturating_add(d),
        }
    }

    /// Whether an entry expiring at `self` is still live at `now` (`now < self`).
    ///
    /// ```
    /// use cache_core::Timestamp;
    /// let expires = Timestamp::from_nanos(100);
    /// assert!(expires.is_live_at(Timestamp::from_nanos(99)));
    /// assert!(!expires.is_live_at(Timestamp::from_nanos(100)));
    /// assert!(Timestamp::MAX.is_live_at(Timestamp::from_nanos(u64::MAX - 1)));
    /// ```
    #[inline]
    pub fn is_live_at(self, now: Timestamp) -> bool {
        now < self
    }

    /// The time left from `now` until `self`, zero if `self` is not after `now`.
    ///
    /// ```
    /// use cache_core::Timestamp;
    /// use std::time::Duration;
    /// let t = Timestamp::from_nanos(3_000_000);
    /// assert_eq!(t.remaining_since(Timestamp::from_nanos(1_000_000)), Duration::from_millis(2));
    /// assert_eq!(t.remaining_since(Timestamp::MAX), Duration::ZERO);
    /// ```
    #[inline]
    pub fn remaining_since(self, now: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(now.0))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Timestamp::MAX {
            f.write_str("Timestamp(never)")
        } else {
            write!(f, "Timestamp({}ns)", self.0)
        }
    }
}
