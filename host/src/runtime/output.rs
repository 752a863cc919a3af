//! The guest's stdout and stderr: each distinct line goes to the log once,
//! tagged with the user (repeats only at debug level, so a panic in every
//! task does not flood the log), and the last few stderr lines are kept so that a trap caused by a
//! panic can name the panic's message.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use super::vu::RunContext;

/// The most stderr kept, in bytes: a panic's location and message.
const TAIL: usize = 400;

#[derive(Clone)]
pub struct GuestOutput {
    run: Arc<RunContext>,
    user: u32,
    stream: &'static str,
    /// The last lines written to stderr, shared with the user's state.
    tail: Arc<Mutex<String>>,
}

impl GuestOutput {
    pub fn new(
        run: Arc<RunContext>,
        user: u32,
        stream: &'static str,
        tail: Arc<Mutex<String>>,
    ) -> Self {
        Self {
            run,
            user,
            stream,
            tail,
        }
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
        // Rust's panic hook ends with a hint that says nothing here.
        let useful = |line: &&str| {
            !line.trim().is_empty() && !line.starts_with("note: run with `RUST_BACKTRACE")
        };
        for line in text.lines().filter(useful) {
            if self.run.first_output(line) {
                tracing::info!(vu = self.user, stream = self.stream, "{line}");
            } else {
                tracing::debug!(vu = self.user, stream = self.stream, "{line}");
            }
            if self.stream == "stderr" {
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
