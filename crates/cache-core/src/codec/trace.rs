//! The tracer behind the structural tag: deserializes a made-up `V` again and again, and
//! records the shape serde walks through, until every enum reachable from `V` has had each
//! of its variants walked.
//!
//! Why not `serde-reflection` (which this replaced): it completes the variants of the top
//! type only. An enum nested in `V` (a field, an `Option`, a `Vec`, a map, another enum's
//! variant) stayed at its first variant, the trace was incomplete, and the tag fell back to
//! the type's name, so two programs whose structs differed in field order or in a field's
//! width read each other's bytes as wrong values. And an enum whose first variant holds the
//! enum again recursed until the stack overflowed, which aborts the process.
//!
//! How a walk chooses, and why it ends:
//! - A container (struct or enum, by its serde name) met while it is not already being
//!   walked is walked *outside*: its record (fields, or the variant taken) is kept. Met
//!   again inside itself, it is walked *inside*: its record is dropped, and the options,
//!   sequences and maps directly in it are given as `None` or empty, so recursion through
//!   them ends at once.
//! - An enum walked outside takes its first variant not yet recorded; when all are, the
//!   first whose record leads to a container still *open* (an enum with a variant not yet
//!   recorded, or a container leading to one); else its first. Walked inside, it takes its
//!   first variant not already being walked further out, so that
//!   `enum Expr { Add(Box<Expr>, Box<Expr>), Lit(i64) }` ends with `Lit`; an enum whose every
//!   variant is being walked cannot end, and the trace gives up.
//! - Walks repeat until nothing is open; a walk that records nothing new while something
//!   is open, more than [`MAX_DEPTH`] levels of nesting, or more than the caller's budget of
//!   walks, also gives up. A type that needs `deserialize_any` (untagged and internally
//!   tagged enums, `flatten`, `serde_json::Value`: the data would say what it is) cannot be
//!   walked at all. Giving up is the caller's fallback to the type's name.
//! - The variant index written is the variant's position in serde's list of variant names:
//!   the index a derived `Serialize` writes, for enums that skip none.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

/// Levels of nesting a walk may go down: far more than a real type's, far less than a
/// thread's stack holds.
const MAX_DEPTH: usize = 128;

/// The primitives a walk gives the type being traced.
pub(crate) struct Samples {
    pub(crate) int: u8,
    pub(crate) float: f32,
    pub(crate) text: &'static str,
    pub(crate) bytes: &'static [u8],
}

/// The shape of one value position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Format {
    Unknown,
    Simple(&'static str),
    Name(&'static str),
    Option(Box<Format>),
    Seq(Box<Format>),
    Map(Box<Format>, Box<Format>),
    Tuple(Vec<Format>),
    /// A tuple of two or more elements of one format (`[T; N]`), inside containers only.
    Array(Box<Format>, usize),
}

/// The record of a struct, or of an enum's variant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fields {
    Unit,
    NewType(Format),
    Tuple(Vec<Format>),
    Named(Vec<(&'static str, Format)>),
}

#[derive(Debug)]
pub(crate) enum Container {
    Struct(Fields),
    /// Each variant's name and, once walked outside, its record.
    Enum(Vec<(&'static str, Option<Fields>)>),
}

/// What a finished trace found: the top format and every container's record.
pub(crate) struct Traced {
    pub(crate) top: Format,
    pub(crate) containers: BTreeMap<&'static str, Container>,
}

/// Walks `V` until nothing is open; `None` when it gives up (see the module docs).
pub(crate) fn trace<V: DeserializeOwned>(samples: &Samples, budget: &mut usize) -> Option<Traced> {
    let mut tracer = Tracer {
        samples,
        containers: BTreeMap::new(),
        open: BTreeSet::new(),
        stack: Vec::new(),
        progress: false,
    };
    loop {
        *budget = budget.checked_sub(1)?;
        tracer.progress = false;
        tracer.stack.clear();
        let mut top = Format::Unknown;
        V::deserialize(Walk {
            tracer: &mut tracer,
            slot: &mut top,
            depth: 0,
        })
        .ok()?;
        tracer.find_open();
        if tracer.open.is_empty() {
            return Some(Traced {
                top,
                containers: tracer.containers,
            });
        }
        if !tracer.progress {
            return None;
        }
    }
}

/// A container being walked, and the variant taken if it is an enum.
struct Frame {
    name: &'static str,
    variant: Option<usize>,
}

struct Tracer<'s> {
    samples: &'s Samples,
    containers: BTreeMap<&'static str, Container>,
    /// Containers that lead to a variant not yet recorded (after the last walk).
    open: BTreeSet<&'static str>,
    stack: Vec<Frame>,
    /// Whether this walk recorded a variant for the first time.
    progress: bool,
}

impl Tracer<'_> {
    fn is_walked(&self, name: &str) -> bool {
        self.stack.iter().any(|f| f.name == name)
    }

    /// Whether the innermost container is walked inside itself: its options, sequences
    /// and maps are then given empty.
    fn cut(&self) -> bool {
        match self.stack.last() {
            Some(top) => self.stack.iter().filter(|f| f.name == top.name).count() > 1,
            None => false,
        }
    }

    /// Recomputes `open`: enums with a variant not yet recorded, then, until nothing
    /// changes, every container whose record names an open one.
    fn find_open(&mut self) {
        let mut open: BTreeSet<&'static str> = self
            .containers
            .iter()
            .filter(
                |(_, c)| matches!(c, Container::Enum(vs) if vs.iter().any(|(_, f)| f.is_none())),
            )
            .map(|(name, _)| *name)
            .collect();
        loop {
            let before = open.len();
            for (name, container) in &self.containers {
                if !open.contains(name) && container_names(container).any(|n| open.contains(n)) {
                    open.insert(name);
                }
            }
            if open.len() == before {
                break;
            }
        }
        self.open = open;
    }

    /// The variant an enum walked outside takes.
    fn outside_choice(&self, variants: &[(&'static str, Option<Fields>)]) -> usize {
        variants
            .iter()
            .position(|(_, f)| f.is_none())
            .or_else(|| {
                variants.iter().position(|(_, f)| {
                    f.as_ref()
                        .is_some_and(|f| fields_names(f).any(|n| self.open.contains(n)))
                })
            })
            .unwrap_or(0)
    }

    /// The variant an enum walked inside itself takes: the first not being walked.
    fn inside_choice(&self, name: &str, count: usize) -> Option<usize> {
        (0..count).find(|i| {
            !self
                .stack
                .iter()
                .any(|f| f.name == name && f.variant == Some(*i))
        })
    }
}

fn format_names(f: &Format) -> Box<dyn Iterator<Item = &'static str> + '_> {
    match f {
        Format::Unknown | Format::Simple(_) => Box::new(std::iter::empty()),
        Format::Name(n) => Box::new(std::iter::once(*n)),
        Format::Option(f) | Format::Seq(f) | Format::Array(f, _) => format_names(f),
        Format::Map(k, v) => Box::new(format_names(k).chain(format_names(v))),
        Format::Tuple(fs) => Box::new(fs.iter().flat_map(format_names)),
    }
}

fn fields_names(f: &Fields) -> Box<dyn Iterator<Item = &'static str> + '_> {
    match f {
        Fields::Unit => Box::new(std::iter::empty()),
        Fields::NewType(f) => format_names(f),
        Fields::Tuple(fs) => Box::new(fs.iter().flat_map(format_names)),
        Fields::Named(fs) => Box::new(fs.iter().flat_map(|(_, f)| format_names(f))),
    }
}

fn container_names(c: &Container) -> Box<dyn Iterator<Item = &'static str> + '_> {
    match c {
        Container::Struct(f) => fields_names(f),
        Container::Enum(vs) => Box::new(
            vs.iter()
                .filter_map(|(_, f)| f.as_ref())
                .flat_map(fields_names),
        ),
    }
}

/// Why a walk stopped.
#[derive(Debug)]
pub(crate) struct Stop(String);

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Stop(msg.to_string())
    }
}

fn stop<T>(why: &str) -> Result<T, Stop> {
    Err(Stop(why.to_owned()))
}

/// The deserializer of one value position: records its format in `slot`.
struct Walk<'a, 's> {
    tracer: &'a mut Tracer<'s>,
    slot: &'a mut Format,
    depth: usize,
}

impl<'a, 's> Walk<'a, 's> {
    fn deeper(&self) -> Result<usize, Stop> {
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            return stop("the type nests too deeply to be traced");
        }
        Ok(depth)
    }

    fn simple(self, name: &'static str) -> Result<(), Stop> {
        self.deeper()?;
        *self.slot = Format::Simple(name);
        Ok(())
    }

    /// Walks a struct (`Fields` from the visitor), keeping its record when outside.
    fn container<T>(
        self,
        name: &'static str,
        walk: impl FnOnce(&mut Tracer<'s>, usize) -> Result<(T, Fields), Stop>,
    ) -> Result<T, Stop> {
        let depth = self.deeper()?;
        *self.slot = Format::Name(name);
        let outside = !self.tracer.is_walked(name);
        self.tracer.stack.push(Frame {
            name,
            variant: None,
        });
        let walked = walk(self.tracer, depth);
        self.tracer.stack.pop();
        let (value, fields) = walked?;
        if outside {
            self.tracer
                .containers
                .insert(name, Container::Struct(normalized_fields(fields)));
        }
        Ok(value)
    }
}

/// Gives the formats of a tuple, a struct's fields, or one element of a sequence.
struct Elements<'a, 's> {
    tracer: &'a mut Tracer<'s>,
    slots: std::slice::IterMut<'a, Format>,
    depth: usize,
}

impl<'de> SeqAccess<'de> for Elements<'_, '_> {
    type Error = Stop;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Stop> {
        let Some(slot) = self.slots.next() else {
            return Ok(None);
        };
        seed.deserialize(Walk {
            tracer: self.tracer,
            slot,
            depth: self.depth,
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.slots.len())
    }
}

impl<'de> MapAccess<'de> for Elements<'_, '_> {
    type Error = Stop;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Stop> {
        self.next_element_seed(seed)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Stop> {
        match self.next_element_seed(seed)? {
            Some(value) => Ok(value),
            None => stop("a map value without its key"),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.slots.len() / 2)
    }
}

/// Walks `visitor` over `n` new slots given as a sequence.
fn walk_seq<'de, V: Visitor<'de>>(
    tracer: &mut Tracer<'_>,
    depth: usize,
    n: usize,
    visitor: V,
) -> Result<(V::Value, Vec<Format>), Stop> {
    let mut slots = vec![Format::Unknown; n];
    let value = visitor.visit_seq(Elements {
        tracer,
        slots: slots.iter_mut(),
        depth,
    })?;
    Ok((value, slots))
}

fn walk_struct<'de, V: Visitor<'de>>(
    tracer: &mut Tracer<'_>,
    depth: usize,
    fields: &'static [&'static str],
    visitor: V,
) -> Result<(V::Value, Fields), Stop> {
    let (value, slots) = walk_seq(tracer, depth, fields.len(), visitor)?;
    Ok((
        value,
        Fields::Named(fields.iter().copied().zip(slots).collect()),
    ))
}

macro_rules! simple {
    ($($method:ident => $name:literal, $visit:ident($value:expr);)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
            let samples = self.tracer.samples;
            self.simple($name)?;
            visitor.$visit(($value)(samples))
        }
    )*};
}

impl<'de> Deserializer<'de> for Walk<'_, '_> {
    type Error = Stop;

    simple! {
        deserialize_bool => "bool", visit_bool(|s: &Samples| s.int != 0);
        deserialize_i8 => "i8", visit_i8(|s: &Samples| s.int as i8);
        deserialize_i16 => "i16", visit_i16(|s: &Samples| i16::from(s.int));
        deserialize_i32 => "i32", visit_i32(|s: &Samples| i32::from(s.int));
        deserialize_i64 => "i64", visit_i64(|s: &Samples| i64::from(s.int));
        deserialize_i128 => "i128", visit_i128(|s: &Samples| i128::from(s.int));
        deserialize_u8 => "u8", visit_u8(|s: &Samples| s.int);
        deserialize_u16 => "u16", visit_u16(|s: &Samples| u16::from(s.int));
        deserialize_u32 => "u32", visit_u32(|s: &Samples| u32::from(s.int));
        deserialize_u64 => "u64", visit_u64(|s: &Samples| u64::from(s.int));
        deserialize_u128 => "u128", visit_u128(|s: &Samples| u128::from(s.int));
        deserialize_f32 => "f32", visit_f32(|s: &Samples| s.float);
        deserialize_f64 => "f64", visit_f64(|s: &Samples| f64::from(s.float));
        deserialize_char => "char", visit_char(|_: &Samples| 'A');
        deserialize_str => "str", visit_borrowed_str(|s: &Samples| s.text);
        deserialize_string => "str", visit_string(|s: &Samples| s.text.to_owned());
        deserialize_bytes => "bytes", visit_borrowed_bytes(|s: &Samples| s.bytes);
        deserialize_byte_buf => "bytes", visit_byte_buf(|s: &Samples| s.bytes.to_vec());
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.simple("()")?;
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        let depth = self.deeper()?;
        if self.tracer.cut() {
            *self.slot = Format::Option(Box::new(Format::Unknown));
            return visitor.visit_none();
        }
        let mut inner = Format::Unknown;
        let value = visitor.visit_some(Walk {
            tracer: self.tracer,
            slot: &mut inner,
            depth,
        })?;
        *self.slot = Format::Option(Box::new(inner));
        Ok(value)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        let depth = self.deeper()?;
        let n = usize::from(!self.tracer.cut());
        let (value, mut slots) = walk_seq(self.tracer, depth, n, visitor)?;
        *self.slot = Format::Seq(Box::new(slots.pop().unwrap_or(Format::Unknown)));
        Ok(value)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        let depth = self.deeper()?;
        let n = if self.tracer.cut() { 0 } else { 2 };
        let mut slots = vec![Format::Unknown; n];
        let value = visitor.visit_map(Elements {
            tracer: self.tracer,
            slots: slots.iter_mut(),
            depth,
        })?;
        let mut slots = slots.into_iter();
        let key = slots.next().unwrap_or(Format::Unknown);
        let val = slots.next().unwrap_or(Format::Unknown);
        *self.slot = Format::Map(Box::new(key), Box::new(val));
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Stop> {
        let depth = self.deeper()?;
        let (value, slots) = walk_seq(self.tracer, depth, len, visitor)?;
        *self.slot = Format::Tuple(slots);
        Ok(value)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        self.container(name, |_, _| Ok((visitor.visit_unit()?, Fields::Unit)))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        self.container(name, |tracer, depth| {
            let mut inner = Format::Unknown;
            let value = visitor.visit_newtype_struct(Walk {
                tracer,
                slot: &mut inner,
                depth,
            })?;
            Ok((value, Fields::NewType(inner)))
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        self.container(name, |tracer, depth| {
            let (value, slots) = walk_seq(tracer, depth, len, visitor)?;
            Ok((value, Fields::Tuple(slots)))
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        self.container(name, |tracer, depth| {
            walk_struct(tracer, depth, fields, visitor)
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        let depth = self.deeper()?;
        if variants.is_empty() {
            return stop("an enum without variants");
        }
        *self.slot = Format::Name(name);
        let tracer = self.tracer;
        let known = match tracer.containers.get(name) {
            Some(Container::Enum(known)) if known.len() == variants.len() => known,
            Some(_) => return stop("two containers of one name"),
            None => {
                let fresh = variants.iter().map(|v| (*v, None)).collect();
                tracer.containers.insert(name, Container::Enum(fresh));
                match tracer.containers.get(name) {
                    Some(Container::Enum(known)) => known,
                    _ => return stop("an enum record lost"),
                }
            }
        };
        let outside = !tracer.is_walked(name);
        let index = if outside {
            tracer.outside_choice(known)
        } else {
            match tracer.inside_choice(name, variants.len()) {
                Some(index) => index,
                None => return stop("an enum with no variant that ends its recursion"),
            }
        };
        tracer.stack.push(Frame {
            name,
            variant: Some(index),
        });
        let mut fields = None;
        let walked = visitor.visit_enum(Variant {
            tracer: &mut *tracer,
            name: variants[index],
            fields: &mut fields,
            depth,
        });
        tracer.stack.pop();
        let value = walked?;
        if outside {
            let Some(fields) = fields else {
                return stop("a variant the visitor did not read");
            };
            if let Some(Container::Enum(known)) = tracer.containers.get_mut(name) {
                let slot = &mut known[index].1;
                if slot.is_none() {
                    tracer.progress = true;
                }
                *slot = Some(normalized_fields(fields));
            }
        }
        Ok(value)
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        stop("a type that reads whatever the data holds (deserialize_any)")
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        stop("an identifier outside an enum")
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        stop("an ignored value")
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

/// The variant a walk takes, and the record its visitor fills in.
struct Variant<'a, 's> {
    tracer: &'a mut Tracer<'s>,
    name: &'static str,
    fields: &'a mut Option<Fields>,
    depth: usize,
}

impl<'a, 's, 'de> EnumAccess<'de> for Variant<'a, 's> {
    type Error = Stop;
    type Variant = Self;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self), Stop> {
        let id = seed.deserialize(BorrowedStrDeserializer::<Stop>::new(self.name))?;
        Ok((id, self))
    }
}

impl<'de> VariantAccess<'de> for Variant<'_, '_> {
    type Error = Stop;

    fn unit_variant(self) -> Result<(), Stop> {
        *self.fields = Some(Fields::Unit);
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Stop> {
        let mut inner = Format::Unknown;
        let value = seed.deserialize(Walk {
            tracer: self.tracer,
            slot: &mut inner,
            depth: self.depth,
        })?;
        *self.fields = Some(Fields::NewType(inner));
        Ok(value)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Stop> {
        let (value, slots) = walk_seq(self.tracer, self.depth, len, visitor)?;
        *self.fields = Some(Fields::Tuple(slots));
        Ok(value)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        let (value, record) = walk_struct(self.tracer, self.depth, fields, visitor)?;
        *self.fields = Some(record);
        Ok(value)
    }
}

/// Inside containers, a tuple of two or more elements of one format is an array.
fn normalized(f: Format) -> Format {
    match f {
        Format::Option(f) => Format::Option(Box::new(normalized(*f))),
        Format::Seq(f) => Format::Seq(Box::new(normalized(*f))),
        Format::Map(k, v) => Format::Map(Box::new(normalized(*k)), Box::new(normalized(*v))),
        Format::Array(f, n) => Format::Array(Box::new(normalized(*f)), n),
        Format::Tuple(fs) => {
            let fs: Vec<Format> = fs.into_iter().map(normalized).collect();
            if fs.len() > 1 && fs.iter().all(|f| *f == fs[0]) {
                let n = fs.len();
                Format::Array(
                    Box::new(fs.into_iter().next().unwrap_or(Format::Unknown)),
                    n,
                )
            } else {
                Format::Tuple(fs)
            }
        }
        other => other,
    }
}

fn normalized_fields(f: Fields) -> Fields {
    match f {
        Fields::Unit => Fields::Unit,
        Fields::NewType(f) => Fields::NewType(normalized(f)),
        Fields::Tuple(fs) => Fields::Tuple(fs.into_iter().map(normalized).collect()),
        Fields::Named(fs) => {
            Fields::Named(fs.into_iter().map(|(n, f)| (n, normalized(f))).collect())
        }
    }
}
