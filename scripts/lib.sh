# Shared by the project's scripts: install what a fresh machine lacks.

step() { printf '\n==> %s\n' "$*"; }

# The folder holding the build cache (CARGO_TARGET_DIR), where the tools the
# scripts install live too; absolute, since tests run them from their own folders.
beside_build_cache() {
    local target="${CARGO_TARGET_DIR:-$HOME/.cache/sparks/target}"
    mkdir -p "$target" && (cd "$target/.." && pwd)
}

# Keeps room on the build cache's disk. Every variant of a test binary cargo
# ever linked stays in target/debug/deps (about 280 MB each); when the disk
# fills, the linker dies with SIGBUS halfway through the suite. Below
# SPARKS_MIN_FREE_GIB (default 20) free, the older variants go (the two
# newest of each name stay); if that is not enough, the debug build goes.
ensure_disk_room() {
    local target="${CARGO_TARGET_DIR:-$HOME/.cache/sparks/target}"
    local min_gib="${SPARKS_MIN_FREE_GIB:-20}"
    free_gib() { df -P -k "$target" | awk 'NR == 2 { print int($4 / 1048576) }'; }
    mkdir -p "$target"
    [ "$(free_gib)" -ge "$min_gib" ] && return 0
    step "only $(free_gib) GiB free beside $target: removing older test binaries"
    local deps="$target/debug/deps"
    if [ -d "$deps" ]; then
        find "$deps" -maxdepth 1 -type f -perm -u+x ! -name '*.so' -printf '%T@ %f\n' |
            awk '{ name = $2; sub(/-[0-9a-f]+$/, "", name); print name, $1, $2 }' |
            sort -k1,1 -k2,2gr |
            awk 'seen[$1]++ >= 2 { print $3 }' |
            while read -r file; do rm -f "$deps/$file" "$deps/$file.d"; done
    fi
    [ "$(free_gib)" -ge "$min_gib" ] && return 0
    step "still only $(free_gib) GiB free: removing the debug build (the next build is a cold one)"
    rm -rf "$target/debug"
}

# Installs a Debian package when one of its commands is missing.
apt_install_if_missing() {
    local command=$1 package=$2
    if command -v "$command" >/dev/null 2>&1; then return 0; fi
    step "installing $package (missing $command)"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$package"
}

ensure_build_tools() {
    command -v cargo >/dev/null 2>&1 || { echo "cargo (Rust 1.95) is required" >&2; exit 1; }
    apt_install_if_missing cc build-essential
    apt_install_if_missing pkg-config pkg-config
    local installed
    installed=$(rustup component list --installed 2>/dev/null || true)
    for component in clippy rustfmt; do
        if ! grep -q "^$component" <<<"$installed"; then
            step "installing rust component $component"
            rustup component add "$component"
        fi
    done
}

# PostgreSQL server binaries (initdb, postgres): tests, benchmarks and the demo
# start their own private server with them (sparks-pglocal).
ensure_postgres() {
    if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1; then
        return 0
    fi
    step "installing postgresql (server binaries missing)"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql
}

# A crates.io binary, pinned, when its command is missing. Cargo's bin
# directory goes on PATH first, so an earlier install is found, not redone.
cargo_install_if_missing() {
    local command=$1 crate=$2 version=$3
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    if command -v "$command" >/dev/null 2>&1; then return 0; fi
    step "installing $crate $version from crates.io (missing $command)"
    cargo install --locked "$crate" --version "=$version"
}

# A Python venv (in the build cache, outside the clone) with the pinned
# tools of scripts/requirements.txt; prints nothing, sets SPARKS_VENV.
ensure_python_tools() {
    export SPARKS_VENV="${SPARKS_VENV:-$(beside_build_cache)/venv}"
    local stamp="$SPARKS_VENV/.requirements"
    if [ -f "$stamp" ] && cmp -s scripts/requirements.txt "$stamp"; then return 0; fi
    step "installing the Python test tools in $SPARKS_VENV"
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
        apt_install_if_missing python3 python3
        if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv
    fi
    rm -rf "$SPARKS_VENV"
    python3 -m venv "$SPARKS_VENV"
    "$SPARKS_VENV/bin/pip" install -q --disable-pip-version-check -r scripts/requirements.txt
    cp scripts/requirements.txt "$stamp"
}

# The project's Node packages (the TypeScript client, the settings page and
# their tools; one npm workspace at the root), exactly as the committed
# lockfile pins them (reinstalled when the lockfile changes).
ensure_node_packages() {
    ensure_node
    if [ -f node_modules/.package-lock.json ] && cmp -s package-lock.json node_modules/.sparks-lock; then
        return 0
    fi
    step "installing the Node packages (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.sparks-lock
}

# Node for the TypeScript tools: Vite needs ^20.19 or >= 22.12, and Debian's
# own nodejs is 18. Without a recent enough one, the official binary comes
# from the npm registry (node-linux-<arch>), kept beside the build cache and
# put first on PATH for this run.
SPARKS_NODE_VERSION=20.20.2
ensure_node() {
    apt_install_if_missing node nodejs
    apt_install_if_missing npm npm
    if node -e 'const [a, b] = process.versions.node.split(".").map(Number);
                process.exit(a > 22 || (a === 22 && b >= 12) || (a === 20 && b >= 19) ? 0 : 1)'; then
        return 0
    fi
    local arch
    case "$(uname -m)" in
        x86_64) arch=x64 ;;
        aarch64 | arm64) arch=arm64 ;;
        *) echo "no Node binary for $(uname -m) in the npm registry; install Node >= 20.19" >&2; return 1 ;;
    esac
    local dir
    dir="$(beside_build_cache)/node-$SPARKS_NODE_VERSION"
    if [ ! -x "$dir/node_modules/node-linux-$arch/bin/node" ]; then
        step "installing Node $SPARKS_NODE_VERSION from the npm registry (this machine has $(node --version))"
        npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "node-linux-$arch@$SPARKS_NODE_VERSION"
    fi
    export PATH="$dir/node_modules/node-linux-$arch/bin:$PATH"
    node --version >/dev/null
}
