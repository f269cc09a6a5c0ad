# shellcheck shell=bash
# Process helpers of the local cluster (hack/cluster.sh; the local stack
# cluster (hack/cluster.sh): start a component in the background with its
# log and pid file, wait until it is ready, stop it by pid. The caller sets
# state_dir (pid files under run/, logs under logs/) and port_hint (how to
# move a component off a taken port), and defines say and die.

pidfile() { echo "$state_dir/run/$1.pid"; }

# alive PID: the process runs. A killed process whose parent is gone can
# linger as a zombie until init reaps it; that one is not running.
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "${state#Z}" = "$state" ]
}

# running NAME: the process recorded for NAME is alive.
running() {
  local f pid
  f=$(pidfile "$1")
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] && alive "$pid"
}

# port_free PORT NAME: fail with who holds PORT if it is taken.
port_free() {
  local port=$1 name=$2 holder
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    holder=$(ss -Hltnp "sport = :$port" 2>/dev/null | sed -n 's/.*users:((\("[^"]*"\),pid=\([0-9]*\).*/\1 (pid \2)/p' | head -1)
    die "port $port, needed by $name, is taken${holder:+ by $holder}. Stop it${port_hint:+, or $port_hint}."
  fi
}

# start NAME PORT CMD...: start CMD in the background with its log under
# $state_dir/logs, unless NAME already runs; PORT (on 127.0.0.1) must be
# free, or is - when there is none to check.
start() {
  local name=$1 port=$2
  shift 2
  if running "$name"; then
    say "$name is already running (pid $(cat "$(pidfile "$name")"))"
    return 0
  fi
  rm -f "$(pidfile "$name")"
  [ "$port" = - ] || port_free "$port" "$name"
  setsid "$@" >>"$state_dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
  started+=("$name")
  say "started $name (pid $!, log $state_dir/logs/$name.log)"
}

# wait_for NAME SECONDS CMD...: poll CMD until it succeeds; fail with the
# end of NAME's log if NAME exits or the time runs out.
wait_for() {
  local name=$1 timeout=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ -f "$(pidfile "$name")" ] && ! running "$name"; then
      tail -n 20 "$state_dir/logs/$name.log" >&2 || true
      die "$name exited; its log is $state_dir/logs/$name.log"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$state_dir/logs/$name.log" >&2 || true
      die "$name not ready after ${timeout}s; its log is $state_dir/logs/$name.log"
    fi
    sleep 0.2
  done
}

# stop_pid NAME: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
  local name=$1 f pid
  f=$(pidfile "$name")
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      say "killed $name (pid $pid) after 10s"
    else
      say "stopped $name (pid $pid)"
    fi
  fi
  rm -f "$f"
}
