//! The guest's data port: frames of base64 output, one per step (see
//! `init.sh`).

use base64::Engine as _;

use super::collect::StepOutput;
use super::guest::step_output;

/// What a guest sent back.
#[derive(Debug, Default)]
pub struct Frames {
    /// `uname -r` in the guest.
    pub release: Option<String>,
    /// Every step that started, in order, with what it left.
    pub steps: Vec<StepOutput>,
    /// The last step that started.
    pub started: Option<String>,
    /// `/init` reached its end.
    pub done: bool,
}

/// One complete frame.
struct Frame {
    name: String,
    bytes: Vec<u8>,
    status: Option<i32>,
}

/// Parses the data port's log (lines may end in `\r`; a frame cut short
/// is ignored).
pub fn parse(log: &str) -> Frames {
    let mut out = Frames::default();
    let mut started: Vec<String> = Vec::new();
    let mut frames: Vec<Frame> = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in log.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(name) = line.strip_prefix("@@inflight start ") {
            started.push(name.to_string());
        } else if let Some(name) = line.strip_prefix("@@inflight begin ") {
            open = Some((name.to_string(), String::new()));
        } else if let Some(rest) = line.strip_prefix("@@inflight end ") {
            let (name, status) = rest.rsplit_once(' ').unwrap_or((rest, ""));
            if let Some((n, b64)) = open.take().filter(|(n, _)| n == name) {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .unwrap_or_else(|e| format!("(undecodable frame: {e})").into_bytes());
                frames.push(Frame {
                    name: n,
                    bytes,
                    status: status.parse().ok(),
                });
            }
        } else if line == "@@inflight done" {
            out.done = true;
        } else if let Some((_, b64)) = open.as_mut() {
            b64.push_str(line.trim());
        }
    }
    let mut take = |name: &str| {
        frames
            .iter()
            .position(|f| f.name == name)
            .map(|i| frames.remove(i))
    };
    out.release = take("release").map(|f| String::from_utf8_lossy(&f.bytes).trim().to_string());
    for name in &started {
        let main = take(name);
        let err = take(&format!("{name}.stderr"));
        let status = main.as_ref().and_then(|f| f.status);
        out.steps.push(step_output(
            name,
            main.map(|f| f.bytes).unwrap_or_default(),
            err.map(|f| f.bytes),
            status,
        ));
    }
    out.started = started.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let log = "@@inflight begin release\r\nNi4xLjAK\r\n@@inflight end release 0\r\n\
@@inflight start kernel\n@@inflight begin kernel\neyJjYXNlcyI6W119\n@@inflight end kernel 1\n\
@@inflight begin kernel.stderr\n\n@@inflight end kernel.stderr 1\n\
@@inflight start core/t\n@@inflight begin core/t\naGk=\n";
        let f = parse(log);
        assert_eq!(f.release.as_deref(), Some("6.1.0"));
        assert!(!f.done);
        assert_eq!(f.started.as_deref(), Some("core/t"));
        assert_eq!(f.steps.len(), 2);
        assert_eq!(f.steps[0].stdout, r#"{"cases":[]}"#);
        assert_eq!(f.steps[0].status, Some(1));
        assert_eq!(f.steps[1].status, None, "cut short");
        assert_eq!(f.steps[1].stdout, "");
    }

    #[test]
    fn killed_steps_did_not_finish() {
        let log = "@@inflight start a\n@@inflight begin a\n@@inflight end a 137\n@@inflight done\n";
        let f = parse(log);
        assert!(f.done);
        assert_eq!(f.steps[0].status, None);
    }
}
