//! The benchmark of RedisCache against a bare connection (written next).

fn main() {}
