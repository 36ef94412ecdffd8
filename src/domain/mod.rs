//! Plain data shared by every layer: no ratatui, tokio or reqwest types here.

pub mod repo;
