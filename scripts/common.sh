# Sourced by the other scripts: where builds go, and the one-time setup of a
# fresh machine (the wasm32-wasip2 target; nginx for the tests and benchmarks).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# One target folder outside the clone, so a fresh clone (CI's) reuses what
# an earlier build on this machine compiled; wasmtime alone takes minutes.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/throng/target}"
THRONG="$CARGO_TARGET_DIR/release/throng"

say() { printf '\n==> %s\n' "$*" >&2; }

setup() {
    if ! rustup target list --installed | grep -qx wasm32-wasip2; then
        say "installing the wasm32-wasip2 target"
        rustup target add wasm32-wasip2
    fi
}

# Builds the binaries, throng and origin-api, in release. It builds the
# whole workspace's: built alone, throng's dependencies get other features
# and wasmtime compiles a second time beside the tests' build.
build_binaries() {
    say "building throng and origin-api (release; the first build compiles wasmtime, about 10 minutes)"
    cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" --workspace --bins
}

# nginx, for the tests and the benchmarks.
setup_nginx() {
    if [ ! -x /usr/sbin/nginx ]; then
        say "installing nginx (Debian's nginx-light)"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx-light >/dev/null
    fi
}

# Starts nginx in the foreground of a background job, with its own config
# in folder $1 on 127.0.0.1:$2, serving `/` and `/about`. Prints its pid.
# An optional $3 sets worker_connections (default 4096) and raises the
# worker's open-file limit to twice that, or to the hard limit if lower.
start_nginx() {
    local dir="$1" port="$2" connections="${3:-4096}" rlimit=""
    if [ -n "${3:-}" ]; then
        local files=$((2 * connections)) hard
        hard="$(ulimit -Hn)"
        [ "$hard" = unlimited ] || [ "$files" -le "$hard" ] || files="$hard"
        rlimit="worker_rlimit_nofile $files;"
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port on 127.0.0.1 is already in use; choose another" >&2
        return 1
    fi
    mkdir -p "$dir/www"
    echo "hello from nginx" >"$dir/www/index.html"
    echo "about this stand-in" >"$dir/www/about"
    # Workers run as an unprivileged user when started as root.
    chmod 755 "$dir" "$dir/www"
    chmod 644 "$dir/www/index.html" "$dir/www/about"
    cat >"$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
$rlimit
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections $connections; }
http {
  access_log $dir/access.log;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port;
    root $dir/www;
    # Files under /trickle/ are sent at 200 bytes a second (bench/streams).
    location /trickle/ { limit_rate 200; }
  }
}
CONF
    # nginx must not hold the caller's stdout: callers read the pid from it.
    /usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" </dev/null >"$dir/nginx.out" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "nginx did not start: $(cat "$dir/nginx.out" "$dir/error.log" 2>/dev/null)" >&2
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$pid"
            return
        fi
        sleep 0.05
    done
    echo "nginx did not start; see $dir/error.log" >&2
    return 1
}

# Stops the nginx that start_nginx started (SIGQUIT stops its workers too)
# and waits until it is gone.
stop_nginx() {
    stop_and_wait "$1" QUIT
}

# Sends signal $2 to process $1, one of ours, and waits up to 5 s for it to
# end.
stop_and_wait() {
    local pid="$1" signal="$2"
    kill "-$signal" "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
}

# Starts origin-api (built already) on 127.0.0.1:$2 with its output in
# folder $1 and any further arguments as its flags; waits until it listens
# and prints its pid.
start_origin_api() {
    local dir="$1" port="$2"
    shift 2
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port on 127.0.0.1 is already in use; choose another" >&2
        return 1
    fi
    # In a session of its own, so that Ctrl-C on the terminal reaches only
    # throng: origin-api must serve until throng's stop has finished.
    setsid "$CARGO_TARGET_DIR/release/origin-api" --port "$port" "$@" \
        </dev/null >"$dir/origin-api.out" 2>"$dir/origin-api.err" &
    local pid=$!
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "origin-api did not start: $(cat "$dir/origin-api.err")" >&2
            return 1
        fi
        if grep -q "listening on" "$dir/origin-api.out"; then
            echo "$pid"
            return
        fi
        sleep 0.05
    done
    echo "origin-api did not start listening; see $dir/origin-api.err" >&2
    return 1
}

# Stops the origin-api that start_origin_api started and waits until it is
# gone (it prints what it saw to its stderr as it stops).
stop_origin_api() {
    stop_and_wait "$1" TERM
}
