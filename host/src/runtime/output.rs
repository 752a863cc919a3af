//! The guest's stdout and stderr: each line goes to the log, tagged with the
//! user, and the last few stderr lines are kept so that a trap caused by a
//! panic can name the panic's message.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// The most stderr kept, in bytes: a panic's location and message.
const TAIL: usize = 400;

#[derive(Clone)]
pub struct GuestOutput {
    user: u32,
    stream: &'static str,
    /// The last lines written to stderr, shared with the user's state.
    tail: Arc<Mutex<String>>,
}

impl GuestOutput {
    pub fn new(user: u32, stream: &'static str, tail: Arc<Mutex<String>>) -> Self {
        Self { user, stream, tail }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let text = String::from_utf8_lossy(buf);
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            tracing::info!(vu = self.user, stream = self.stream, "{line}");
            // Rust's panic hook ends with a hint that says nothing here.
            if self.stream == "stderr" && !line.starts_with("note: run with `RUST_BACKTRACE") {
                let mut tail = self
                    .tail
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if !tail.is_empty() {
                    tail.push(' ');
                }
                tail.push_str(line.trim());
                if tail.len() > TAIL {
                    let mut start = tail.len() - TAIL;
                    while !tail.is_char_boundary(start) {
                        start += 1;
                    }
                    tail.drain(..start);
                }
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
