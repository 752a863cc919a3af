//! Streamed responses (`open` and the `body-stream` resource): the body is
//! read by a task of its own as it arrives, so every chunk is timed when it
//! came off the connection, however slowly the guest asks for it. The task
//! also keeps the stream's timeouts and counts the stream once, when it
//! ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::FutureExt as _;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use url::Url;
use wasmtime::component::Resource;

use super::http::{
    AbortOnDrop, Failed, Head, InFlight, Prepared, Session, head, root_cause, status_failure,
};
use super::wire::Decoder;
use crate::runtime::VuState;
use crate::runtime::bindings::throng::scenario::http::{
    Error, HostBodyStream, Request, StreamError,
};
use crate::runtime::vu::RunContext;
use crate::schedule::Phase;
use crate::stats::{ErrorKind, Exchange, StreamEnd, StreamMark};

/// Bytes read ahead of the guest, at most, per stream. Up to them every
/// chunk is timed as it arrives however slowly the guest reads; past them
/// the reader waits, and the server feels the back-pressure as it would
/// from a slow client.
const READ_AHEAD: usize = 1 << 20;

/// The readers of a run's streams still going, so that the run's end can
/// wait for the streams the stop cut to be counted.
#[derive(Debug, Default)]
pub struct Readers {
    live: AtomicUsize,
    idle: Notify,
}

impl Readers {
    /// Waits, at most `bound`, until every reader has counted its stream.
    pub async fn settle(&self, bound: Duration) {
        let deadline = Instant::now() + bound;
        loop {
            let idle = self.idle.notified();
            if self.live.load(Ordering::SeqCst) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline.into(), idle)
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// Counts one reader as live while it exists.
struct Live(Arc<RunContext>);

impl Live {
    fn new(run: Arc<RunContext>) -> Self {
        run.readers.live.fetch_add(1, Ordering::SeqCst);
        Live(run)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.readers.live.fetch_sub(1, Ordering::SeqCst);
        self.0.readers.idle.notify_waiters();
    }
}

/// Bytes of the body kept to quote in a status failure's message.
const EXCERPT_BYTES: usize = 480;

/// A stream the guest holds.
pub struct BodyStream {
    status: u16,
    headers: Vec<(String, String)>,
    url: String,
    /// `None` once the stream has ended or was cancelled.
    pieces: Option<mpsc::UnboundedReceiver<Piece>>,
    /// Bytes the reader may still read ahead; the guest gives back what
    /// it takes.
    budget: Arc<Semaphore>,
    reader: Option<tokio::task::JoinHandle<()>>,
    /// Whether the body ended as it should, so later reads return `none`.
    completed: bool,
    events: EventClock,
}

/// Times the events the guest marks by the arrival of their chunks.
struct EventClock {
    run: Arc<RunContext>,
    name: String,
    method: String,
    started: Instant,
    /// When the chunk the guest got last arrived.
    last_chunk: Option<Instant>,
    last_event: Option<Instant>,
}

impl EventClock {
    fn mark(&mut self) {
        let Some(at) = self.last_chunk else {
            // No chunk yet: nothing to time the event by.
            return;
        };
        let (first, time) = match self.last_event {
            None => (true, at - self.started),
            Some(before) => (false, at.saturating_duration_since(before)),
        };
        self.last_event = Some(at);
        self.run
            .stats
            .record_stream(&self.name, &self.method, StreamMark::Event, first, time);
    }
}

/// What the reader hands the guest.
enum Piece {
    /// Decompressed bytes, and when they arrived.
    Chunk(Vec<u8>, Instant),
    End,
    Failed(StreamError),
}

/// Sends the request and waits for the headers; the body is then read by a
/// task of its own. An error before the headers is counted here.
pub(crate) async fn open(
    session: Session,
    run: Arc<RunContext>,
    prepared: Prepared,
    request: Request,
    url: Url,
    chunk_timeout: Option<Duration>,
) -> Result<BodyStream, Error> {
    let Prepared { name, method, .. } = &prepared;
    let mut flight = InFlight::new(&run.stats, name, method);
    let started = Instant::now();
    let deadline = started + prepared.timeout;
    let (head_tx, head_rx) = oneshot::channel();
    let (piece_tx, piece_rx) = mpsc::unbounded_channel();
    let budget = Arc::new(Semaphore::new(READ_AHEAD));
    let reader = Reader {
        run: run.clone(),
        name: name.clone(),
        method: method.clone(),
        expected_statuses: prepared.expected_statuses.clone(),
        started,
        deadline,
        chunk_timeout,
        corrected_from: prepared.corrects.then(|| prepared.due.unwrap_or(started)),
        pieces: piece_tx,
        budget: budget.clone(),
        _live: Live::new(run.clone()),
    };
    let task_run = run.clone();
    let task = tokio::spawn(async move {
        let head = head(&session, &task_run, request, url);
        let head = tokio::time::timeout_at(deadline.into(), head);
        let head = match head.await {
            Ok(Ok(head)) => head,
            Ok(Err(failed)) => {
                let _ = head_tx.send(Err(failed));
                return;
            }
            Err(_) => {
                let _ = head_tx.send(Err(Failed::Timeout(prepared.timeout)));
                return;
            }
        };
        let mut head = head;
        let shown = (
            head.status,
            std::mem::take(&mut head.headers),
            head.url.to_string(),
        );
        if head_tx.send(Ok(shown)).is_err() {
            return;
        }
        reader.read(head).await;
    });
    // Until the headers arrive the task belongs to this call: dropping the
    // call (the run's stop timeout) ends it.
    let guard = AbortOnDrop::new(task);
    let answer = head_rx.await;
    let ended = Instant::now();
    flight.done = true;
    let (status, headers, url) = match answer {
        Ok(Ok(shown)) => shown,
        Ok(Err(failed)) => return Err(prepared.count_failure(&run.stats, failed, started, ended)),
        // The task ended without a word: it panicked.
        Err(_) => {
            let failed = Failed::Panicked;
            return Err(prepared.count_failure(&run.stats, failed, started, ended));
        }
    };
    let reader = guard.disarm();
    Ok(BodyStream {
        status,
        headers,
        url,
        pieces: Some(piece_rx),
        budget,
        reader,
        completed: false,
        events: EventClock {
            run: run.clone(),
            name: name.clone(),
            method: method.clone(),
            started,
            last_chunk: None,
            last_event: None,
        },
    })
}

/// The task that reads one stream's body.
struct Reader {
    run: Arc<RunContext>,
    name: String,
    method: String,
    expected_statuses: Vec<u16>,
    started: Instant,
    /// The end of the request's whole timeout.
    deadline: Instant,
    chunk_timeout: Option<Duration>,
    /// In the arrival-rate model, when the iteration was due.
    corrected_from: Option<Instant>,
    pieces: mpsc::UnboundedSender<Piece>,
    budget: Arc<Semaphore>,
    _live: Live,
}

/// How the reading ended: how to count the stream, and what the guest is
/// still to be told.
struct Ending {
    end: StreamEnd,
    at: Instant,
    failure: Option<(ErrorKind, String)>,
    /// Sent to the guest once the stream is counted.
    tell: Vec<Piece>,
}

impl Ending {
    /// The guest let go of the stream: cancelled, or cut by the run's stop
    /// timeout (`aborted`, as a request in flight then is).
    fn cancelled(run: &RunContext) -> Self {
        let failure = (*run.phase.borrow() == Phase::Aborting).then(|| {
            (
                ErrorKind::Aborted,
                "the run stopped before the stream ended".to_owned(),
            )
        });
        Ending {
            end: StreamEnd::Cancelled,
            at: Instant::now(),
            failure,
            tell: Vec::new(),
        }
    }

    fn failed(end: StreamEnd, kind: ErrorKind, error: StreamError, message: String) -> Self {
        Ending {
            end,
            at: Instant::now(),
            failure: Some((kind, message)),
            tell: vec![Piece::Failed(error)],
        }
    }

    fn timed_out(message: String) -> Self {
        let error = StreamError::Timeout(message.clone());
        Self::failed(
            StreamEnd::TimedOut,
            ErrorKind::StreamTimeout,
            error,
            message,
        )
    }

    fn cut(message: String) -> Self {
        let error = StreamError::Cut(message.clone());
        Self::failed(StreamEnd::Cut, ErrorKind::StreamCut, error, message)
    }
}

impl Reader {
    async fn read(self, head: Head) {
        let Head {
            mut response,
            status,
            mut decoder,
            connect,
            headers_at,
            ..
        } = head;
        let max_body = self.run.http.max_body;
        let whole = self.deadline - self.started;
        let mut wire_bytes = 0u64;
        let mut bytes = 0u64;
        let mut excerpt = Vec::new();
        let mut first_byte = None;
        let mut last_chunk = headers_at;
        let ending = loop {
            let mut wait_until = self.deadline;
            if let Some(chunk_timeout) = self.chunk_timeout {
                wait_until = wait_until.min(last_chunk + chunk_timeout);
            }
            let read = tokio::select! {
                biased;
                () = self.pieces.closed() => {
                    // A body whose end has already arrived ran its course,
                    // even if the guest stopped reading just before it.
                    if let Some(Ok(None)) = response.chunk().now_or_never() {
                        break Ending {
                            end: StreamEnd::Completed,
                            at: last_chunk,
                            failure: None,
                            tell: Vec::new(),
                        };
                    }
                    break Ending::cancelled(&self.run);
                }
                read = tokio::time::timeout_at(wait_until.into(), response.chunk()) => read,
            };
            let chunk = match read {
                Err(_) if wait_until < self.deadline => {
                    let chunk_timeout = self.chunk_timeout.unwrap_or_default();
                    break Ending::timed_out(format!("no chunk within {chunk_timeout:?}"));
                }
                Err(_) => {
                    break Ending::timed_out(format!("the stream outlasted its {whole:?} timeout"));
                }
                Ok(Err(err)) => {
                    let message = format!("the body was cut: {}", root_cause(&err));
                    break Ending::cut(message);
                }
                Ok(Ok(None)) => {
                    let at = Instant::now();
                    let mut tell = Vec::new();
                    match std::mem::replace(&mut decoder, Decoder::Identity).finish() {
                        Ok(rest) if rest.is_empty() => {}
                        Ok(rest) => {
                            bytes += rest.len() as u64;
                            tell.push(Piece::Chunk(rest, at));
                        }
                        // The body arrived whole but does not decode.
                        Err(message) => {
                            let error = StreamError::Cut(message.clone());
                            break Ending::failed(
                                StreamEnd::Completed,
                                ErrorKind::Transport,
                                error,
                                message,
                            );
                        }
                    }
                    tell.push(Piece::End);
                    break Ending {
                        end: StreamEnd::Completed,
                        at,
                        failure: None,
                        tell,
                    };
                }
                Ok(Ok(Some(chunk))) => chunk,
            };
            let at = Instant::now();
            let (first, time) = match first_byte {
                None => (true, at - self.started),
                Some(_) => (false, at - last_chunk),
            };
            first_byte.get_or_insert(at);
            last_chunk = at;
            self.run
                .stats
                .record_stream(&self.name, &self.method, StreamMark::Chunk, first, time);
            wire_bytes += chunk.len() as u64;
            let decoded = match decoder.push(&chunk) {
                Ok(decoded) => decoded,
                // The host stops reading what it cannot decode.
                Err(message) => {
                    let error = StreamError::Cut(message.clone());
                    break Ending::failed(
                        StreamEnd::Cancelled,
                        ErrorKind::Transport,
                        error,
                        message,
                    );
                }
            };
            bytes += decoded.len() as u64;
            if bytes > max_body || wire_bytes > max_body {
                break Ending {
                    end: StreamEnd::Cancelled,
                    at,
                    failure: Some((
                        ErrorKind::BodyTooLarge,
                        format!("body larger than {max_body} bytes"),
                    )),
                    tell: vec![Piece::Failed(StreamError::BodyTooLarge(max_body))],
                };
            }
            if excerpt.len() < EXCERPT_BYTES {
                let room = EXCERPT_BYTES - excerpt.len();
                excerpt.extend_from_slice(&decoded[..decoded.len().min(room)]);
            }
            if decoded.is_empty() {
                continue;
            }
            // Wait for the guest to read what came before, past the
            // read-ahead; a guest that lets go ends the wait.
            let size = u32::try_from(decoded.len().min(READ_AHEAD)).unwrap_or(u32::MAX);
            let room = tokio::select! {
                biased;
                () = self.pieces.closed() => break Ending::cancelled(&self.run),
                room = tokio::time::timeout_at(self.deadline.into(), self.budget.acquire_many(size)) => room,
            };
            match room {
                Ok(Ok(permit)) => permit.forget(),
                Ok(Err(_)) => break Ending::cancelled(&self.run),
                Err(_) => {
                    break Ending::timed_out(format!(
                        "the stream outlasted its {whole:?} timeout with the scenario not reading \
                         ({READ_AHEAD} bytes unread)"
                    ));
                }
            }
            if self.pieces.send(Piece::Chunk(decoded, at)).is_err() {
                break Ending::cancelled(&self.run);
            }
        };

        // A stream the guest let go of has no end to time; one the host
        // stopped (too large, undecodable) does.
        let timed = ending.end != StreamEnd::Cancelled
            || ending
                .failure
                .as_ref()
                .is_some_and(|(kind, _)| *kind != ErrorKind::Aborted);
        let elapsed = timed.then(|| ending.at - self.started);
        // A stream that ended badly fails as such; one that ran its course
        // can still fail by its status.
        let failure = ending
            .failure
            .or_else(|| status_failure(status, &self.expected_statuses, &excerpt));
        let stats = Exchange {
            elapsed,
            corrected: self
                .corrected_from
                .map(|due| ending.at.saturating_duration_since(due)),
            bytes,
            wire_bytes,
            connect,
            headers: Some(headers_at - self.started),
            first_byte: first_byte.map(|at| at - self.started),
            stream: Some(ending.end),
        };
        let failure = failure
            .as_ref()
            .map(|(kind, message)| (*kind, message.as_str()));
        self.run
            .stats
            .record_request(&self.name, &self.method, &stats, failure);
        // Counted first, told after. Sending fails once the guest lets go.
        for piece in ending.tell {
            if self.pieces.send(piece).is_err() {
                break;
            }
        }
    }
}

impl HostBodyStream for VuState {
    fn status(&mut self, stream: Resource<BodyStream>) -> u16 {
        self.touch();
        self.table.get(&stream).map_or(0, |stream| stream.status)
    }

    fn headers(&mut self, stream: Resource<BodyStream>) -> Vec<(String, String)> {
        self.touch();
        self.table
            .get(&stream)
            .map(|stream| stream.headers.clone())
            .unwrap_or_default()
    }

    fn url(&mut self, stream: Resource<BodyStream>) -> String {
        self.touch();
        self.table
            .get(&stream)
            .map(|stream| stream.url.clone())
            .unwrap_or_default()
    }

    async fn next_chunk(
        &mut self,
        stream: Resource<BodyStream>,
    ) -> Result<Option<Vec<u8>>, StreamError> {
        self.touch();
        let Ok(body) = self.table.get_mut(&stream) else {
            return Err(StreamError::Closed);
        };
        let Some(pieces) = body.pieces.as_mut() else {
            return if body.completed {
                Ok(None)
            } else {
                Err(StreamError::Closed)
            };
        };
        let piece = pieces.recv().await;
        let result = match piece {
            Some(Piece::Chunk(bytes, at)) => {
                body.events.last_chunk = Some(at);
                body.budget.add_permits(bytes.len().min(READ_AHEAD));
                Ok(Some(bytes))
            }
            Some(Piece::End) => {
                body.completed = true;
                body.pieces = None;
                Ok(None)
            }
            Some(Piece::Failed(error)) => {
                body.pieces = None;
                Err(error)
            }
            // The reader ended without a word: it failed with the channel
            // full, and its failure is already counted.
            None => {
                body.pieces = None;
                Err(StreamError::Closed)
            }
        };
        self.touch();
        result
    }

    fn mark_event(&mut self, stream: Resource<BodyStream>) {
        self.touch();
        if let Ok(body) = self.table.get_mut(&stream) {
            body.events.mark();
        }
    }

    async fn cancel(&mut self, stream: Resource<BodyStream>) {
        self.touch();
        let Ok(body) = self.table.get_mut(&stream) else {
            return;
        };
        body.pieces = None;
        // Wait for the reader to count the stream, so that a summary taken
        // right after sees it.
        if let Some(reader) = body.reader.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
        }
        self.touch();
    }

    fn drop(&mut self, stream: Resource<BodyStream>) -> wasmtime::Result<()> {
        // Dropping the receiver tells the reader to count the stream as
        // cancelled, unless it has ended already.
        self.table.delete(stream)?;
        Ok(())
    }
}
