#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    bracketed, Error, Expr, FnArg, Ident, ItemFn, LitBool, LitInt, LitStr, Pat, Path, ReturnType,
    Token, Type,
};

mod ttl;

/// Caches a function's results: a call with the same key returns the stored value, and
/// concurrent calls with one key share one run of the body (across threads and tasks; across
/// processes on the file and Redis caches, which lock the key).
///
/// ```
/// use cache::memoize;
///
/// #[memoize(size = 100, ttl = "10m")]
/// fn square(n: u64) -> u64 {
///     n * n
/// }
///
/// assert_eq!(square(12), 144); // runs the body
/// assert_eq!(square(12), 144); // from the cache
/// assert!(square_invalidate(12)?); // the companion of one key
/// assert_eq!(square_clear()?, 0); // and of all the function's keys
/// # Ok::<(), cache::CacheError>(())
/// ```
///
/// # Options
/// | option | meaning |
/// |---|---|
/// | `cache = EXPR` | the cache: any expression whose value (through `&`, auto-deref) is a [`Cache<V>`] (blocking function) or an [`AsyncCache<V>`] (`async fn`): a `static`, `self.field`, a function returning a reference; evaluated on every call, so keep it cheap |
/// | `size = N` | without `cache`: the capacity of the function's own `InMemoryCache` (default 10 000), built at the first call |
/// | `ttl = "60s"` | how long an entry lives: `ms`, `s`, `m`, `h`, `d`, combined (`"1h 30m"`), or `"never"`; by default the cache's default TTL (never for the function's own cache) |
/// | `key = "user:{id}"` | the key after the prefix, a format string naming arguments (`{id}`, `{id:?}`) |
/// | `ignore = [conn]` | arguments left out of the default key (and of the invalidate companion) |
/// | `prefix = "users"` | the key prefix instead of the function's path (no `*` or `?`) |
/// | `cache_none = false` | for an `Option` result: do not store `None` (default: stored) |
/// | `crate = path` | where the `cache` facade is (default `::cache`), for a renamed dependency |
///
/// # Keys
/// A key is a prefix, by default the function's module path and name and `#`
/// (`myapp::users::fetch_user#`), then either the `key` format string or every argument
/// but `self` and the ignored ones, by `Display`, separated by `:`. With more than one
/// argument, `\` and `:` in an argument's text are escaped by `\`, so that different
/// argument lists never share a key. `Display` keeps keys readable (`redis-cli KEYS`) and
/// as stable across builds and processes as the arguments' `Display`; an argument without
/// one is ignored, named through `key = "{id}"` with a field that has one, or given a
/// `Display`. The default prefix changes when the function moves to another module; give
/// `prefix` for keys that must outlive such moves. A method's default prefix names the
/// module and the method, not the type: give `prefix` when two types of one module memoize
/// methods of the same name into one shared cache.
///
/// # Results
/// A function returning `Result<T, E>` (written so: the last path segment is `Result`)
/// stores only `Ok` values: an `Err` is returned to the caller whose body produced it, and
/// callers that waited for that computation run the body themselves. `Option<T>` stores
/// `None` too unless `cache_none = false`. Other types are stored whole. The stored type
/// must be `Clone` (and, for the file and Redis caches, serializable).
///
/// A cache that fails (Redis down, a full disk) does not fail the call: the body runs and
/// its result is returned unstored. The cache is an optimisation, never a new way to fail.
///
/// # Companions
/// Next to `fn name`, two functions of the same visibility (methods for a method, `async`
/// for an `async fn`):
/// - `name_invalidate(args)`: removes the entry of these arguments (those of the key:
///   without the ignored ones; with `key = "..."`, those it names) and returns
///   `Result<bool, CacheError>`, `true` iff there was one;
/// - `name_clear()`: removes every entry of the function (its prefix) and returns
///   `Result<u64, CacheError>`, how many.
///
/// # Async and methods
/// ```
/// use cache::prelude::*;
/// use cache::memoize;
///
/// struct Users {
///     cache: AsyncInMemoryCache<String>,
/// }
///
/// impl Users {
///     #[memoize(cache = self.cache, key = "user:{id}", ttl = "60s")]
///     async fn name(&self, id: u32) -> Result<String, std::io::Error> {
///         Ok(format!("user {id}")) // a query, awaited
///     }
/// }
/// # let users = Users { cache: AsyncInMemoryCache::new(InMemoryCache::new(100, None)?) };
/// # let name = futures_lite_block_on(users.name(7));
/// # assert_eq!(name?, "user 7");
/// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Generic functions need `cache = ...` (the function's own cache is a `static`). The
/// function's own cache is not available to associated functions without `self` (give
/// `cache`).
///
/// [`Cache<V>`]: https://docs.rs/cache-core/latest/cache_core/trait.Cache.html
/// [`AsyncCache<V>`]: https://docs.rs/cache-core/latest/cache_core/trait.AsyncCache.html
#[proc_macro_attribute]
pub fn memoize(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = TokenStream2::from(item);
    match expand(attr.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            // The function as written too, so that its callers see no second error.
            let mut out = error.to_compile_error();
            out.extend(item);
            out.into()
        }
    }
}

/// One `name = value` of the attribute.
enum Opt {
    Cache(Span, Box<Expr>),
    Size(Span, LitInt),
    Ttl(Span, LitStr),
    Key(Span, LitStr),
    Ignore(Span, Vec<Ident>),
    Prefix(Span, LitStr),
    CacheNone(Span, LitBool),
    Crate(Span, Path),
}

const OPTIONS: &str = "cache, size, ttl, key, ignore, prefix, cache_none, crate";

impl Parse for Opt {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(Token![crate]) {
            let kw: Token![crate] = input.parse()?;
            input.parse::<Token![=]>()?;
            return Ok(Opt::Crate(kw.span, input.parse()?));
        }
        let name: Ident = input.parse()?;
        let span = name.span();
        let known = [
            "cache",
            "size",
            "ttl",
            "key",
            "ignore",
            "prefix",
            "cache_none",
        ];
        if !known.contains(&name.to_string().as_str()) {
            return Err(Error::new(
                span,
                format!("unknown memoize option `{name}`; expected one of: {OPTIONS}"),
            ));
        }
        if !input.peek(Token![=]) {
            return Err(Error::new(
                span,
                format!("`{name}` needs a value: `{name} = ...`"),
            ));
        }
        input.parse::<Token![=]>()?;
        Ok(match name.to_string().as_str() {
            "cache" => Opt::Cache(span, Box::new(input.parse()?)),
            "size" => Opt::Size(span, input.parse()?),
            "ttl" => Opt::Ttl(span, input.parse()?),
            "key" => Opt::Key(span, input.parse()?),
            "prefix" => Opt::Prefix(span, input.parse()?),
            "cache_none" => Opt::CacheNone(span, input.parse()?),
            _ => {
                let list;
                bracketed!(list in input);
                let names = Punctuated::<Ident, Token![,]>::parse_terminated(&list)?;
                Opt::Ignore(span, names.into_iter().collect())
            }
        })
    }
}

#[derive(Default)]
struct Options {
    cache: Option<Expr>,
    size: Option<LitInt>,
    ttl: Option<LitStr>,
    key: Option<LitStr>,
    ignore: Option<(Span, Vec<Ident>)>,
    prefix: Option<LitStr>,
    cache_none: Option<LitBool>,
    krate: Option<Path>,
}

fn options(attr: TokenStream2) -> syn::Result<Options> {
    let opts = syn::parse::Parser::parse2(Punctuated::<Opt, Token![,]>::parse_terminated, attr)?;
    let mut o = Options::default();
    let mut seen: Vec<&'static str> = Vec::new();
    for opt in opts {
        let (name, span) = match &opt {
            Opt::Cache(s, _) => ("cache", *s),
            Opt::Size(s, _) => ("size", *s),
            Opt::Ttl(s, _) => ("ttl", *s),
            Opt::Key(s, _) => ("key", *s),
            Opt::Ignore(s, _) => ("ignore", *s),
            Opt::Prefix(s, _) => ("prefix", *s),
            Opt::CacheNone(s, _) => ("cache_none", *s),
            Opt::Crate(s, _) => ("crate", *s),
        };
        if seen.contains(&name) {
            return Err(Error::new(span, format!("`{name}` is given twice")));
        }
        seen.push(name);
        match opt {
            Opt::Cache(_, e) => o.cache = Some(*e),
            Opt::Size(_, v) => o.size = Some(v),
            Opt::Ttl(_, v) => o.ttl = Some(v),
            Opt::Key(_, v) => o.key = Some(v),
            Opt::Ignore(s, v) => o.ignore = Some((s, v)),
            Opt::Prefix(_, v) => o.prefix = Some(v),
            Opt::CacheNone(_, v) => o.cache_none = Some(v),
            Opt::Crate(_, v) => o.krate = Some(v),
        }
    }
    Ok(o)
}

/// An argument of the function: its name (for the key and the body) and its pattern and
/// type as written.
struct Arg {
    name: Ident,
    pat: Pat,
    ty: Type,
}

/// What of the result is stored.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Plain,
    OkOnly,
    SomeOnly,
}

fn last_segment(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| s.ident.to_string()),
        Type::Group(g) => last_segment(&g.elem),
        Type::Paren(p) => last_segment(&p.elem),
        _ => None,
    }
}

fn contains_impl_trait(ty: &Type) -> Option<Span> {
    struct Finder(Option<Span>);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
            self.0.get_or_insert(t.span());
        }
    }
    let mut f = Finder(None);
    syn::visit::Visit::visit_type(&mut f, ty);
    f.0
}

fn expand(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let opts = options(attr)?;
    let func: ItemFn = syn::parse2(item).map_err(|e| {
        Error::new(
            e.span(),
            "#[memoize] goes on a function (`fn` or `async fn`, free or a method)",
        )
    })?;
    let sig = &func.sig;
    if let Some(c) = &sig.constness {
        return Err(Error::new(c.span, "#[memoize] cannot memoize a `const fn`"));
    }
    if let Some(u) = &sig.unsafety {
        return Err(Error::new(
            u.span,
            "#[memoize] cannot memoize an `unsafe fn`",
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(Error::new(
            v.span(),
            "#[memoize] cannot memoize a variadic function",
        ));
    }
    let is_async = sig.asyncness.is_some();
    let generic = sig
        .generics
        .params
        .iter()
        .find(|p| !matches!(p, syn::GenericParam::Lifetime(_)));
    if let (Some(param), None) = (generic, &opts.cache) {
        return Err(Error::new(
            param.span(),
            "a generic function needs `cache = ...`: the function's own cache is a `static`, \
             which cannot depend on its type parameters",
        ));
    }

    // The arguments.
    let mut receiver = None;
    let mut args = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                if r.reference.is_none() {
                    return Err(Error::new(
                        r.span(),
                        "#[memoize] methods take `&self`, not `self` by value",
                    ));
                }
                receiver = Some(r);
            }
            FnArg::Typed(t) => {
                if let Some(span) = contains_impl_trait(&t.ty) {
                    return Err(Error::new(
                        span,
                        "#[memoize] needs named argument types, not `impl Trait`",
                    ));
                }
                let Pat::Ident(pi) = &*t.pat else {
                    return Err(Error::new(
                        t.pat.span(),
                        "#[memoize] needs each argument to be a name (`x: T`), not a pattern",
                    ));
                };
                if pi.by_ref.is_some() || pi.subpat.is_some() {
                    return Err(Error::new(
                        t.pat.span(),
                        "#[memoize] needs each argument to be a plain name (`x: T`)",
                    ));
                }
                args.push(Arg {
                    name: pi.ident.clone(),
                    pat: (*t.pat).clone(),
                    ty: (*t.ty).clone(),
                });
            }
        }
    }

    // The result.
    let ret: Type = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    if let Some(span) = contains_impl_trait(&ret) {
        return Err(Error::new(
            span,
            "#[memoize] needs a named return type, not `impl Trait`: the cache stores values of one type",
        ));
    }
    let last = last_segment(&ret);
    let shape = match (last.as_deref(), &opts.cache_none) {
        (Some("Result"), None) => Shape::OkOnly,
        (Some("Option"), Some(b)) if !b.value => Shape::SomeOnly,
        (Some("Option"), _) => Shape::Plain,
        (_, Some(b)) => {
            return Err(Error::new(
                b.span(),
                "`cache_none` is for functions returning `Option<T>`",
            ))
        }
        (_, None) => Shape::Plain,
    };

    // The cache.
    if let (Some(size), Some(_)) = (&opts.size, &opts.cache) {
        return Err(Error::new(
            size.span(),
            "`size` is the capacity of the function's own cache; with `cache = ...` it has no effect",
        ));
    }
    let size: u64 = match &opts.size {
        Some(lit) => {
            let n: u64 = lit.base10_parse()?;
            if n == 0 {
                return Err(Error::new(lit.span(), "`size` must be at least 1"));
            }
            n
        }
        None => 10_000,
    };

    // The key.
    let krate: Path = opts
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::cache));
    let name = &sig.ident;
    let name_str = name.to_string();
    let prefix = match &opts.prefix {
        Some(p) => {
            let v = p.value();
            if v.is_empty() {
                return Err(Error::new(
                    p.span(),
                    "`prefix` must not be empty: the clear companion removes every key that starts with it",
                ));
            }
            if v.contains(['*', '?']) {
                return Err(Error::new(
                    p.span(),
                    "`prefix` must not contain `*` or `?`: the clear companion matches the prefix as a glob",
                ));
            }
            quote!(#p)
        }
        None => quote!(::core::concat!(::core::module_path!(), "::", #name_str, "#")),
    };
    let key_args: Vec<&Arg> = match (&opts.key, &opts.ignore) {
        (Some(_), Some((span, _))) => return Err(Error::new(
            *span,
            "`ignore` has no effect with `key = \"...\"`: that key has only the arguments it names",
        )),
        (Some(template), None) => {
            let names = template_names(template)?;
            for (n, span) in &names {
                if !args.iter().any(|a| a.name == n) {
                    let hint = if n == "self" {
                        "`self` cannot be in a key; name an argument".to_string()
                    } else {
                        format!("the key names `{n}`, which is not an argument of `{name}`")
                    };
                    return Err(Error::new(*span, hint));
                }
            }
            args.iter()
                .filter(|a| names.iter().any(|(n, _)| a.name == n))
                .collect()
        }
        (None, Some((_, ignored))) => {
            for i in ignored {
                if !args.iter().any(|a| &a.name == i) {
                    return Err(Error::new(
                        i.span(),
                        format!("`{i}` is not an argument of `{name}`"),
                    ));
                }
            }
            args.iter().filter(|a| !ignored.contains(&a.name)).collect()
        }
        (None, None) => args.iter().collect(),
    };
    let key_expr = {
        let pushes: TokenStream2 = match &opts.key {
            Some(template) => quote! {
                {
                    use ::core::fmt::Write as _;
                    let _ = ::core::write!(__key, #template);
                }
            },
            None if key_args.len() == 1 => {
                let a = &key_args[0].name;
                quote_spanned! {a.span()=> (&#krate::__memo::Arg(&#a)).write_to(&mut __key, false); }
            }
            None => key_args
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let n = &a.name;
                    let first = i == 0;
                    quote_spanned! {n.span()=> __key.separate(#first); (&#krate::__memo::Arg(&#n)).write_to(&mut __key, true); }
                })
                .collect(),
        };
        quote! {{
            #[allow(unused_imports)]
            use #krate::__memo::{DisplayArg as _, FastArg as _};
            #[allow(unused_mut)]
            let mut __key = #krate::__memo::Key::new(#prefix);
            #pushes
            __key
        }}
    };

    let ttl = match &opts.ttl {
        None => quote!(#krate::Ttl::Default),
        Some(lit) => match ttl::parse(&lit.value()) {
            Ok(None) => quote!(#krate::Ttl::Never),
            Ok(Some(nanos)) => {
                let secs = nanos / 1_000_000_000;
                let sub = (nanos % 1_000_000_000) as u32;
                quote!(#krate::Ttl::After(::core::time::Duration::new(#secs, #sub)))
            }
            Err(msg) => return Err(Error::new(lit.span(), msg)),
        },
    };

    let shape_ty = match shape {
        Shape::Plain => quote!(#krate::__memo::Plain),
        Shape::OkOnly => quote!(#krate::__memo::OkOnly),
        Shape::SomeOnly => quote!(#krate::__memo::SomeOnly),
    };
    let value_ty = quote!(<#shape_ty as #krate::__memo::Shape<#ret>>::V);

    // The cache expression, and the hidden function of the default cache.
    let cache_fn = format_ident!("__memoize_cache_{}", name);
    let vis = &func.vis;
    let (cache_expr, cache_item) = match &opts.cache {
        Some(e) => (quote_spanned!(e.span()=> (#e)), quote!()),
        None => {
            let access = if receiver.is_some() {
                quote!(Self::#cache_fn())
            } else {
                quote!(#cache_fn())
            };
            let (ty, build) = if is_async {
                (
                    quote!(#krate::AsyncInMemoryCache<#value_ty>),
                    quote!(#krate::AsyncInMemoryCache::new(
                        #krate::InMemoryCache::new(#size as usize, ::core::option::Option::None)
                            .expect("a capacity of at least 1 is valid")
                    )),
                )
            } else {
                (
                    quote!(#krate::InMemoryCache<#value_ty>),
                    quote!(#krate::InMemoryCache::new(#size as usize, ::core::option::Option::None)
                        .expect("a capacity of at least 1 is valid")),
                )
            };
            let item = quote! {
                #[doc(hidden)]
                #[allow(non_snake_case)]
                fn #cache_fn() -> &'static #ty {
                    static CACHE: ::std::sync::OnceLock<#ty> = ::std::sync::OnceLock::new();
                    CACHE.get_or_init(|| #build)
                }
            };
            (access, item)
        }
    };

    // The memoized function.
    let attrs = &func.attrs;
    let block = &func.block;
    let names: Vec<&Ident> = args.iter().map(|a| &a.name).collect();
    let pats: Vec<&Pat> = args.iter().map(|a| &a.pat).collect();
    // Type errors of the cache point at `cache = ...`, those of the value at the return type.
    let cache_span = opts
        .cache
        .as_ref()
        .map_or_else(Span::call_site, |e| e.span());
    let memoize_async = Ident::new("__memoize_async", cache_span);
    let memoize_sync = Ident::new("__memoize", cache_span);
    let call = Ident::new("call", ret.span());
    let body = if is_async {
        quote! {
            {
                use #krate::__memo::AsyncMemoCache as _;
                // `&Arg(..)`: the borrow picks `DisplayArg` when no `FastArg` applies.
                #[allow(clippy::needless_borrow)]
                let __key: #krate::__memo::Key = #key_expr;
                #cache_expr
                    .#memoize_async()
                    .#call::<#shape_ty, _, #ret, _, _>(
                        __key.as_str(),
                        #ttl,
                        (#(#names,)*),
                        move |(#(#pats,)*)| #krate::__memo::returns::<#ret, _>(async move #block),
                    )
                    .await
            }
        }
    } else {
        quote! {
            {
                use #krate::__memo::MemoCache as _;
                // `&Arg(..)`: the borrow picks `DisplayArg` when no `FastArg` applies.
                #[allow(clippy::needless_borrow)]
                let __key: #krate::__memo::Key = #key_expr;
                #cache_expr
                    .#memoize_sync()
                    .#call::<#shape_ty, _, #ret, _>(
                        __key.as_str(),
                        #ttl,
                        (#(#names,)*),
                        move |(#(#pats,)*)| -> #ret #block,
                    )
            }
        }
    };
    let mut outer_sig = sig.clone();
    // The arguments move into the body's closure; `mut` belongs there, not here.
    for input in outer_sig.inputs.iter_mut() {
        if let FnArg::Typed(t) = input {
            if let Pat::Ident(pi) = &mut *t.pat {
                pi.mutability = None;
            }
        }
    }

    // The companions.
    let invalidate = format_ident!("{}_invalidate", name);
    let clear = format_ident!("{}_clear", name);
    let self_arg = receiver.map(|r| quote!(#r,));
    let key_params: Vec<TokenStream2> = key_args
        .iter()
        .map(|a| {
            let (n, t) = (&a.name, &a.ty);
            quote!(#n: #t)
        })
        .collect();
    let (generics, where_clause) = (&sig.generics, &sig.generics.where_clause);
    let (asyncness, memo, await_) = if is_async {
        (quote!(async), memoize_async.clone(), quote!(.await))
    } else {
        (quote!(), memoize_sync.clone(), quote!())
    };
    let (memo_trait, memo_ty) = if is_async {
        (quote!(AsyncMemoCache), quote!(AsyncMemo))
    } else {
        (quote!(MemoCache), quote!(Memo))
    };
    let doc_inv = format!(
        "Removes the cached result of [`{name_str}`](Self::{name_str}) for these arguments; `true` iff there was one."
    );
    let doc_inv = if receiver.is_some() {
        doc_inv
    } else {
        doc_inv.replace("(Self::", "(")
    };
    let doc_clear = format!("Removes every cached result of `{name_str}`; returns how many.");
    let companions = quote! {
        #[doc = #doc_inv]
        #[allow(dead_code)]
        #vis #asyncness fn #invalidate #generics (#self_arg #(#key_params),*)
            -> ::core::result::Result<bool, #krate::CacheError> #where_clause
        {
            use #krate::__memo::#memo_trait as _;
            // `&Arg(..)`: the borrow picks `DisplayArg` when no `FastArg` applies.
                #[allow(clippy::needless_borrow)]
                let __key: #krate::__memo::Key = #key_expr;
            let __memo: #krate::__memo::#memo_ty<'_, _, #value_ty> = #cache_expr.#memo();
            __memo.invalidate(__key.as_str())#await_
        }

        #[doc = #doc_clear]
        #[allow(dead_code)]
        #vis #asyncness fn #clear #generics (#self_arg) -> ::core::result::Result<u64, #krate::CacheError>
            #where_clause
        {
            use #krate::__memo::#memo_trait as _;
            let __memo: #krate::__memo::#memo_ty<'_, _, #value_ty> = #cache_expr.#memo();
            __memo.clear(#prefix)#await_
        }
    };
    Ok(quote! {
        #(#attrs)*
        #vis #outer_sig #body

        #companions

        #cache_item
    })
}

/// The argument names a `key` template uses, each with the template's span; positional
/// arguments (`{}`, `{0}`) are refused.
fn template_names(template: &LitStr) -> syn::Result<Vec<(String, Span)>> {
    let text = template.value();
    let span = template.span();
    let mut names = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
            }
            '{' => {
                let mut inner = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    inner.push(c);
                }
                if !closed {
                    return Err(Error::new(span, "the key has a `{` that is not closed"));
                }
                let name = inner.split(':').next().unwrap_or("").trim().to_string();
                let is_ident = name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_alphanumeric() || c == '_');
                if !is_ident {
                    return Err(Error::new(
                        span,
                        format!(
                            "the key names arguments (`{{id}}`, `{{id:?}}`), not `{{{inner}}}`"
                        ),
                    ));
                }
                if !names.iter().any(|(n, _)| n == &name) {
                    names.push((name, span));
                }
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
            }
            '}' => {
                return Err(Error::new(
                    span,
                    "the key has a `}` that is not opened (`}}` for one)",
                ))
            }
            _ => {}
        }
    }
    Ok(names)
}
