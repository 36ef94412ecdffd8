//! The bootstrap wizard. Stage views live here, one module per stage.

pub mod k3s;
