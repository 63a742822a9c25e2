//! The workspace's `uniffi-bindgen`: generates the Kotlin and Swift bindings from the built
//! library (library mode), with exactly the uniffi version the library was built with.
//!
//! `cargo uniffi-bindgen generate --library target/debug/libciba_authenticator_ffi.so
//! --language kotlin --out-dir …` (the alias is in `.cargo/config.toml`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
