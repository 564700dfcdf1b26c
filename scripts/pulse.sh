#!/usr/bin/env bash
# A PulseAudio daemon with a null sink whose monitor is the default source, for the end-to-end capture test:
# audio played into the sink (paplay) comes back through PortAudio's default input.
#   bash scripts/pulse.sh start   # prints nothing on success; XDG_RUNTIME_DIR must match the test's
#   bash scripts/pulse.sh stop    # stops the daemon this script started (by its pid)
set -euo pipefail
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/serapp-pulse-$(id -u)}"
PIDFILE="$XDG_RUNTIME_DIR/serapp-pulse.pid"
SINK=serapp_null

start() {
  mkdir -p "$XDG_RUNTIME_DIR"
  chmod 700 "$XDG_RUNTIME_DIR"
  if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "pulse.sh: daemon already running (pid $(cat "$PIDFILE"))"
    return 0
  fi
  # -n: no default.pa (no hardware probing); the modules below are all it needs.
  pulseaudio -n --daemonize=no --exit-idle-time=-1 --disallow-exit --use-pid-file=no \
    --load="module-native-protocol-unix" \
    --load="module-null-sink sink_name=$SINK rate=48000" \
    --log-target=file:"$XDG_RUNTIME_DIR/pulse.log" >/dev/null 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 50); do
    if pactl info >/dev/null 2>&1; then
      pactl set-default-sink "$SINK"
      pactl set-default-source "$SINK.monitor"
      return 0
    fi
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break
    sleep 0.1
  done
  echo "pulse.sh: the PulseAudio daemon did not start; see $XDG_RUNTIME_DIR/pulse.log" >&2
  stop
  return 1
}

stop() {
  [[ -f "$PIDFILE" ]] || return 0
  pid="$(cat "$PIDFILE")"
  rm -f "$PIDFILE"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
