#!/bin/sh
# `make demo` without make: install the simulator (scripts/install.sh: no torch), then a small
# pre-registered study end to end. The demo spec is copied to $DEMO (default runs/demo;
# afresh when the spec changed), registered there if it is not yet, run (resuming) and
# analysed by `simrl prereg all`; its report and figures are in $DEMO.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install.sh sim
. scripts/env.sh
DEMO="${DEMO:-runs/demo}"
SPEC=experiments/decomposition/demo.toml
mkdir -p "$DEMO"
if ! cmp -s "$SPEC" "$DEMO/prereg.toml"; then
    rm -rf "$DEMO" && mkdir -p "$DEMO" && cp "$SPEC" "$DEMO/prereg.toml"
fi
# why its sequence hypothesis H4a does not come out at this size, in the report's Discussion
cp experiments/decomposition/demo_discussion.md "$DEMO/discussion.md"
# register (if not yet), run (resuming) and analyse, in one process
"$PY" -m simrl prereg all "$DEMO"
[ -n "$VENV" ] && echo "simrl is installed in $VENV: . $VENV/bin/activate, then simrl --help"
exit 0
