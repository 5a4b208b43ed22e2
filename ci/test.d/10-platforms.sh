#!/usr/bin/env bash
# What the crate declares, verified: the other Unixes it keeps in mind
# (type-checked for macOS and FreeBSD, no linker needed), its MSRV (with
# that very toolchain), the codec under miri, the packages as crates.io would
# take them (inflight and the conformance kit), and documentation without
# warnings.
set -euo pipefail
cd "$(dirname "$0")/../.."
. ci/lib.sh

msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
for target in aarch64-apple-darwin x86_64-unknown-freebsd; do
    need_target "$target"
    echo "--> clippy, inflight, $target"
    cargo clippy -p inflight --all-features --target "$target" -- -D warnings
done

need_toolchain "$msrv"
echo "--> check, inflight, Rust $msrv (the declared rust-version)"
cargo "+$msrv" check -p inflight --all-features

need_toolchain nightly
need_component rust-src nightly
need_component miri nightly
echo "--> miri: the codec's unit and integration tests, the control-buffer views"
cargo +nightly miri test -p inflight --lib -- \
    codec:: sys::tests::encode_uninit sys::tests::control_buffer
cargo +nightly miri test -p inflight --test codec

echo "--> cargo package -p inflight (builds the packaged crate)"
cargo package -p inflight --allow-dirty --quiet
echo "--> cargo package -p inflight-conformance (builds the packaged kit)"
cargo package -p inflight-conformance --allow-dirty --quiet

echo "--> cargo doc, warnings denied"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --quiet
