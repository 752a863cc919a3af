//! Server-sent events read from a whole body: enough of the format
//! (`event:` and `data:` fields, comments, blank-line dispatch) to follow a
//! streamed chat reply.

/// One dispatched event.
#[derive(Debug, PartialEq, Eq)]
pub struct Event {
    /// `message` unless the server named it.
    pub event: String,
    /// The data lines, joined with newlines.
    pub data: String,
}

pub fn parse(body: &str) -> Vec<Event> {
    let mut events = Vec::new();
    let mut name = String::new();
    let mut data: Option<String> = None;
    for line in body.lines() {
        if line.is_empty() {
            if let Some(data) = data.take() {
                let event = if name.is_empty() {
                    "message".to_owned()
                } else {
                    name.clone()
                };
                events.push(Event { event, data });
            }
            name.clear();
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = value.to_owned(),
            "data" => match data.as_mut() {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            // Comments (an empty field name), `id`, `retry` and unknown fields.
            _ => {}
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_named_events_comments_and_multi_line_data() {
        let body = ": keep-alive\n\nevent: token\ndata: {\"text\": \"hi \"}\n\n\
                    data: one\r\ndata: two\r\n\r\nevent: done\ndata: {}\n\nevent: cut\ndata: x";
        let events = parse(body);
        assert_eq!(
            events,
            [
                Event {
                    event: "token".into(),
                    data: "{\"text\": \"hi \"}".into()
                },
                Event {
                    event: "message".into(),
                    data: "one\ntwo".into()
                },
                Event {
                    event: "done".into(),
                    data: "{}".into()
                },
            ]
        );
    }
}
