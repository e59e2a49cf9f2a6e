//! The structural type tag of the default envelope: a hash of the shape of `V` as serde sees
//! it, computed once per type and process.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, OnceLock, RwLock};

use serde::de::DeserializeOwned;

use super::trace::{self, Container, Fields, Format, Samples};

/// What the tag of a type is computed from (see [`type_shape`](super::type_shape)).
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub(crate) tag: u64,
    pub(crate) text: Arc<str>,
}

/// A `TypeId` is already a hash: the map uses its bits as they are.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
    fn write_u128(&mut self, n: u128) {
        self.0 ^= n as u64 ^ (n >> 64) as u64;
    }
}

type Shapes = HashMap<TypeId, Shape, BuildHasherDefault<IdHasher>>;

/// The shapes of every type this process traced: each type is traced once, under the lock.
fn global() -> &'static RwLock<Shapes> {
    static GLOBAL: OnceLock<RwLock<Shapes>> = OnceLock::new();
    GLOBAL.get_or_init(RwLock::default)
}

/// Slots of the tag table read on every encode and decode.
const SLOTS: usize = 256;

/// The hot path: an open-addressed table of `(TypeId, tag)`, each slot written once (under
/// the global lock) and then only read, so a lookup is a hash, an acquire load and a compare,
/// with no lock, no atomic write and no thread-local. A reader stops at the first empty slot;
/// one that races a writer, or finds the table full, takes the global map instead.
static TAGS: [OnceLock<(TypeId, u64)>; SLOTS] = [const { OnceLock::new() }; SLOTS];

fn slot_of(id: &TypeId) -> usize {
    let mut h = IdHasher::default();
    id.hash(&mut h);
    (h.finish() as usize) % SLOTS
}

/// The shape of `V`: from the process's map, else traced (and kept).
pub(crate) fn shape_of<V: DeserializeOwned + 'static>() -> Shape {
    let id = TypeId::of::<V>();
    let known = global()
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
        .cloned();
    if let Some(shape) = known {
        return shape;
    }
    let shape = trace::<V>();
    let mut map = global().write().unwrap_or_else(|p| p.into_inner());
    let shape = map.entry(id).or_insert(shape).clone();
    // Publish the tag in the first free slot of its probe sequence (still under the lock,
    // so no two writers race for a slot).
    let start = slot_of(&id);
    for i in 0..SLOTS {
        let slot = &TAGS[(start + i) % SLOTS];
        match slot.get() {
            Some((other, _)) if *other == id => break,
            Some(_) => continue,
            None => {
                let _ = slot.set((id, shape.tag));
                break;
            }
        }
    }
    shape
}

/// The tag of `V`: a probe of the table on every call but the first.
#[inline]
pub(crate) fn tag_of<V: DeserializeOwned + 'static>() -> u64 {
    let id = TypeId::of::<V>();
    let start = slot_of(&id);
    for i in 0..SLOTS {
        match TAGS[(start + i) % SLOTS].get() {
            Some((other, tag)) if *other == id => return *tag,
            Some(_) => continue,
            None => break,
        }
    }
    shape_of::<V>().tag
}

/// FNV-1a, 64 bits: small, fixed, and the same on every platform and compiler.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Traces `V` (`trace.rs`) and renders its shape as text; types it cannot trace get their
/// type name without module paths instead.
fn trace<V: DeserializeOwned>() -> Shape {
    let text = traced_shape::<V>()
        .unwrap_or_else(|| format!("name {}", short_type_name(std::any::type_name::<V>())));
    Shape {
        tag: fnv1a(text.as_bytes()),
        text: text.into(),
    }
}

/// How many walks of one type (over both sample sets) before it falls back to its name:
/// far more than the variants of any real type, and still a bounded cost (a walk of a struct
/// is microseconds), paid once per type and process.
const MAX_WALKS: usize = 4096;

/// The shape of `V` under the first sample set its `Deserialize` accepts. The tracer makes
/// up each primitive it is asked for; a type that validates what it reads (a `NonZeroU32`,
/// a `Uuid` from 16 bytes, a date from text) refuses the all-zero, all-empty defaults, and
/// may accept the second set. Its text then starts `checked shape`, so that such a type
/// and the plain one with its layout (`NonZeroU32` and `u32`) keep different tags: the
/// checked one may refuse what the other stores.
fn traced_shape<V: DeserializeOwned>() -> Option<String> {
    let mut budget = MAX_WALKS;
    SAMPLE_SETS.iter().find_map(|(head, samples)| {
        let traced = trace::trace::<V>(samples, &mut budget)?;
        let mut out = format!("{head}shape ");
        format(&mut out, &traced.top)?;
        for (name, container) in &traced.containers {
            let _ = write!(out, "; {name}=");
            self::container(&mut out, container)?;
        }
        Some(out)
    })
}

/// The tracer's primitives: zeros and empty text and bytes, then values that more
/// validating types accept (ones, an RFC 3339 instant, a 16-byte run); each with the words
/// its shape's text starts with.
const SAMPLE_SETS: [(&str, Samples); 2] = [
    (
        "",
        Samples {
            int: 0,
            float: 0.0,
            text: "",
            bytes: b"",
        },
    ),
    (
        "checked ",
        Samples {
            int: 1,
            float: 1.0,
            text: "1970-01-01T00:00:00Z",
            bytes: &[1; 16],
        },
    ),
];

/// `shape <top>` then `; <Name>=<container>` for each named container, in name order.
fn container(out: &mut String, container: &Container) -> Option<()> {
    match container {
        Container::Struct(Fields::Unit) => out.push_str("unit"),
        Container::Struct(Fields::NewType(f)) => {
            out.push_str("newtype(");
            format(out, f)?;
            out.push(')');
        }
        Container::Struct(Fields::Tuple(fs)) => {
            out.push_str("tuple");
            formats(out, fs)?;
        }
        Container::Struct(Fields::Named(fields)) => named(out, fields)?,
        Container::Enum(variants) => {
            out.push_str("enum{");
            for (index, (name, fields)) in variants.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{index}:{name}");
                match fields.as_ref()? {
                    Fields::Unit => {}
                    Fields::NewType(f) => {
                        out.push('(');
                        format(out, f)?;
                        out.push(')');
                    }
                    Fields::Tuple(fs) => formats(out, fs)?,
                    Fields::Named(fields) => named(out, fields)?,
                }
            }
            out.push('}');
        }
    }
    Some(())
}

fn formats(out: &mut String, fs: &[Format]) -> Option<()> {
    out.push('(');
    for (i, f) in fs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        format(out, f)?;
    }
    out.push(')');
    Some(())
}

fn named(out: &mut String, fields: &[(&str, Format)]) -> Option<()> {
    out.push('{');
    for (i, (name, f)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{name}:");
        format(out, f)?;
    }
    out.push('}');
    Some(())
}

/// A format as text; `None` for a position the walks never reached (the trace is then
/// incomplete, and the type falls back to its name).
fn format(out: &mut String, f: &Format) -> Option<()> {
    match f {
        Format::Unknown => return None,
        Format::Simple(name) => out.push_str(name),
        Format::Name(name) => {
            let _ = write!(out, "@{name}");
        }
        Format::Option(inner) => {
            out.push_str("option<");
            format(out, inner)?;
            out.push('>');
        }
        Format::Seq(inner) => {
            out.push_str("seq<");
            format(out, inner)?;
            out.push('>');
        }
        Format::Map(key, value) => {
            out.push_str("map<");
            format(out, key)?;
            out.push(',');
            format(out, value)?;
            out.push('>');
        }
        Format::Tuple(fs) => formats(out, fs)?,
        Format::Array(content, size) => {
            out.push('[');
            format(out, content)?;
            let _ = write!(out, ";{size}]");
        }
    }
    Some(())
}

/// `alloc::vec::Vec<my_app::User>` → `Vec<User>`: every path cut to its last segment.
pub(crate) fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut segment = String::new();
    let flush = |segment: &mut String, out: &mut String| {
        let last = segment.rsplit("::").next().unwrap_or("");
        out.push_str(last);
        segment.clear();
    };
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            segment.push(c);
        } else {
            flush(&mut segment, &mut out);
            out.push(c);
        }
    }
    flush(&mut segment, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_drop_module_paths() {
        assert_eq!(
            short_type_name("alloc::vec::Vec<my_app::model::User>"),
            "Vec<User>"
        );
        assert_eq!(
            short_type_name("(u32, std::collections::HashMap<a::K, [b::V; 3]>)"),
            "(u32, HashMap<K, [V; 3]>)"
        );
        assert_eq!(short_type_name("&dyn core::any::Any"), "&dyn Any");
    }
}
