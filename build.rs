//! Rebuild when a migration is added or changed: `embed_migrations!` reads the
//! directory at compile time and cargo would otherwise not notice new files
//! (refinery issue #309), which is how a binary ships without a migration.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=src/admin/ui");
}
