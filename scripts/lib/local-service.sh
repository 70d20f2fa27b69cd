# Sourced by scripts that run the service on loopback for a measurement (eval-davis,
# speed-series): start it on free ports, wait until every model is ready, stop it.
# The caller builds src/SineGrpc.Server and src/SineGrpc.Client (Release) first and
# removes its work folder itself; stop_service is safe to call twice (put it in a trap).

server_pid=""
server_url=""
metrics_port=""
# What starts the service: the built server; scripts/check-serve puts the README's
# scripts/serve here (which installs, builds, then execs the same server).
service_command=(dotnet src/SineGrpc.Server/bin/Release/net10.0/SineGrpc.Server.dll)

sine() { dotnet src/SineGrpc.Client/bin/Release/net10.0/sine.dll "$@"; }

# A free loopback port: one nothing answers on (bash's /dev/tcp connects, or fails).
free_port() {
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "no free loopback port found" >&2
  return 1
}

# start_service <log file> <server settings>...: starts the service and waits until
# `sine models` answers (it gets UNAVAILABLE until every model is loaded and warmed up).
start_service() {
  local log=$1 grpc_port
  shift
  grpc_port=$(free_port)
  metrics_port=$(free_port)
  server_url="http://127.0.0.1:$grpc_port"
  "${service_command[@]}" \
    "--Kestrel:Endpoints:Grpc:Url=$server_url" \
    "--Kestrel:Endpoints:Metrics:Url=http://127.0.0.1:$metrics_port" "$@" >"$log" 2>&1 &
  server_pid=$!
  echo "waiting for the service at $server_url" >&2
  for i in $(seq 1 300); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "the service exited during start-up:" >&2
      tail -n 30 "$log" >&2
      return 1
    fi
    if sine models --server "$server_url" >/dev/null 2>&1; then
      return 0
    fi
    if [ "$i" -eq 300 ]; then
      echo "the service was not ready after 300 s" >&2
      tail -n 30 "$log" >&2
      return 1
    fi
    sleep 1
  done
}

# The service's Prometheus page, over bash's /dev/tcp (HTTP/1.0: the server closes the
# connection when done), so no curl is needed.
scrape_metrics() {
  exec 3<>"/dev/tcp/127.0.0.1/$metrics_port"
  printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n' "$metrics_port" >&3
  cat <&3
  exec 3<&-
}

stop_service() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
