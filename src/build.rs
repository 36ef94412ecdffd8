//! Link the `homelab` binary as a position-dependent executable on Linux. As a PIE it carries
//! ~110 000 relative relocations (vtables, panic locations, static strings) that the dynamic
//! loader applies on every start, dirtying ~1 MB of pages; in a VM each of those page faults
//! costs microseconds, and together they were most of `homelab --version`'s 2 ms. Without PIE
//! the addresses are fixed at link time. The trade: the executable's own image is not
//! randomized (libraries, heap and stack still are), as with Go binaries such as sops.
//! Figures: docs/performance.md, "Startup cost". Only the binary is affected, not the library
//! the tests link.
//!
//! The shipped build, `.ci/dist`, is static and position-dependent (`+crt-static` with
//! `relocation-model=static`), which needs neither this flag nor the loader. A crt-static build
//! is left alone here: with `+crt-static` alone rustc links `-static-pie`, and adding `-no-pie`
//! to that gave an executable that still named the dynamic loader and crashed in it before
//! `main` (docs/performance.md, "Startup cost").

fn main() {
    println!("cargo:rerun-if-changed=src/build.rs");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let crt_static = std::env::var("CARGO_CFG_TARGET_FEATURE")
        .is_ok_and(|f| f.split(',').any(|f| f == "crt-static"));
    if linux && !crt_static {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
