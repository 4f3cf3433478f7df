#!/usr/bin/env bash
# Create (or reuse) openhoi's Python environment, then run a command in it.
#
#   bash scripts/env.sh demo [ARGS]    install everything, run `openhoi demo`
#   bash scripts/env.sh test [ARGS]    install everything, run the test suite (pytest)
#   bash scripts/env.sh CMD [ARGS]     run any command inside the environment
#
# The heavy dependencies (torch, open_clip, ...) live in a shared virtual environment cached
# outside the repository, keyed by a hash of the dependency lists in pyproject.toml, so a
# second clone (or CI on a machine that already built it) starts in seconds. Each checkout gets
# a thin `.venv/` that sees the shared packages and holds an editable install of this checkout.
#
# Environment: OPENHOI_CACHE (default ~/.cache/openhoi) holds the shared environments;
# OPENHOI_PYTHON (default python3.11, else python3) is the interpreter;
# OPENHOI_TORCH (default "torch==2.14.1 torchvision==0.29.1") the torch install line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${OPENHOI_PYTHON:-$(command -v python3.11 || command -v python3)}"
TORCH_SPEC="${OPENHOI_TORCH:-torch==2.14.1 torchvision==0.29.1}"
CACHE="${OPENHOI_CACHE:-$HOME/.cache/openhoi}"

# Dependency list = [project.dependencies] + every optional extra, read with tomllib.
DEPS="$("$PY" - "$ROOT/pyproject.toml" <<'PYEOF'
import sys, tomllib
proj = tomllib.load(open(sys.argv[1], "rb"))["project"]
deps = list(proj["dependencies"])
for extra in sorted(proj.get("optional-dependencies", {})):
    deps += proj["optional-dependencies"][extra]
print("\n".join(deps))
PYEOF
)"
HASH="$(printf '%s\n%s\n%s\n' "$("$PY" -c 'import sys; print(sys.version)')" "$TORCH_SPEC" "$DEPS" \
        | sha256sum | cut -c1-16)"
BASE="$CACHE/venv-$HASH"

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock-$HASH"
flock 9
if [ ! -f "$BASE/.complete" ]; then
    echo "[openhoi] building shared environment $BASE (first time only, a few minutes)" >&2
    rm -rf "$BASE"
    LOG="$CACHE/build-$HASH.log"
    trap 'echo "[openhoi] environment build failed; see $LOG" >&2' ERR
    exec 3>&2 2>"$LOG"
    "$PY" -m venv "$BASE"
    "$BASE/bin/python" -m pip install -q --upgrade pip setuptools wheel
    mapfile -t DEP_ARR <<<"$DEPS"
    # torch first and alone: pip then takes the pinned wheels from this machine's disk.
    # shellcheck disable=SC2086
    "$BASE/bin/python" -m pip install -q $TORCH_SPEC
    # shellcheck disable=SC2086
    "$BASE/bin/python" -m pip install -q $TORCH_SPEC "${DEP_ARR[@]}"
    touch "$BASE/.complete"   # written last: an interrupted build is redone, never half-used
    exec 2>&3 3>&-
    trap - ERR
fi
flock -u 9

LOCAL="$ROOT/.venv"
if [ "$(cat "$LOCAL/openhoi-base" 2>/dev/null)" != "$BASE" ]; then
    rm -rf "$LOCAL"
    "$PY" -m venv "$LOCAL"
    SITE="$("$LOCAL/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    BASE_SITE="$("$BASE/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$BASE_SITE" > "$SITE/_openhoi_shared_env.pth"
    "$LOCAL/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT" \
        2> >(grep -v "is ignored: it is neither" >&2)
    echo "$BASE" > "$LOCAL/openhoi-base"
fi

export PATH="$LOCAL/bin:$BASE/bin:$PATH"
cd "$ROOT"
case "${1:-}" in
    demo) shift; exec "$LOCAL/bin/openhoi" demo "$@" ;;
    test) shift; exec "$LOCAL/bin/python" -m pytest "$@" ;;
    "") echo "usage: bash scripts/env.sh demo|test|CMD [ARGS]" >&2; exit 2 ;;
    *) exec "$@" ;;
esac
