//! Rebuild when a migration is added: `sqlx::migrate!` embeds the
//! migrations directory, but cargo only watches what it is told about.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
