//! The migrations are embedded at compile time (`refinery::embed_migrations!`
//! in `src/migrations.rs`), which cargo cannot see: rebuild when a file in
//! `migrations/` is added or changed.

fn main() {
    println!("cargo::rerun-if-changed=../migrations");
}
