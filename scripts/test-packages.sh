#!/usr/bin/env bash
# The Debian packages the tests need beyond Python's: Chromium (the browser test, driven by Playwright;
# never `playwright install`), iproute2 (network-namespace hosts), iptables-legacy and
# libnetfilter-queue-dev (the fleet test's packet delayer where the kernel has no `tc netem`).
# As root with apt-get: installs what is missing (`make install` and .ci/run both call this).
# Otherwise: says what is missing and which tests will skip for it, and succeeds.
set -u
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v iptables-legacy >/dev/null 2>&1 || missing+=(iptables)
[ -e /usr/include/libnetfilter_queue/libnetfilter_queue.h ] || missing+=(libnetfilter-queue-dev)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing the tests' Debian packages: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null && exit 0
  echo "cacheswarm: apt-get could not install ${missing[*]}; the tests that need them will be skipped" >&2
  exit 0
fi
echo "cacheswarm: not installed: ${missing[*]} (install them with apt-get as root); until then the browser" \
     "test and the network-namespace fleet test skip what needs them" >&2
exit 0
