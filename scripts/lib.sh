# Shared by scripts/demo and scripts/test: install Debian packages that are missing.
# Usage: ensure_packages pkg...   (uses sudo when not root; quiet when all are present)

ensure_packages() {
    missing=""
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing="$missing $pkg"
        fi
    done
    [ -z "$missing" ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "relaylab: please install:$missing (no apt-get on this machine)" >&2
        return 1
    fi
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    echo "relaylab: installing:$missing" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
}

# ucspi-tcp-ipv6 conflicts with ucspi-tcp, so its programs are unpacked (not installed) into
# .tools/ucspi-tcp-ipv6 for the IPv6 differential tests. Prints nothing; failures only skip tests.
unpack_ucspi_ipv6() {
    dest="$1/.tools/ucspi-tcp-ipv6"
    [ -x "$dest/usr/bin/tcprulescheck" ] && return 0
    tmp=$(mktemp -d) || return 0
    (cd "$tmp" && apt-get download ucspi-tcp-ipv6 >/dev/null 2>&1) || { rm -rf "$tmp"; return 0; }
    mkdir -p "$dest" && dpkg -x "$tmp"/ucspi-tcp-ipv6_*.deb "$dest" 2>/dev/null
    rm -rf "$tmp"
    return 0
}
