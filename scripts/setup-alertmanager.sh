#!/usr/bin/env bash
# Idempotently install Debian's prometheus-alertmanager for the e2e tests, leave its service stopped, print the binary path.
set -euo pipefail

pkg=prometheus-alertmanager
bin=/usr/bin/prometheus-alertmanager
export DEBIAN_FRONTEND=noninteractive

if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' && [[ -x "$bin" ]]; then
    echo "setup-alertmanager: $pkg already installed ($(dpkg-query -W -f='${Version}' "$pkg"))" >&2
else
    echo "setup-alertmanager: installing $pkg" >&2
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "$pkg" >&2
fi
[[ -x "$bin" ]] || { echo "setup-alertmanager: $bin missing after install" >&2; exit 1; }

# The package's postinst may start the Debian service (systemd unit or sysv init script, running as
# user 'prometheus' on :9093). The tests run their own instances, so stop it, and make sure it is gone.
if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl stop "$pkg.service" >/dev/null 2>&1 || true
    systemctl disable "$pkg.service" >/dev/null 2>&1 || true
elif [[ -x /etc/init.d/$pkg ]]; then
    /etc/init.d/"$pkg" stop >/dev/null 2>&1 || true
fi

service_pids() { # live processes of $bin run by the Debian service (user prometheus); never our own test ones
    local p uid
    for p in /proc/[0-9]*; do
        [[ "$(readlink "$p/exe" 2>/dev/null)" == "$bin" ]] || continue
        uid="$(awk '/^Uid:/ {print $2}' "$p/status" 2>/dev/null)" || continue
        if [[ "$uid" == "$(id -u prometheus 2>/dev/null || echo none)" ]]; then echo "${p#/proc/}"; fi
    done
}
pids="$(service_pids)"
if [[ -n "$pids" ]]; then
    echo "setup-alertmanager: killing Debian service process(es): $pids" >&2
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
    for _ in $(seq 50); do [[ -z "$(service_pids)" ]] && break; sleep 0.1; done
    pids="$(service_pids)"
    # shellcheck disable=SC2086
    if [[ -n "$pids" ]]; then kill -9 $pids 2>/dev/null || true; fi
fi
rm -f "/run/prometheus/$pkg.pid"

if command -v ss >/dev/null 2>&1 && ss -Hltn 'sport = :9093' 2>/dev/null | grep -q .; then
    echo "setup-alertmanager: warning: something still listens on port 9093" >&2
fi
echo "$bin"
