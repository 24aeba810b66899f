# Sourced by scripts/demo.sh, scripts/install.sh and scripts/test.sh (and so by the Makefile):
# picks the Python to install into. Works on any Linux or macOS with Python >= 3.11.
#
#   VENV=.venv (default)  a virtual environment in .venv, created with $PYTHON -m venv when
#                         missing (current Debian/Ubuntu refuse pip into the system Python:
#                         "externally-managed-environment"); activate it afterwards with
#                         `. .venv/bin/activate` to have `simrl` on your PATH
#   VENV=                 use $PYTHON as it is (a venv or conda env you made yourself, or CI)
#   PYTHON=python3        the interpreter that makes the venv (or is used, with VENV=)
PYTHON="${PYTHON:-python3}"
VENV="${VENV-.venv}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "simrl needs Python >= 3.11; $PYTHON is $("$PYTHON" -V 2>&1 | head -n 1) (set PYTHON=python3.11 or newer)" >&2
    exit 2
fi
if [ -n "$VENV" ]; then
    if [ ! -x "$VENV/bin/python" ]; then
        echo "creating a virtual environment in $VENV ($PYTHON -m venv $VENV)"
        "$PYTHON" -m venv "$VENV"
    fi
    PY="$VENV/bin/python"
else
    PY="$PYTHON"
fi
export HF_HUB_OFFLINE=1
