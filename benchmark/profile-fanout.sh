#!/usr/bin/env bash
# profile-echo.sh for fan-out (1 publisher, SUBS subscribers): figures per delivery.
# Usage: benchmark/profile-fanout.sh rsws|uws SUBS SIZE [record]
MODE=fanout exec "$(dirname "$0")/profile-echo.sh" "$@"
