# Sourced by ./run and ./run-tests: find Python 3.11+, create .venv and install the project into it when needed.
# Usage: ensure_venv EXTRAS   (EXTRAS is "" or "[test]")

find_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "t2-companion needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

ensure_venv() {
    extras="$1"
    venv="$ROOT/.venv"
    if [ ! -x "$venv/bin/python" ]; then
        python=$(find_python) || exit 1
        echo "Creating a virtual environment in .venv with $python ..." >&2
        "$python" -m venv "$venv" || exit 1
    fi
    stamp="$venv/.installed$extras"
    digest=$(cat "$ROOT/pyproject.toml" | cksum)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
        echo "Installing t2-companion$extras into .venv ..." >&2
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2 || exit 1
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT$extras" >&2 || exit 1
        echo "$digest" >"$stamp"
    fi
}
