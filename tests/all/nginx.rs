//! Against a real third-party server: nginx from Debian, started here with
//! its own configuration on a loopback port. throng's count must equal the
//! lines of nginx's access log.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{as_u64, closed_port, run_ok};

const NGINX: &str = "/usr/sbin/nginx";

struct Nginx {
    child: Child,
}

impl Drop for Nginx {
    /// SIGQUIT makes the master stop its workers too; SIGKILL would leave
    /// them running.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-QUIT", &pid]).status();
        let _ = self.child.wait();
    }
}

fn start_nginx(dir: &Path, port: u16) -> Nginx {
    assert!(
        Path::new(NGINX).exists(),
        "nginx is not installed: run .ci/run or `apt-get install nginx-light`"
    );
    let d = dir.display();
    let config = format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
           server {{\n    listen 127.0.0.1:{port};\n    location / {{ return 200 \"ok\\n\"; }}\n  }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), config).unwrap();
    let child = Command::new(NGINX)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let nginx = Nginx { child };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nginx did not start: {:?}",
            std::fs::read_to_string(dir.join("error.log"))
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    nginx
}

#[test]
fn counts_match_nginx_access_log() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let nginx = start_nginx(dir.path(), port);
    let host = format!("http://127.0.0.1:{port}");
    let run = run_ok(
        "fetch",
        &host,
        &["-u", "10", "-t", "4s", "--var", "wait_ms=10"],
    );
    drop(nginx);

    let log = std::fs::read_to_string(dir.path().join("access.log")).unwrap();
    let lines = log
        .lines()
        .filter(|line| line.contains("\"GET / HTTP/1.1\" 200"))
        .count() as u64;
    let reported = as_u64(&run.request("/")["count"]);
    assert!(reported > 100, "only {reported} requests");
    assert_eq!(
        reported, lines,
        "throng reported {reported}, nginx logged {lines}"
    );
}
