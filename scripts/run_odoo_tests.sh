#!/usr/bin/env bash
# Run the Odoo addon's tests (odoo_addon/conversions_api) on one or more real Odoo source trees.
#
#   ODOO_TREE=/path/to/odoo[:/path/to/other/odoo] [ODOO_PYTHON=/path/to/python] scripts/run_odoo_tests.sh
#
# Per tree: detect layout (odoo-bin at the root, or sdist with setup/odoo) and version (odoo/release.py),
# find or create a Python venv, install this checkout's convapi package into it (maturin wheel), make sure
# PostgreSQL is reachable, install the addon into a fresh database with demo data and its tests enabled,
# judge the run from the log, print one summary line, and drop the database.
#
# Environment (all optional except ODOO_TREE):
#   ODOO_TREE            one or more Odoo source trees, ':'-separated
#   ODOO_PYTHON          interpreter to use when <tree>/../venv<major> does not exist
#   ODOO_BASE_PYTHON     interpreter used to create a missing venv (default: python3.11, else python3)
#   ODOO_ADDON_DIR       directory holding the addon (default: <repo>/odoo_addon)
#   ODOO_ADDON_NAME      addon to install and test (default: conversions_api)
#   ODOO_TEST_TAGS       --test-tags value (default: /<addon name>)
#   ODOO_DB_HOST/PORT/USER/PASSWORD   PostgreSQL (default: 127.0.0.1 / 5432 / odoo / odoo)
#   ODOO_CONVAPI         "required" (default: a failed build fails the run), "auto" (warn and go on),
#                        "skip" (do not build or install convapi)
#   ODOO_COMMUNITY_ONLY  1 (default): if the tree also ships enterprise (OEEL) addons, run from a cached
#                        symlink view of the tree without them, so they are not auto-installed; 0: use as is
#   ODOO_CARGO_TARGET_DIR  cargo target dir for the convapi wheel (default: <repo>/target/odoo-wheel)
#   ODOO_CACHE_DIR       where those views live (default: ${XDG_CACHE_HOME:-~/.cache}/convapi-odoo)
#   ODOO_LOG_DIR         where logs go (default: a new mktemp -d directory, kept)
#   ODOO_TIMEOUT         seconds per Odoo run (default: 3600)
#   ODOO_KEEP_DB         1: keep the test database (default: drop it)
#   ODOO_EXTRA_ARGS      extra arguments appended to the Odoo command line (word-split)
#
# Exit status: 0 when every tree passed, 1 when a tree failed, 2 on a usage or setup error.
# The last line printed is "odoo: N passed, N failed" (tests summed over the trees).

set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

ADDON_DIR=${ODOO_ADDON_DIR:-$REPO_ROOT/odoo_addon}
ADDON_NAME=${ODOO_ADDON_NAME:-conversions_api}
TEST_TAGS=${ODOO_TEST_TAGS:-/$ADDON_NAME}
DB_HOST=${ODOO_DB_HOST:-127.0.0.1}
DB_PORT=${ODOO_DB_PORT:-5432}
DB_USER=${ODOO_DB_USER:-odoo}
DB_PASSWORD=${ODOO_DB_PASSWORD:-odoo}
CONVAPI_MODE=${ODOO_CONVAPI:-required}
COMMUNITY_ONLY=${ODOO_COMMUNITY_ONLY:-1}
CACHE_DIR=${ODOO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/convapi-odoo}
TIMEOUT=${ODOO_TIMEOUT:-3600}
KEEP_DB=${ODOO_KEEP_DB:-0}

log() { printf '[run_odoo_tests] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

[ -n "${ODOO_TREE:-}" ] || die "set ODOO_TREE=/path/to/odoo (several trees: separated by ':')"
[ -f "$ADDON_DIR/$ADDON_NAME/__manifest__.py" ] || die "no addon $ADDON_NAME in $ADDON_DIR"
ADDON_DIR=$(cd "$ADDON_DIR" && pwd)
case "$CONVAPI_MODE" in required|auto|skip) ;; *) die "ODOO_CONVAPI must be required, auto or skip" ;; esac

LOG_DIR=${ODOO_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/odoo-tests.XXXXXX")}
mkdir -p "$LOG_DIR" || die "cannot create $LOG_DIR"
WHEEL_DIR=""      # convapi wheel, built once per script run
WHEEL_STATE=""    # "", "ok" or "failed"
CLEANUP_DIRS=()
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local d
    for d in "${CLEANUP_DIRS[@]}"; do rm -rf -- "$d"; done
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------------
# Odoo tree: version, layout, venv

tree_major() {  # prints "<major> <series>" from odoo/release.py, e.g. "18 18.0" or "17 saas~17.1"
    local rel=$1/odoo/release.py line major minor
    line=$(sed -nE 's/^version_info *= *\(([^,]+), *([0-9]+),.*/\1 \2/p' "$rel" | head -n 1)
    [ -n "$line" ] || return 1
    major=${line%% *}; minor=${line##* }
    major=${major//[\'\"]/}
    case "$major" in
        saas~*) printf '%s %s\n' "${major#saas~}" "$major.$minor" ;;
        *) printf '%s %s\n' "$major" "$major.$minor" ;;
    esac
}

# The requirements, made installable on a modern pip/Python: psycopg2 -> psycopg2-binary, no python-ldap
# or gevent (not needed for tests, need system headers), cbor2 5.4.2 (sdist needing pkg_resources) -> 5.4.6.
filtered_requirements() {
    sed -E -e '/^[[:space:]]*(python-ldap|gevent)[[:space:]]*([=<>;~!]|$)/d' \
        -e 's/^([[:space:]]*)psycopg2([[:space:]]*==)/\1psycopg2-binary\2/' \
        -e 's/^([[:space:]]*)cbor2==5\.4\.2([[:space:]]*(;|$))/\1cbor2==5.4.6\2/' "$1"
}

create_venv() {  # create_venv <tree> <venv dir>
    local tree=$1 venv=$2 base=${ODOO_BASE_PYTHON:-} req
    if [ -z "$base" ]; then
        base=$(command -v python3.11 || command -v python3) || { log "no python3 to create $venv"; return 1; }
    fi
    log "creating $venv with $base and installing $tree/requirements.txt (a few minutes)"
    "$base" -m venv "$venv" || return 1
    "$venv/bin/python" -m pip install -q --upgrade pip 'setuptools<70' wheel || return 1
    req=$(mktemp "${TMPDIR:-/tmp}/odoo-req.XXXXXX")
    filtered_requirements "$tree/requirements.txt" > "$req"
    if ! "$venv/bin/python" -m pip install -q -r "$req"; then
        log "requirements failed as a whole; retrying without greenlet"
        sed -i -E '/^[[:space:]]*greenlet[[:space:]]*([=<>;~!]|$)/d' "$req"
        "$venv/bin/python" -m pip install -q -r "$req" || { rm -f "$req"; return 1; }
    fi
    rm -f "$req"
    # websocket-client: Odoo's HttpCase browser tests (Chromium) talk to the browser through it.
    "$venv/bin/python" -m pip install -q maturin websocket-client || return 1
}

find_python() {  # find_python <tree> <major>: prints the interpreter to run Odoo with
    local tree=$1 major=$2 venv
    venv=$(cd "$tree/.." && pwd)/venv$major
    if [ -x "$venv/bin/python" ]; then
        printf '%s\n' "$venv/bin/python"
    elif [ -n "${ODOO_PYTHON:-}" ]; then
        command -v "$ODOO_PYTHON" || { log "ODOO_PYTHON=$ODOO_PYTHON is not executable"; return 1; }
    else
        create_venv "$tree" "$venv" >&2 || { log "could not create $venv"; return 1; }
        printf '%s\n' "$venv/bin/python"
    fi
}

# Enterprise (OEEL-licensed) modules in an addons directory, one name a line.
enterprise_modules() {
    local dir=$1
    [ -d "$dir" ] || return 0
    grep -lE "['\"]license['\"][[:space:]]*:[[:space:]]*['\"]OEEL" "$dir"/*/__manifest__.py 2>/dev/null \
        | sed -E 's#.*/([^/]+)/__manifest__\.py$#\1#'
}

# Modules to leave out of a community run: the OEEL-licensed ones and, transitively, every module that
# depends on one of them or on a module absent from the tree (enterprise also ships LGPL glue modules).
excluded_modules() {  # excluded_modules <python> <addons dir>...: one name a line
    "$1" - "${@:2}" <<'EOF'
import ast, os, sys
mods = {}
for d in sys.argv[1:]:
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        path = os.path.join(d, name, "__manifest__.py")
        if os.path.isfile(path) and name not in mods:
            try:
                with open(path, encoding="utf-8") as f:
                    mods[name] = ast.literal_eval(f.read())
            except (ValueError, SyntaxError):
                mods[name] = {}
out = {n for n, m in mods.items() if str(m.get("license", "")).startswith("OEEL")}
changed = True
while changed:
    changed = False
    for n, m in mods.items():
        if n not in out and any(d in out or d not in mods for d in m.get("depends", [])):
            out.add(n)
            changed = True
print("\n".join(sorted(out)))
EOF
}

# A view of the tree with only its community addons: odoo/ and odoo/tools/ are real directories (so
# Odoo's root_path, a realpath of odoo/tools/.., points into the view), everything else is a symlink.
community_view() {  # community_view <tree> <major> <launcher relpath> <python>: prints the view's path
    local tree=$1 major=$2 launcher=$3 py=$4 key view stamp excluded e name new
    key=$(printf '%s' "$tree" | cksum | cut -d' ' -f1)
    view=$CACHE_DIR/community-$major-$key
    excluded=$(excluded_modules "$py" "$tree/odoo/addons" "$tree/addons") || return 1
    stamp=$( { printf '%s\n' "$tree" "$launcher" "$excluded"
               ls -a "$tree/odoo" "$tree/odoo/tools" "$tree/odoo/addons" 2>/dev/null
               [ -d "$tree/addons" ] && ls "$tree/addons"; } | cksum)
    mkdir -p "$CACHE_DIR" || return 1
    (
        flock 9
        if [ -f "$view/.stamp" ] && [ "$(cat "$view/.stamp")" = "$stamp" ]; then exit 0; fi
        log "building a community-only view of $tree in $view ($(wc -w <<< "$excluded") modules left out)"
        # Built aside and swapped in, so that a run still using the old view keeps finding its files.
        new=$view.new.$$
        rm -rf -- "$new"
        mkdir -p "$new/odoo/tools" "$new/odoo/addons" "$(dirname "$new/$launcher")" || exit 1
        for e in "$tree"/odoo/*; do
            name=${e##*/}
            case "$name" in addons|tools|__pycache__) continue ;; esac
            ln -s "$e" "$new/odoo/$name" || exit 1
        done
        for e in "$tree"/odoo/tools/*; do
            [ "${e##*/}" = __pycache__ ] || ln -s "$e" "$new/odoo/tools/" || exit 1
        done
        ln -s "$tree"/odoo/addons/* "$new/odoo/addons/" || exit 1
        rm -f "$new/odoo/addons/__pycache__"
        if [ -d "$tree/addons" ]; then
            mkdir -p "$new/addons" && ln -s "$tree"/addons/* "$new/addons/" || exit 1
        fi
        for name in $excluded; do rm -f "$new/odoo/addons/$name" "$new/addons/$name"; done
        # A copy, not a link: Python resolves a script's symlink when it sets sys.path[0].
        cp "$tree/$launcher" "$new/$launcher" || exit 1
        printf '%s\n' "$stamp" > "$new/.stamp"
        if [ -e "$view" ]; then mv -- "$view" "$view.old.$$" || exit 1; fi
        mv -- "$new" "$view" || exit 1
        rm -rf -- "$view.old.$$"
    ) 9> "$CACHE_DIR/.lock-$major-$key" || return 1
    printf '%s\n' "$view"
}

# ---------------------------------------------------------------------------------------------------
# convapi

install_convapi() {  # install_convapi <python>
    local py=$1 maturin wheel
    [ "$CONVAPI_MODE" = skip ] && return 0
    if [ -z "$WHEEL_STATE" ]; then
        WHEEL_STATE=failed
        WHEEL_DIR=$(mktemp -d "${TMPDIR:-/tmp}/convapi-wheel.XXXXXX"); CLEANUP_DIRS+=("$WHEEL_DIR")
        maturin=$(dirname "$py")/maturin
        [ -x "$maturin" ] || maturin=$(command -v maturin || true)
        if [ -z "$maturin" ]; then
            "$py" -m pip install -q maturin && maturin=$(dirname "$py")/maturin
        fi
        log "building convapi from $REPO_ROOT (maturin build --release)"
        # A target dir of its own: maturin build and the developers' maturin develop would otherwise
        # take turns invalidating each other's artifacts and waiting on the same cargo lock.
        if [ -n "$maturin" ] && (cd "$REPO_ROOT" \
                && CARGO_TARGET_DIR=${ODOO_CARGO_TARGET_DIR:-$REPO_ROOT/target/odoo-wheel} \
                   "$maturin" build --release -q -i "$py" -o "$WHEEL_DIR") > "$LOG_DIR/convapi-build.log" 2>&1; then
            WHEEL_STATE=ok
        else
            log "convapi build failed, see $LOG_DIR/convapi-build.log:"
            tail -n 20 "$LOG_DIR/convapi-build.log" >&2
        fi
    fi
    if [ "$WHEEL_STATE" = ok ]; then
        wheel=$(find "$WHEEL_DIR" -maxdepth 1 -name 'convapi-*.whl' | head -n 1)
        if [ -n "$wheel" ] && "$py" -m pip install -q --force-reinstall --no-deps "$wheel"; then
            return 0
        fi
        log "could not install $wheel with $py"
    fi
    [ "$CONVAPI_MODE" = auto ] && { log "going on without a fresh convapi (ODOO_CONVAPI=auto)"; return 0; }
    return 1
}

# ---------------------------------------------------------------------------------------------------
# PostgreSQL

pg_query() {  # pg_query <python> <dbname> <sql>: prints the first column of each row
    PGCONNECT_TIMEOUT=5 "$1" - "$2" "$3" <<'EOF'
import os, sys
import psycopg2
conn = psycopg2.connect(host=os.environ["DB_HOST"], port=os.environ["DB_PORT"], user=os.environ["DB_USER"],
                        password=os.environ["DB_PASSWORD"], dbname=sys.argv[1], connect_timeout=5)
conn.autocommit = True
with conn.cursor() as cr:
    cr.execute(sys.argv[2])
    if cr.description:
        for row in cr.fetchall():
            print(row[0])
conn.close()
EOF
}
export DB_HOST DB_PORT DB_USER DB_PASSWORD

pg_reachable() { pg_query "$1" postgres "SELECT 1" > /dev/null 2>&1; }

ensure_postgres() {  # ensure_postgres <python>
    local py=$1 ver cluster
    pg_reachable "$py" && return 0
    case "$DB_HOST" in 127.0.0.1|localhost|/*) ;; *) log "PostgreSQL at $DB_HOST:$DB_PORT is not reachable"; return 1 ;; esac
    [ "$(id -u)" = 0 ] || { log "PostgreSQL is not reachable and I am not root to start it"; return 1; }
    if ! command -v pg_lsclusters > /dev/null; then
        log "installing Debian's postgresql"
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; } >&2 || return 1
    fi
    cluster=$(pg_lsclusters -h 2>/dev/null | awk -v p="$DB_PORT" '$3 == p {print $1" "$2; exit}')
    if [ -z "$cluster" ]; then
        ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n | tail -n 1)
        log "creating PostgreSQL $ver cluster 'main' on port $DB_PORT"
        pg_createcluster "$ver" main -p "$DB_PORT" >&2 || return 1
        cluster="$ver main"
    fi
    # shellcheck disable=SC2086
    set -- $cluster
    # loopback only
    sed -i -E "s/^#?listen_addresses *=.*/listen_addresses = '127.0.0.1'/" "/etc/postgresql/$1/$2/postgresql.conf"
    log "starting PostgreSQL cluster $1/$2"
    pg_ctlcluster "$1" "$2" start >&2 2>/dev/null || pg_ctlcluster "$1" "$2" status > /dev/null || return 1
    su postgres -c "psql -p $DB_PORT -v ON_ERROR_STOP=1 -q" >&2 <<EOF || return 1
DO \$\$BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER') THEN
    CREATE ROLE "$DB_USER" LOGIN SUPERUSER PASSWORD '$DB_PASSWORD';
  END IF;
END\$\$;
EOF
    local _
    for _ in 1 2 3 4 5 6 7 8 9 10; do pg_reachable "$py" && return 0; sleep 1; done
    log "PostgreSQL still not reachable as $DB_USER@$DB_HOST:$DB_PORT"
    return 1
}

free_port() {
    "$1" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------------------------------------------
# one tree

TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARIES=()

run_tree() {
    local tree=$1 mv major series layout launcher py view root port db work logf rc start elapsed
    local addons_path=() ap demo_args=() extra=() summary tests=0 failed=0 errors=0 nerr nfail state
    local reasons=()
    [ -f "$tree/odoo/release.py" ] || { log "$tree: no odoo/release.py"; SUMMARIES+=("odoo ?: $tree is not an Odoo tree"); return 1; }
    tree=$(cd "$tree" && pwd -P)
    mv=$(tree_major "$tree") || { log "$tree: cannot read version_info"; return 1; }
    major=${mv%% *}; series=${mv##* }
    if [ -f "$tree/odoo-bin" ]; then
        layout=root; launcher=odoo-bin
    elif [ -f "$tree/setup/odoo" ]; then
        layout=sdist; launcher=setup/odoo
    else
        log "$tree: neither odoo-bin nor setup/odoo"; SUMMARIES+=("odoo $series: unknown layout"); return 1
    fi
    log "odoo $series ($layout layout) at $tree"

    py=$(find_python "$tree" "$major") || { SUMMARIES+=("odoo $series: no Python environment"); return 1; }
    log "python: $py"
    install_convapi "$py" || { SUMMARIES+=("odoo $series: convapi could not be built/installed"); return 1; }
    ensure_postgres "$py" || { SUMMARIES+=("odoo $series: PostgreSQL not reachable"); return 1; }

    root=$tree
    if [ "$COMMUNITY_ONLY" = 1 ] && [ -n "$(enterprise_modules "$tree/odoo/addons"; enterprise_modules "$tree/addons")" ]; then
        view=$(community_view "$tree" "$major" "$launcher" "$py") || { SUMMARIES+=("odoo $series: view failed"); return 1; }
        root=$view
    fi
    [ -d "$root/addons" ] && addons_path+=("$root/addons")
    addons_path+=("$root/odoo/addons" "$ADDON_DIR")
    ap=$(IFS=,; printf '%s' "${addons_path[*]}")

    # Demo data: on by default up to 18 (--without-demo turns it off), off by default from 19 on.
    [ "$major" -ge 19 ] 2>/dev/null && demo_args=(--with-demo)
    # shellcheck disable=SC2206
    [ -n "${ODOO_EXTRA_ARGS:-}" ] && extra=(${ODOO_EXTRA_ARGS})

    port=$(free_port "$py")
    db="convapi_test_${major}_$(date +%Y%m%d%H%M%S)_$$"
    work=$(mktemp -d "${TMPDIR:-/tmp}/odoo-run.XXXXXX"); CLEANUP_DIRS+=("$work")
    printf '[options]\n' > "$work/odoo.conf"
    logf=$LOG_DIR/odoo-$series-$ADDON_NAME.log
    log "database $db, http 127.0.0.1:$port, log $logf"
    start=$(date +%s)
    (
        cd "$work" && PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" timeout "$TIMEOUT" \
        "$py" "$root/$launcher" -c "$work/odoo.conf" --data-dir "$work/data" \
            --addons-path "$ap" -d "$db" -i "$ADDON_NAME" "${demo_args[@]}" \
            --test-enable --test-tags "$TEST_TAGS" --stop-after-init \
            --http-interface 127.0.0.1 --http-port "$port" --max-cron-threads 0 \
            --db_host "$DB_HOST" --db_port "$DB_PORT" --db_user "$DB_USER" --db_password "$DB_PASSWORD" \
            --screenshots "$LOG_DIR/screenshots" --log-level info "${extra[@]}"
    ) > "$logf" 2>&1
    rc=$?
    elapsed=$(( $(date +%s) - start ))

    summary=$(grep -oE '[0-9]+ failed, [0-9]+ error\(s\) of [0-9]+ tests when loading database' "$logf" | tail -n 1)
    if [ -n "$summary" ]; then
        read -r failed errors tests <<< "$(sed -E 's/^([0-9]+) failed, ([0-9]+) error\(s\) of ([0-9]+) tests.*/\1 \2 \3/' <<< "$summary")"
    else
        reasons+=("no test summary in the log")
    fi
    nerr=$(grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:,]+ [0-9]+ (ERROR|CRITICAL) ' "$logf")
    nfail=$(grep -cE '^(FAIL|ERROR): ' "$logf")
    state=$(pg_query "$py" "$db" "SELECT state FROM ir_module_module WHERE name = '$ADDON_NAME'" 2>/dev/null | head -n 1)

    [ "$rc" -eq 124 ] && reasons+=("timed out after ${TIMEOUT}s")
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && reasons+=("odoo exited with $rc")
    [ "$state" = installed ] || reasons+=("module $ADDON_NAME not installed (state: ${state:-none})")
    [ "$failed" -gt 0 ] && reasons+=("$failed failed")
    [ "$errors" -gt 0 ] && reasons+=("$errors error(s)")
    [ "$tests" -eq 0 ] && reasons+=("no test ran")
    [ "$nerr" -gt 0 ] && reasons+=("$nerr ERROR log line(s)")
    [ "$nfail" -gt 0 ] && [ "$failed" -eq 0 ] && [ "$errors" -eq 0 ] && reasons+=("$nfail FAIL/ERROR report(s)")

    if [ "$KEEP_DB" = 1 ]; then
        log "kept database $db"
    else
        pg_query "$py" postgres "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" > /dev/null 2>&1 \
            || log "could not drop database $db"
    fi

    local line="odoo $series: $tests tests, $failed failed, $errors errors (${elapsed}s)"
    if [ "${#reasons[@]}" -eq 0 ]; then
        TOTAL_PASSED=$(( TOTAL_PASSED + tests ))
        SUMMARIES+=("$line")
        printf '%s\n' "$line"
        return 0
    fi
    TOTAL_PASSED=$(( TOTAL_PASSED + tests - failed - errors ))
    TOTAL_FAILED=$(( TOTAL_FAILED + (failed + errors > 0 ? failed + errors : 1) ))
    line="$line: FAILED ($(IFS=';'; printf '%s' "${reasons[*]}" | sed 's/;/; /g'))"
    SUMMARIES+=("$line")
    {
        printf '%s\n' "----- odoo $series: ERROR lines -----"
        grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:,]+ [0-9]+ (ERROR|CRITICAL) ' "$logf" | cut -c1-400 | head -n 30
        printf '%s\n' "----- odoo $series: last 80 log lines ($logf) -----"
        tail -n 80 "$logf"
        printf '%s\n' "-----"
    } >&2
    printf '%s\n' "$line"
    return 1
}

# ---------------------------------------------------------------------------------------------------

status=0
IFS=: read -r -a TREES <<< "$ODOO_TREE"
for t in "${TREES[@]}"; do
    [ -n "$t" ] || continue
    run_tree "$t" || status=1
done
log "logs in $LOG_DIR"
printf '%s\n' "===== odoo addon tests ($ADDON_NAME) ====="
printf '%s\n' "${SUMMARIES[@]}"
printf 'odoo: %d passed, %d failed\n' "$TOTAL_PASSED" "$TOTAL_FAILED"
exit "$status"
