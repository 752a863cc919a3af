# Sourced by the other scripts: where builds go, and the one-time setup of a
# fresh machine (the wasm32-wasip2 target, nginx for the tests and the demo).

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
    local pid="$1"
    kill -QUIT "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
}
