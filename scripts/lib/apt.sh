# Sourced by the scripts that install what they need from apt (install-deps, install-helm,
# tools/export/check-fidelity, examples/python/check): one way to ask apt, with sudo when
# not root, and a line saying what is being installed and for whom.

# have_package <name>: the Debian package is installed.
have_package() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# apt_install <who> [package...]: installs the packages; nothing when none are given.
apt_install() {
  local who=$1 sudo=""
  shift
  [ $# -gt 0 ] || return 0
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "$who: installing $*" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# apt_install_missing <who> package...: installs those not installed yet.
apt_install_missing() {
  local who=$1 pkg
  local need=()
  shift
  for pkg in "$@"; do
    have_package "$pkg" || need+=("$pkg")
  done
  apt_install "$who" "${need[@]}"
}
