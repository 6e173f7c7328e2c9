#!/usr/bin/env bash
# The main job on a fresh machine: environment, release build, quickstart
# (fit, save every supported way, load in a fresh process, compare, serve).
source "$(dirname "$0")/env.sh"

echo "==> building oxlearn in release mode"
maturin develop --release --quiet
cargo build --release --quiet -p oxlearn-cli
echo "==> quickstart"
python examples/quickstart.py --cli target/release/oxlearn
