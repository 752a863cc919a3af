//! Server-sent events, parsed as the bytes arrive: fields `event`, `data`
//! (over several lines), `id` and `retry`, comments (keep-alive lines), and
//! lines ended by `\n`, `\r\n` or `\r`, split anywhere between chunks.
//!
//! [`http::Stream::events`](crate::http::Stream::events) reads a stream
//! through this parser and has the host time every event; use [`Parser`]
//! directly to parse events from anything else.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event's type: `message` unless the server named it.
    pub event: String,
    /// The data lines, joined with newlines.
    pub data: String,
    /// The last event id the server set, on this event or before.
    pub id: Option<String>,
    /// The reconnection time the server asked for with this event, in
    /// milliseconds.
    pub retry: Option<u64>,
}

impl Event {
    /// The data parsed as JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Json`](crate::Error::Json) when the data is not JSON of
    /// that shape.
    ///
    /// ```
    /// let mut parser = throng_sdk::sse::Parser::new();
    /// let events = parser.push(b"data: {\"text\": \"hi\"}\n\n");
    /// let token: serde_json::Value = events[0].json().unwrap();
    /// assert_eq!(token["text"], "hi");
    /// ```
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> crate::Result<T> {
        serde_json::from_str(&self.data).map_err(|err| crate::Error::Json(err.to_string()))
    }
}

/// An incremental parser: feed it chunks as they come, take the events
/// each one completes.
///
/// ```
/// let mut parser = throng_sdk::sse::Parser::new();
/// assert!(parser.push(b"event: token\ndata: hel").is_empty());
/// let events = parser.push(b"lo\n\n: keep-alive\n\n");
/// assert_eq!(events.len(), 1);
/// assert_eq!((events[0].event.as_str(), events[0].data.as_str()), ("token", "hello"));
/// ```
#[derive(Debug, Default)]
pub struct Parser {
    /// The start of a line whose end has not arrived.
    line: Vec<u8>,
    /// The last chunk ended in `\r`: a `\n` starting the next one belongs
    /// to that line end.
    after_cr: bool,
    /// Whether the stream's first three bytes have been seen, so that a
    /// byte order mark is behind us.
    started: bool,
    /// The stream's first bytes, held until they show whether they are a
    /// byte order mark (which may come split across chunks).
    head: Vec<u8>,
    event: String,
    data: String,
    /// Whether any `data` field came since the last dispatch.
    has_data: bool,
    id: Option<String>,
    retry: Option<u64>,
}

impl Parser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a chunk and returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        const BOM: &[u8] = b"\xEF\xBB\xBF";
        let mut events = Vec::new();
        let head;
        let mut bytes = chunk;
        if !self.started {
            self.head.extend_from_slice(chunk);
            if self.head.len() < BOM.len() && BOM.starts_with(&self.head) {
                return events;
            }
            self.started = true;
            head = std::mem::take(&mut self.head);
            bytes = head.strip_prefix(BOM).unwrap_or(&head);
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        while let Some(end) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&bytes[..end]);
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.line_ended(&line) {
                events.push(event);
            }
            let crlf = bytes[end] == b'\r';
            bytes = &bytes[end + 1..];
            if crlf {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
        }
        self.line.extend_from_slice(bytes);
        events
    }

    fn line_ended(&mut self, line: &[u8]) -> Option<Event> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            // A comment: servers send these to keep the connection alive.
            return None;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => self.event = value.into_owned(),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"id" if !value.contains('\0') => self.id = Some(value.into_owned()),
            b"retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<Event> {
        let event = std::mem::take(&mut self.event);
        let retry = self.retry.take();
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(Event {
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data: std::mem::take(&mut self.data),
            id: self.id.clone(),
            retry,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<Event> {
        let mut parser = Parser::new();
        chunks.iter().flat_map(|chunk| parser.push(chunk)).collect()
    }

    fn event(name: &str, data: &str) -> Event {
        Event {
            event: name.into(),
            data: data.into(),
            id: None,
            retry: None,
        }
    }

    #[test]
    fn events_are_dispatched_on_blank_lines() {
        let body =
            b"event: token\ndata: Hel\n\nevent: token\ndata: lo\n\nevent: done\ndata: {}\n\n";
        assert_eq!(
            all(&[body]),
            vec![
                event("token", "Hel"),
                event("token", "lo"),
                event("done", "{}")
            ]
        );
    }

    #[test]
    fn every_split_of_a_stream_gives_the_same_events() {
        let body: &[u8] =
            b"\xEF\xBB\xBF: hi\r\nid: 7\r\nevent: a\r\ndata: one\r\ndata:two\r\n\r\ndata: x\r\rdata: y\n\n";
        let whole = all(&[body]);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].data, "one\ntwo");
        assert_eq!(whole[0].id.as_deref(), Some("7"));
        assert_eq!(
            whole[1],
            Event {
                id: Some("7".into()),
                ..event("message", "x")
            }
        );
        for cut in 0..body.len() {
            assert_eq!(all(&[&body[..cut], &body[cut..]]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(all(&bytes), whole);
    }

    #[test]
    fn comments_and_empty_events_dispatch_nothing() {
        assert!(all(&[b": keep-alive\n\n\n\nevent: x\n\n"]).is_empty());
        // The type of an event without data does not leak into the next.
        assert_eq!(
            all(&[b"event: x\n\ndata: d\n\n"]),
            vec![event("message", "d")]
        );
    }

    #[test]
    fn fields_follow_the_rules_for_their_values() {
        let events =
            all(&[b"data\ndata:  two spaces\nretry: 1500\nunknown: 1\n\nretry: x\ndata: z\n\n"]);
        assert_eq!(events[0].data, "\n two spaces");
        assert_eq!(events[0].retry, Some(1500));
        assert_eq!(events[1].retry, None);
    }

    #[test]
    fn an_unfinished_event_at_the_end_is_not_dispatched() {
        assert!(all(&[b"data: half"]).is_empty());
    }

    #[test]
    fn a_byte_order_mark_split_across_chunks_is_dropped() {
        let events = all(&[b"\xEF", b"\xBB", b"\xBFevent: first\ndata: one\n\n"]);
        assert_eq!(events, vec![event("first", "one")]);
        // Bytes that only begin like one are kept, and spoil the field.
        assert!(all(&[b"\xEF", b"data: x\n\n"]).is_empty());
        assert_eq!(all(&[b"d", b"ata: y\n\n"]), vec![event("message", "y")]);
    }
}
