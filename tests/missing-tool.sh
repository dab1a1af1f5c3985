#!/bin/sh
# Stands in for a test tool that was not found at configure time: the test fails, saying what to install,
# instead of silently not being registered. Usage: missing-tool.sh TOOL PACKAGE
echo "$1 was not found when the build was configured: install $2 (tools/install-deps.sh --test), then reconfigure" >&2
exit 1
