#!/bin/sh
# Runs a UI test under its own X server (and D-Bus session) unless one is already given.
if [ -n "$DISPLAY" ]; then
  exec "$@"
fi
if ! command -v xvfb-run >/dev/null 2>&1; then
  echo "Bail out! no display and xvfb-run is not installed: install xvfb and xauth (tools/install-deps.sh --test)"
  exit 1
fi
if command -v dbus-run-session >/dev/null 2>&1 && [ -z "$DBUS_SESSION_BUS_ADDRESS" ]; then
  exec dbus-run-session -- xvfb-run -a -s '-screen 0 1280x800x24' "$@"
fi
exec xvfb-run -a -s '-screen 0 1280x800x24' "$@"
