//! The web framework examples of restartable (`axum.rs`, `actix.rs`,
//! `hyper.rs`, `smol.rs`), in a package of their own so that the other examples build
//! without a framework. `bash scripts/examples-check.sh` runs each.
