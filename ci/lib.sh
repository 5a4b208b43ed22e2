# Shared helpers of the ci/ scripts: each installs what a step needs when a
# fresh machine lacks it, and says so. Source it: `. ci/lib.sh`.

# apt_install PACKAGE [APT-GET-INSTALL-FLAGS...]: install a Debian package
# (after refreshing the package lists), quietly.
apt_install() {
    local pkg=$1 sudo=""
    shift
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" "$pkg" >/dev/null
}

# need COMMAND DEBIAN-PACKAGE [APT-GET-INSTALL-FLAGS...]: install the package
# when the command is missing.
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "installing $2 (for $1)"
    apt_install "$2" "${@:3}"
    command -v "$1" >/dev/null 2>&1 || {
        echo "$2 is needed (for $1) and could not be installed" >&2
        return 1
    }
}

# need_toolchain NAME: a rustup toolchain (minimal profile).
need_toolchain() {
    rustup run "$1" rustc --version >/dev/null 2>&1 && return 0
    echo "installing the $1 toolchain"
    rustup toolchain install "$1" --profile minimal
}

# need_target TARGET [TOOLCHAIN]: the standard library of a target.
need_target() {
    local tc=${2:-stable}
    rustup target list --installed --toolchain "$tc" | grep -qx "$1" && return 0
    echo "adding target $1 ($tc)"
    rustup target add --toolchain "$tc" "$1"
}

# need_component COMPONENT TOOLCHAIN: a rustup component (miri, rust-src...).
need_component() {
    rustup component list --installed --toolchain "$2" | grep -q "^$1" && return 0
    echo "adding component $1 ($2)"
    rustup component add --toolchain "$2" "$1"
}

# need_cargo_tool BINARY CRATE [VERSION]: a cargo subcommand or tool from
# crates.io, installed with --locked.
need_cargo_tool() {
    local bin=$1 crate=$2 version=${3:-}
    if command -v "$bin" >/dev/null 2>&1; then
        [ -z "$version" ] && return 0
        "$bin" --version 2>/dev/null | grep -q "$version" && return 0
    fi
    echo "installing $crate${version:+ $version}"
    cargo install --locked "$crate" ${version:+--version "$version"}
}
