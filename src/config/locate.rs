//! Find where a field lives in YAML source text.
