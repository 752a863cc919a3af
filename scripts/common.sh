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
start_nginx() {
    local dir="$1" port="$2"
    mkdir -p "$dir/www"
    echo "hello from nginx" >"$dir/www/index.html"
    echo "about this stand-in" >"$dir/www/about"
    cat >"$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
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
    /usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" &
    local pid=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$pid"
            return
        fi
        sleep 0.05
    done
    echo "nginx did not start; see $dir/error.log" >&2
    return 1
}
