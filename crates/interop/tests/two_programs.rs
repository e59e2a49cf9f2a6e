//! Two separately built programs, each defining its own `User` and `Point`, share a cache
//! directory and a Redis prefix: what one writes, the other reads as the same structure, and
//! as any other structure it is a miss.

use std::process::Command;

fn run(program: &str, dir: &str, url: &str, prefix: &str) -> String {
    let out = Command::new(program)
        .args([dir, url, prefix])
        .output()
        .expect("the program runs");
    assert!(out.status.success(), "{program}: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn reader_reads_what_writer_wrote_through_its_own_types() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_str().unwrap().to_owned();
    let url = redis_test_support::shared_server().url();
    let prefix = redis_test_support::unique_prefix("interop");
    let wrote = run(env!("CARGO_BIN_EXE_writer"), &dir, &url, &prefix);
    assert_eq!(
        wrote,
        "wrote User { name: \"ann\", age: 7 } and Point { x: -3, y: 4 }\n"
    );
    let read = run(env!("CARGO_BIN_EXE_reader"), &dir, &url, &prefix);
    let mut expected = String::new();
    for backend in ["file", "redis"] {
        expected += &format!(
            "{backend} user as User: Some(User {{ name: \"ann\", age: 7 }})\n\
             {backend} point as Point {{ x: i32, y: i32 }}: Some(Point {{ x: -3, y: 4 }})\n\
             {backend} point as Point {{ x: u32, y: u32 }}: None\n\
             {backend} point as Point {{ x: i32 }}: None\n\
             {backend} point as String: None\n"
        );
    }
    assert_eq!(read, expected);
}
