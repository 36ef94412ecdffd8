#[path = "../../../src/backends/loki/cursor.rs"]
pub mod cursor;
#[path = "../../../src/backends/loki/wire.rs"]
pub mod wire;
