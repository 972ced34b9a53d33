//! The local dead-letter file: messages PostgreSQL refuses even alone, one JSON line each,
//! synced before the message is acknowledged, so the stream goes on and the message is kept.
//! Past its size limit, lines are no longer written, only counted and logged.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::durable::{self, At, FileError};
use crate::message::Message;

#[derive(Debug, thiserror::Error)]
#[error("dead-letter file {0}")]
pub struct DeadLetterError(#[from] FileError);

pub struct DeadLetterFile {
    path: PathBuf,
    max_bytes: u64,
}

impl DeadLetterFile {
    /// Creates the file and its directory now, so that a path the shim cannot write stops it
    /// at start rather than at the first poison message.
    pub fn open(path: &Path, max_bytes: u64) -> Result<DeadLetterFile, DeadLetterError> {
        let path = path.to_owned();
        let file = DeadLetterFile { path, max_bytes };
        fs::create_dir_all(file.dir()).at(file.dir())?;
        durable::append(&file.path)?;
        durable::sync_dir(file.dir())?;
        Ok(file)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line and syncs it. False, with nothing written, when the line would take
    /// the file past its limit. The file is opened for each line (they are rare), so a file
    /// moved away, to rotate it, is started anew.
    pub fn write(&self, line: &[u8]) -> Result<bool, DeadLetterError> {
        let mut file = durable::append(&self.path)?;
        let len = file.metadata().at(&self.path)?.len();
        if len + line.len() as u64 > self.max_bytes {
            return Ok(false);
        }
        file.write_all(line).at(&self.path)?;
        file.sync_data().at(&self.path)?;
        if len == 0 {
            // Probably a new file.
            durable::sync_dir(self.dir())?;
        }
        Ok(true)
    }

    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        }
    }
}

/// One line: when, the message with its payload in hex, and why PostgreSQL refused it.
pub fn line(message: &Message, writer: usize, sqlstate: &str, error: &str) -> Vec<u8> {
    let hex: String = message.payload.iter().map(|b| format!("{b:02x}")).collect();
    let rfc3339 = |t: SystemTime| humantime::format_rfc3339_micros(t).to_string();
    let mut line = serde_json::json!({
        "time": rfc3339(SystemTime::now()),
        "received_at": rfc3339(message.received_at),
        "writer": writer,
        "topic": message.topic,
        "packet_id": message.packet_id,
        "retained": message.retained,
        "redelivered": message.redelivered,
        "payload_bytes": message.payload.len(),
        "payload_hex": hex,
        "sqlstate": sqlstate,
        "error": error,
    })
    .to_string()
    .into_bytes();
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::gauge::Gauge;

    #[test]
    fn writes_json_lines_up_to_the_limit() {
        let dir = std::env::temp_dir().join(format!("shim-dead-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("sub/dead.jsonl");
        let (topic, payload, now) = ("t/\"x\"".into(), b"\x00\xffa", SystemTime::now());
        let message = Message::new(topic, payload, now, 9, false, true, &Gauge::default());
        let one = line(&message, 1, "23514", "marker \"refused\"");
        let file = DeadLetterFile::open(&path, 2 * one.len() as u64).unwrap();
        assert!(path.exists(), "created at start");
        assert!(file.write(&one).unwrap() && file.write(&one).unwrap());
        assert!(
            !file.write(&one).unwrap(),
            "a third line would pass the limit"
        );
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["topic"], "t/\"x\"");
        assert_eq!(lines[0]["payload_hex"], "00ff61");
        assert_eq!(lines[0]["sqlstate"], "23514");
        assert_eq!(lines[0]["packet_id"], 9);
        // Moved away (rotated): the next line starts a new file.
        fs::rename(&path, dir.join("old.jsonl")).unwrap();
        assert!(file.write(&one).unwrap());
        assert_eq!(fs::read(&path).unwrap(), one);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_path_fails_at_open() {
        let err = DeadLetterFile::open(Path::new("/proc/no-such-dir/dead.jsonl"), 1 << 20);
        assert!(err.is_err());
    }
}
