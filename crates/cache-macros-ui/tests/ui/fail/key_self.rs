use cache::memoize;

struct S;
impl S {
    #[memoize(key = "{self}")]
    fn f(&self, id: u32) -> u32 { id }
}

fn main() {}
