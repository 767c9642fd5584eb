#!/usr/bin/env bash
# One image for every process: `docker run IMAGE web` runs the Procfile's `web` line (release, listener,
# worker, beat, flower likewise), so Docker and the PaaS run exactly the same commands.
# Anything else is executed as given (e.g. `python manage.py createsuperuser`).
set -euo pipefail
cd "$(dirname "$0")/.."  # /app in the image
if [ $# -ge 1 ] && grep -q "^$1:" Procfile; then
  command=$(sed -n "s/^$1: *//p" Procfile)
  exec bash -c "exec ${command}"
fi
exec "$@"
