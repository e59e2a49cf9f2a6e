//! What the code `#[memoize]` (crate `cache-macros`) generates calls. Not an API of its own:
//! its names may change with the macro's version, which is always the facade's.
//!
//! A memoized call is one `try_get_or_insert_with` on the chosen cache, so that callers of
//! one key share one computation (across threads, tasks and, on the file and Redis
//! backends, processes). Around it:
//! - [`Shape`] says what of the function's result is stored: all of it ([`Plain`]), only an
//!   `Ok` ([`OkOnly`]) or only a `Some` ([`SomeOnly`]). A result that is not stored goes back
//!   to the caller whose body produced it; a caller that waited on that computation runs the
//!   body itself.
//! - A cache that fails (a backend down, a value it cannot store) never fails the call: the
//!   body runs (unless it already ran, whose result is returned).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use crate::{AsyncCache, AsyncCacheExt, Cache, CacheError, CacheExt, Ttl};

/// What of a function's result `R` a memoized call stores, as a value of type `V`.
pub trait Shape<R> {
    /// The stored value.
    type V;
    /// The value to store, or the result to hand back unstored.
    fn split(result: R) -> Result<Self::V, R>;
    /// The result a stored value stands for.
    fn join(value: Self::V) -> R;
}

/// The whole result is stored.
pub struct Plain;
/// `Result<T, E>`: `T` is stored, an `Err` handed back.
pub struct OkOnly;
/// `Option<T>` with `cache_none = false`: `T` is stored, a `None` handed back.
pub struct SomeOnly;

impl<R> Shape<R> for Plain {
    type V = R;
    #[inline]
    fn split(result: R) -> Result<R, R> {
        Ok(result)
    }
    #[inline]
    fn join(value: R) -> R {
        value
    }
}

impl<T, E> Shape<Result<T, E>> for OkOnly {
    type V = T;
    #[inline]
    fn split(result: Result<T, E>) -> Result<T, Result<T, E>> {
        match result {
            Ok(v) => Ok(v),
            Err(e) => Err(Err(e)),
        }
    }
    #[inline]
    fn join(value: T) -> Result<T, E> {
        Ok(value)
    }
}

impl<T> Shape<Option<T>> for SomeOnly {
    type V = T;
    #[inline]
    fn split(result: Option<T>) -> Result<T, Option<T>> {
        result.ok_or(None)
    }
    #[inline]
    fn join(value: T) -> Option<T> {
        Some(value)
    }
}

/// The loader error of a computation whose result was not stored (an `Err`, a `None`).
#[derive(Debug)]
pub struct NotStored;

impl fmt::Display for NotStored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the memoized function's result is not stored (an Err or a None)")
    }
}

impl std::error::Error for NotStored {}

/// A blocking cache seen by a memoized function, its value type fixed.
pub struct Memo<'c, C: ?Sized, V> {
    cache: &'c C,
    value: PhantomData<fn() -> V>,
}

/// An async cache seen by a memoized function, its value type fixed.
pub struct AsyncMemo<'c, C: ?Sized, V> {
    cache: &'c C,
    value: PhantomData<fn() -> V>,
}

/// Finds the blocking cache of a `cache = ...` expression through method-call auto-deref
/// (a `LazyLock<RedisCache>` static, an `Arc<dyn Cache<V>>` field).
pub trait MemoCache<V>: Cache<V> {
    /// This cache, for the generated code.
    #[inline]
    fn __memoize(&self) -> Memo<'_, Self, V> {
        Memo {
            cache: self,
            value: PhantomData,
        }
    }
}

impl<V, C: Cache<V> + ?Sized> MemoCache<V> for C {}

/// [`MemoCache`] for async caches.
pub trait AsyncMemoCache<V: Send>: AsyncCache<V> {
    /// This cache, for the generated code.
    #[inline]
    fn __memoize_async(&self) -> AsyncMemo<'_, Self, V> {
        AsyncMemo {
            cache: self,
            value: PhantomData,
        }
    }
}

impl<V: Send, C: AsyncCache<V> + ?Sized> AsyncMemoCache<V> for C {}

impl<C: Cache<V> + ?Sized, V: Clone> Memo<'_, C, V> {
    /// One memoized call: the stored value of `key`, or `body(args)`.
    #[inline]
    pub fn call<S, A, R, F>(self, key: &str, ttl: Ttl, args: A, mut body: F) -> R
    where
        S: Shape<R, V = V>,
        F: FnMut(A) -> R,
    {
        let mut args = Some(args);
        let mut kept: Option<R> = None;
        let mut made: Option<V> = None;
        let loaded = self.cache.try_get_or_insert_with(key, ttl, || {
            let Some(a) = args.take() else {
                unreachable!("a loader runs once")
            };
            match S::split(body(a)) {
                Ok(v) => {
                    made = Some(v.clone());
                    Ok(v)
                }
                Err(r) => {
                    kept = Some(r);
                    Err(NotStored)
                }
            }
        });
        match loaded {
            Ok(v) => S::join(v),
            Err(_) => fallback::<S, A, R, F>(kept, made, args, body),
        }
    }

    /// Removes the entry under `key`; `true` iff there was one.
    pub fn invalidate(self, key: &str) -> Result<bool, CacheError> {
        self.cache.delete(key)
    }

    /// Removes every entry whose key starts with `prefix` (a prefix without `*` or `?`).
    pub fn clear(self, prefix: &str) -> Result<u64, CacheError> {
        self.cache.delete_pattern(&pattern_of(prefix))
    }
}

impl<C: AsyncCache<V> + ?Sized, V: Clone + Send> AsyncMemo<'_, C, V> {
    /// One memoized call: the stored value of `key`, or `body(args)` awaited.
    pub async fn call<S, A, R, F, Fut>(self, key: &str, ttl: Ttl, args: A, mut body: F) -> R
    where
        S: Shape<R, V = V>,
        F: FnMut(A) -> Fut + Send,
        Fut: Future<Output = R> + Send,
        A: Send,
        R: Send,
    {
        let mut args = Some(args);
        let mut kept: Option<R> = None;
        let mut made: Option<V> = None;
        let loaded = {
            let (args, body, kept, made) = (&mut args, &mut body, &mut kept, &mut made);
            self.cache
                .try_get_or_insert_with(key, ttl, move || {
                    let Some(a) = args.take() else {
                        unreachable!("a loader runs once")
                    };
                    let running = body(a);
                    async move {
                        match S::split(running.await) {
                            Ok(v) => {
                                *made = Some(v.clone());
                                Ok(v)
                            }
                            Err(r) => {
                                *kept = Some(r);
                                Err(NotStored)
                            }
                        }
                    }
                })
                .await
        };
        match loaded {
            Ok(v) => S::join(v),
            Err(_) => match (kept, made, args) {
                (Some(r), _, _) => r,
                (None, Some(v), _) => S::join(v),
                (None, None, Some(a)) => body(a).await,
                (None, None, None) => unreachable!("a loader that ran left its result"),
            },
        }
    }

    /// Removes the entry under `key`; `true` iff there was one.
    pub async fn invalidate(self, key: &str) -> Result<bool, CacheError> {
        self.cache.delete(key).await
    }

    /// Removes every entry whose key starts with `prefix` (a prefix without `*` or `?`).
    pub async fn clear(self, prefix: &str) -> Result<u64, CacheError> {
        self.cache.delete_pattern(&pattern_of(prefix)).await
    }
}

/// After a failed `try_get_or_insert_with`: the result this caller's body produced and that
/// was not stored, else the value it produced and the cache failed to store, else (the body
/// did not run here: the cache failed before, or another caller's computation was not
/// stored) the body's result now.
#[cold]
fn fallback<S, A, R, F>(kept: Option<R>, made: Option<S::V>, args: Option<A>, mut body: F) -> R
where
    S: Shape<R>,
    F: FnMut(A) -> R,
{
    match (kept, made, args) {
        (Some(r), _, _) => r,
        (None, Some(v), _) => S::join(v),
        (None, None, Some(a)) => body(a),
        (None, None, None) => unreachable!("a loader that ran left its result"),
    }
}

fn pattern_of(prefix: &str) -> String {
    debug_assert!(!prefix.contains(['*', '?']), "checked by the macro");
    let mut pattern = String::with_capacity(prefix.len() + 1);
    pattern.push_str(prefix);
    pattern.push('*');
    pattern
}

/// A key being built: on the stack up to [`Key::INLINE`] bytes (no allocation on a
/// memoized call's hit path), on the heap beyond.
pub struct Key {
    len: usize,
    inline: [u8; Key::INLINE],
    spilled: Option<String>,
}

impl Key {
    /// The bytes a key holds without allocating.
    pub const INLINE: usize = 128;

    /// A key that starts with `prefix`.
    #[inline]
    pub fn new(prefix: &str) -> Key {
        let mut key = Key {
            len: 0,
            inline: [0; Key::INLINE],
            spilled: None,
        };
        key.push(prefix);
        key
    }

    /// The key so far.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.spilled {
            Some(s) => s,
            // Only whole `str`s are ever copied in, so the bytes are UTF-8.
            None => std::str::from_utf8(&self.inline[..self.len]).expect("whole str pieces"),
        }
    }

    #[inline]
    fn push(&mut self, s: &str) {
        if let Some(spilled) = &mut self.spilled {
            spilled.push_str(s);
        } else if let Some(room) = self.inline.get_mut(self.len..self.len + s.len()) {
            room.copy_from_slice(s.as_bytes());
            self.len += s.len();
        } else {
            let mut spilled = String::with_capacity(self.len + s.len() + 32);
            spilled.push_str(self.as_str());
            spilled.push_str(s);
            self.spilled = Some(spilled);
        }
    }

    /// Writes one argument of a default key of several arguments: its `Display`, with `\`
    /// and `:` (the separator) escaped, so that distinct argument lists give distinct keys.
    pub fn push_arg(&mut self, first: bool, arg: &dyn fmt::Display) {
        use fmt::Write;
        if !first {
            self.push(":");
        }
        let _ = write!(Escaping(self), "{arg}");
    }

    /// Writes the only argument of a default key: its `Display`, as it is.
    #[inline]
    pub fn push_only(&mut self, arg: &dyn fmt::Display) {
        use fmt::Write;
        let _ = write!(self, "{arg}");
    }
}

/// An argument of a default key, written by [`FastArg`] when its type has a fast path
/// (strings, integers) and by [`DisplayArg`] (its `Display`) otherwise: the generated code
/// calls `(&Arg(&x)).write_to(..)`, and method resolution picks the first that applies.
pub struct Arg<'a, T: ?Sized>(pub &'a T);

/// The fast path of an argument's text (the same text as its `Display`).
pub trait FastArg {
    /// Writes the argument, `:` and `\` escaped if `escape`.
    fn write_to(&self, key: &mut Key, escape: bool);
}

/// Any argument, by its `Display`.
pub trait DisplayArg {
    /// Writes the argument, `:` and `\` escaped if `escape`.
    fn write_to(&self, key: &mut Key, escape: bool);
}

impl<T: fmt::Display + ?Sized> DisplayArg for &Arg<'_, T> {
    #[inline]
    fn write_to(&self, key: &mut Key, escape: bool) {
        use fmt::Write;
        if escape {
            let _ = write!(Escaping(key), "{}", self.0);
        } else {
            let _ = write!(key, "{}", self.0);
        }
    }
}

impl Key {
    #[inline]
    fn push_text(&mut self, text: &str, escape: bool) {
        if escape && text.contains(['\\', ':']) {
            let _ = fmt::Write::write_str(&mut Escaping(self), text);
        } else {
            self.push(text);
        }
    }

    /// Writes `:` before every argument but the first of a default key of several.
    #[inline]
    pub fn separate(&mut self, first: bool) {
        if !first {
            self.push(":");
        }
    }
}

macro_rules! fast_strings {
    ($($t:ty),*) => {$(
        impl FastArg for Arg<'_, $t> {
            #[inline]
            fn write_to(&self, key: &mut Key, escape: bool) {
                key.push_text(self.0, escape);
            }
        }
    )*};
}
fast_strings!(str, &str, String, &String);

macro_rules! fast_integers {
    ($($t:ty),*) => {$(
        impl FastArg for Arg<'_, $t> {
            #[inline]
            fn write_to(&self, key: &mut Key, _escape: bool) {
                push_integer(key, i128::from(*self.0));
            }
        }
        impl FastArg for Arg<'_, &$t> {
            #[inline]
            fn write_to(&self, key: &mut Key, _escape: bool) {
                push_integer(key, i128::from(**self.0));
            }
        }
    )*};
}
fast_integers!(u8, u16, u32, u64, i8, i16, i32, i64);

macro_rules! fast_sizes {
    ($($t:ty),*) => {$(
        impl FastArg for Arg<'_, $t> {
            #[inline]
            fn write_to(&self, key: &mut Key, _escape: bool) {
                push_integer(key, *self.0 as i128);
            }
        }
        impl FastArg for Arg<'_, &$t> {
            #[inline]
            fn write_to(&self, key: &mut Key, _escape: bool) {
                push_integer(key, **self.0 as i128);
            }
        }
    )*};
}
fast_sizes!(usize, isize);

/// An integer in decimal, as its `Display` writes it.
#[inline]
fn push_integer(key: &mut Key, n: i128) {
    let mut digits = [0u8; 40];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        digits[at] = b'-';
    }
    key.push(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
}

impl fmt::Write for Key {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s);
        Ok(())
    }
}

/// Writes to a key with `\` and `:` escaped by `\`.
struct Escaping<'k>(&'k mut Key);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, mut s: &str) -> fmt::Result {
        while let Some(i) = s.find(['\\', ':']) {
            self.0.push(&s[..i]);
            self.0.push("\\");
            self.0.push(&s[i..i + 1]);
            s = &s[i + 1..];
        }
        self.0.push(s);
        Ok(())
    }
}

/// Fixes a future's output type, for an async block with `?` in it.
#[inline]
pub fn returns<R, F: Future<Output = R>>(future: F) -> F {
    future
}

#[cfg(test)]
mod tests {
    use super::*;
    #[allow(unused_imports)]
    use super::{DisplayArg as _, FastArg as _};

    #[test]
    #[allow(clippy::needless_borrow)] // `&Arg(..)` as the generated code writes it
    fn escaped_args_keep_keys_apart() {
        let key = |args: &[&str]| {
            let mut k = Key::new("p#");
            for (i, a) in args.iter().enumerate() {
                k.push_arg(i == 0, a);
            }
            k.as_str().to_owned()
        };
        assert_eq!(key(&["a", "b"]), "p#a:b");
        assert_eq!(key(&["a:b", "c"]), "p#a\\:b:c");
        assert_ne!(key(&["a:b", "c"]), key(&["a", "b:c"]));
        assert_ne!(key(&["a\\", "b"]), key(&["a", "\\b"]));
        assert_eq!(pattern_of("p#"), "p#*");
        // The fast paths write what Display writes.
        let fast = |write: &dyn Fn(&mut Key)| {
            let mut k = Key::new("");
            write(&mut k);
            k.as_str().to_owned()
        };
        for n in [0i64, 7, -7, 10, i64::MAX, i64::MIN] {
            assert_eq!(fast(&|k| (&Arg(&n)).write_to(k, true)), n.to_string());
        }
        assert_eq!(
            fast(&|k| (&Arg(&u64::MAX)).write_to(k, true)),
            u64::MAX.to_string()
        );
        assert_eq!(
            fast(&|k| (&Arg(&usize::MAX)).write_to(k, false)),
            usize::MAX.to_string()
        );
        assert_eq!(fast(&|k| (&Arg(&"a:b")).write_to(k, true)), "a\\:b");
        assert_eq!(fast(&|k| (&Arg(&"a:b")).write_to(k, false)), "a:b");
        assert_eq!(
            fast(&|k| (&Arg(&String::from("\\"))).write_to(k, true)),
            "\\\\"
        );
        assert_eq!(fast(&|k| (&Arg(&'c')).write_to(k, true)), "c"); // by Display
        assert_eq!(fast(&|k| (&Arg(&1.5f64)).write_to(k, false)), "1.5");
        let long = "x".repeat(Key::INLINE + 10);
        assert_eq!(key(&["a", &long, "b:"]), format!("p#a:{long}:b\\:"));
        let mut k = Key::new(&"é".repeat(Key::INLINE / 2 - 1));
        k.push_only(&"ü");
        assert_eq!(k.as_str(), format!("{}ü", "é".repeat(Key::INLINE / 2 - 1)));
    }
}
