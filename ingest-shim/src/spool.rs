//! Optional disk spool. Messages are appended to segment files and fsynced before they are
//! acknowledged to the broker. From then on the spool answers for them: they go to the writers,
//! and when a segment's messages have all been committed, the segment is deleted. At start the
//! segments left by the last run are replayed, in order, before any new message.
//!
//! Segment `<first sequence number, 20 digits>.spool` holds records
//! `length u32 | crc32 of body u32 | body`, all little-endian; body is
//! `received_at µs since the epoch i64 | packet id u16 | flags u8 | topic length u16 | topic | payload`.
//! A torn record at the end of the last segment (a crash mid-write) is cut off: it was never
//! fsynced, so never acknowledged, so the broker still has it.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{mpsc, watch};

use crate::ack::Acker;
use crate::batch;
use crate::config;
use crate::message::{Claim, Message, Spooled};
use crate::metrics::Metrics;
use crate::prefix::{self, Prefix, Token};
use crate::writer::Router;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "spool {path}: record {index} is corrupt (checksum or length) and is not the last one"
    )]
    Corrupt { path: PathBuf, index: u64 },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Segments of at most a quarter of the spool, so that committed ones can always be deleted
/// while the spool is full, and at most 64 MiB.
fn segment_bytes(max_bytes: u64) -> u64 {
    (max_bytes / 4).clamp(1, 64 << 20)
}
const RETAINED: u8 = 1;
const REDELIVERED: u8 = 2;

fn encode(message: &Message, out: &mut Vec<u8>) {
    let micros = message
        .received_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    let topic = message.topic.as_bytes();
    // MQTT topics are at most 65,535 bytes, so the length fits.
    let topic_len = u16::try_from(topic.len()).unwrap_or(u16::MAX);
    let mut body = Vec::with_capacity(15 + topic.len() + message.payload.len());
    body.extend_from_slice(&micros.to_le_bytes());
    body.extend_from_slice(&message.packet_id.to_le_bytes());
    let flags =
        (u8::from(message.retained) * RETAINED) | (u8::from(message.redelivered) * REDELIVERED);
    body.push(flags);
    body.extend_from_slice(&topic_len.to_le_bytes());
    body.extend_from_slice(&topic[..usize::from(topic_len)]);
    body.extend_from_slice(&message.payload);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
}

fn decode(body: &[u8], in_hand: &Gauge) -> Option<Message> {
    let micros = i64::from_le_bytes(body.get(0..8)?.try_into().ok()?);
    let packet_id = u16::from_le_bytes(body.get(8..10)?.try_into().ok()?);
    let flags = *body.get(10)?;
    let topic_len = usize::from(u16::from_le_bytes(body.get(11..13)?.try_into().ok()?));
    let topic = std::str::from_utf8(body.get(13..13 + topic_len)?).ok()?;
    let payload = body.get(13 + topic_len..)?;
    let received_at = UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).ok()?);
    let (retained, redelivered) = (flags & RETAINED != 0, flags & REDELIVERED != 0);
    Some(Message::new(
        topic.to_owned(),
        payload,
        received_at,
        packet_id,
        retained,
        redelivered,
        in_hand,
    ))
}

fn create_segment(dir: &Path, first: u64) -> Result<(File, PathBuf), SpoolError> {
    let path = dir.join(format!("{first:020}.spool"));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_error(&path))?;
    // The directory entry must be durable too, or the file may be gone after a crash.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))?;
    Ok((file, path))
}

/// Reads one segment: its messages, the bytes they take, and whether a torn or corrupt
/// record follows them.
fn read_segment(path: &Path, in_hand: &Gauge) -> Result<(Vec<Message>, u64, bool), SpoolError> {
    let mut reader = BufReader::new(File::open(path).map_err(io_error(path))?);
    let mut messages = Vec::new();
    let mut valid = 0u64;
    loop {
        let mut header = [0u8; 8];
        match reader.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Ok((messages, valid, false))
            }
            Err(e) => return Err(io_error(path)(e)),
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let mut body = vec![0u8; len];
        let complete = reader.read_exact(&mut body).is_ok();
        match (complete && crc32fast::hash(&body) == crc)
            .then(|| decode(&body, in_hand))
            .flatten()
        {
            Some(message) => {
                messages.push(message);
                valid += 8 + len as u64;
            }
            None => return Ok((messages, valid, true)),
        }
    }
}

/// Which spooled sequence numbers are committed; deletes segments once they all are.
pub struct Cursor {
    state: Mutex<CursorState>,
    metrics: Arc<Metrics>,
}

struct CursorState {
    prefix: Prefix<Spooled>,
    /// (first sequence number, path, bytes) of each segment, oldest first.
    segments: VecDeque<(u64, PathBuf, u64)>,
}

impl Cursor {
    fn lock(&self) -> MutexGuard<'_, CursorState> {
        prefix::lock(&self.state)
    }

    pub fn complete(&self, tokens: impl IntoIterator<Item = Token<Spooled>>) {
        let mut state = self.lock();
        state.prefix.complete(tokens, |_| {});
        let front = state.prefix.front();
        // A segment can go once the next one starts at or before the committed prefix.
        while state.segments.len() > 1 && state.segments[1].0 <= front {
            if let Some((_, path, _)) = state.segments.pop_front() {
                remove_segment(&path);
            }
        }
        self.metrics.spool_bytes.set(state.bytes() as i64);
    }

    /// After the writers have finished: when everything spooled has been committed, the
    /// remaining segments go too, so the next start replays nothing.
    pub fn close(&self) {
        let mut state = self.lock();
        if state.prefix.is_empty() {
            state.segments.drain(..).for_each(|s| remove_segment(&s.1));
        }
    }
}

impl CursorState {
    fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.2).sum()
    }
}

fn remove_segment(path: &Path) {
    if let Err(error) = fs::remove_file(path) {
        tracing::warn!(%error, path = %path.display(), "cannot delete a committed spool segment");
    }
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    pub cursor: Arc<Cursor>,
    /// The segment being appended to: always the last in the cursor's list.
    file: File,
    replay: Vec<Message>,
}

impl Spool {
    /// Opens the directory and loads what the last run left, cutting off a torn tail.
    pub fn open(dir: &Path, max_bytes: u64, metrics: Arc<Metrics>) -> Result<Spool, SpoolError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let mut paths: Vec<(u64, PathBuf)> = fs::read_dir(dir)
            .map_err(io_error(dir))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter_map(|path| {
                let first = path
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".spool")?
                    .parse()
                    .ok()?;
                Some((first, path))
            })
            .collect();
        paths.sort();
        let mut replay = Vec::new();
        let mut segments = VecDeque::new();
        let mut next = paths.first().map_or(0, |p| p.0);
        let last = paths.len().saturating_sub(1);
        for (i, (first, path)) in paths.into_iter().enumerate() {
            let (messages, valid, torn) = read_segment(&path, &metrics.bytes_in_hand)?;
            if torn && i != last {
                return Err(SpoolError::Corrupt {
                    path,
                    index: messages.len() as u64,
                });
            }
            if torn {
                tracing::warn!(path = %path.display(), valid, "cutting a torn record off the spool");
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_error(&path))?;
                file.set_len(valid).map_err(io_error(&path))?;
                file.sync_all().map_err(io_error(&path))?;
            }
            next = first + messages.len() as u64;
            segments.push_back((first, path, valid));
            replay.extend(messages);
        }
        let mut prefix = Prefix::starting_at(next - replay.len() as u64);
        for message in &mut replay {
            message.claim = Some(Claim::Spool(prefix.push(Spooled)));
        }
        // Appends go to a new segment: the last one may end where a torn record was cut off.
        // An empty last segment has the new one's name, and is reopened as it.
        if segments.back().is_some_and(|s| s.2 == 0) {
            segments.pop_back();
        }
        let (file, path) = create_segment(dir, next)?;
        segments.push_back((next, path, 0));
        let state = CursorState { prefix, segments };
        metrics.spool_bytes.set(state.bytes() as i64);
        if !replay.is_empty() {
            tracing::info!(messages = replay.len(), "replaying the spool");
        }
        Ok(Spool {
            dir: dir.to_owned(),
            max_bytes,
            cursor: Arc::new(Cursor {
                state: Mutex::new(state),
                metrics,
            }),
            file,
            replay,
        })
    }

    /// Appends and fsyncs a group of messages; returns their tokens (spool sequence numbers).
    fn append(&mut self, group: &[Message]) -> Result<Vec<Token<Spooled>>, SpoolError> {
        let mut buffer = Vec::new();
        for message in group {
            encode(message, &mut buffer);
        }
        let cursor = self.cursor.clone();
        let mut state = cursor.lock();
        if state
            .segments
            .back()
            .is_some_and(|s| s.2 >= segment_bytes(self.max_bytes))
        {
            self.new_segment(&mut state)?;
        }
        let bytes = buffer.len() as u64;
        let Some(segment) = state.segments.back_mut() else {
            return Err(io_error(&self.dir)(io::Error::other("no open segment")));
        };
        self.file.write_all(&buffer).map_err(io_error(&segment.1))?;
        self.file.sync_data().map_err(io_error(&segment.1))?;
        segment.2 += bytes;
        let tokens = group.iter().map(|_| state.prefix.push(Spooled)).collect();
        cursor.metrics.spool_bytes.set(state.bytes() as i64);
        Ok(tokens)
    }

    /// Starts the segment that the next sequence number goes to.
    fn new_segment(&mut self, state: &mut CursorState) -> Result<(), SpoolError> {
        let next = state.prefix.end();
        let (file, path) = create_segment(&self.dir, next)?;
        state.segments.push_back((next, path, 0));
        self.file = file;
        Ok(())
    }

    /// When everything spooled is committed, the segment being appended to is the only thing
    /// left holding space: start a new one so the old one can be deleted.
    fn rotate_if_committed(&mut self) -> Result<(), SpoolError> {
        {
            let cursor = self.cursor.clone();
            let mut state = cursor.lock();
            if !state.prefix.is_empty() || state.segments.back().is_none_or(|s| s.2 == 0) {
                return Ok(());
            }
            self.new_segment(&mut state)?;
        }
        self.cursor.complete([]);
        Ok(())
    }

    /// Replays the old segments, then takes messages from the poller: appends them in groups
    /// (closed like batches), fsyncs, acknowledges them, and passes them on to the writers.
    /// While the spool is over its size, it takes nothing: the broker keeps the messages.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<Message>,
        router: Router,
        acker: Arc<Acker>,
        limits: &config::Batch,
        stop: watch::Receiver<bool>,
    ) -> Result<(), SpoolError> {
        for message in std::mem::take(&mut self.replay) {
            if !router.send(message).await {
                return Ok(());
            }
        }
        let mut group = Vec::new();
        loop {
            if self.cursor.lock().bytes() >= self.max_bytes {
                // Stopping with a full spool: what is not spooled is not acknowledged either.
                if *stop.borrow() {
                    return Ok(());
                }
                self.rotate_if_committed()?;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            // Groups no larger than a segment keep segments near their size.
            let max_bytes = limits.max_bytes.min(segment_bytes(self.max_bytes) as usize);
            if !batch::collect(&mut rx, &mut group, limits, max_bytes).await {
                return Ok(());
            }
            let tokens = tokio::task::block_in_place(|| self.append(&group))?;
            acker.complete(group.iter().filter_map(|m| m.claim?.ack()));
            for (mut message, token) in group.drain(..).zip(tokens) {
                message.claim = Some(Claim::Spool(token));
                if !router.send(message).await {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::SystemTime;

    fn message(topic: &str, payload: &[u8]) -> Message {
        let now = SystemTime::now();
        Message::new(
            topic.into(),
            payload,
            now,
            7,
            false,
            true,
            &Gauge::default(),
        )
    }

    fn spooled(messages: &[Message]) -> Vec<Token<Spooled>> {
        messages
            .iter()
            .map(|m| m.claim.and_then(Claim::spool).expect("spooled"))
            .collect()
    }

    fn indexes(tokens: &[Token<Spooled>]) -> Vec<u64> {
        tokens.iter().map(|t| t.index()).collect()
    }

    #[test]
    fn replays_in_order_and_cuts_a_torn_tail() {
        let dir = std::env::temp_dir().join(format!("shim-spool-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let metrics = Arc::new(Metrics::new(1));
        let mut spool = Spool::open(&dir, 1 << 20, metrics.clone()).unwrap();
        let first = [message("a/1", b"one"), message("a/2", b"two")];
        assert_eq!(indexes(&spool.append(&first).unwrap()), [0, 1]);
        assert_eq!(
            indexes(&spool.append(&[message("a/3", b"three")]).unwrap()),
            [2]
        );
        drop(spool);
        // A crash in the middle of the next write: half a record at the end.
        let segment = dir.join(format!("{:020}.spool", 0));
        let mut torn = Vec::new();
        encode(&message("a/4", b"four"), &mut torn);
        OpenOptions::new()
            .append(true)
            .open(&segment)
            .unwrap()
            .write_all(&torn[..torn.len() - 2])
            .unwrap();

        let mut spool = Spool::open(&dir, 1 << 20, metrics.clone()).unwrap();
        let topics: Vec<&str> = spool.replay.iter().map(|m| m.topic.as_str()).collect();
        assert_eq!(topics, ["a/1", "a/2", "a/3"]);
        assert_eq!(spool.replay[2].payload, Bytes::from_static(b"three"));
        assert!(spool.replay[0].redelivered && spool.replay[0].packet_id == 7);
        let replayed = spooled(&spool.replay);
        assert_eq!(indexes(&replayed), [0, 1, 2]);
        // New messages go to a new segment; committing the old one's messages deletes it.
        assert_eq!(
            indexes(&spool.append(&[message("a/5", b"five")]).unwrap()),
            [3]
        );
        spool.cursor.complete(replayed);
        assert!(!segment.exists(), "the committed segment is deleted");
        drop(spool);
        let spool = Spool::open(&dir, 1 << 20, metrics.clone()).unwrap();
        assert_eq!(spool.replay.len(), 1, "a/5 was not committed");
        let replayed = spooled(&spool.replay);
        assert_eq!(indexes(&replayed), [3]);
        spool.cursor.complete(replayed);
        spool.cursor.close();
        drop(spool);
        let spool = Spool::open(&dir, 1 << 20, metrics).unwrap();
        assert!(
            spool.replay.is_empty(),
            "nothing to replay after a clean close"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
