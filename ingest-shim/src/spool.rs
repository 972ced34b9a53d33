//! Optional disk spool. Messages are appended to segment files and fsynced before they are
//! acknowledged to the broker; from then on the spool answers for them. A segment is deleted
//! once all its messages have been committed. At start the segments left by the last run are
//! replayed, in order, before any new message.
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
use crate::durable::{self, At, FileError};
use crate::message::{Claim, Message, Spooled};
use crate::metrics::Metrics;
use crate::prefix::{self, Prefix, Token};
use crate::writer::Router;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {0}")]
    Io(#[from] FileError),
    #[error(
        "spool {path}: record {index} is corrupt (checksum or length) and is not the last one"
    )]
    Corrupt { path: PathBuf, index: u64 },
}

/// Segments of at most a quarter of the spool, so that committed ones can always be deleted
/// while the spool is full, and at most 64 MiB.
fn segment_bytes(max_bytes: u64) -> u64 {
    (max_bytes / 4).clamp(1, 64 << 20)
}

const RETAINED: u8 = 1;
const REDELIVERED: u8 = 2;

fn encode(message: &Message, out: &mut Vec<u8>) {
    let micros = (message.received_at.duration_since(UNIX_EPOCH)).map_or(0, |d| d.as_micros());
    // MQTT topics are at most 65,535 bytes, so nothing is cut.
    let topic = &message.topic.as_bytes()[..message.topic.len().min(u16::MAX.into())];
    let flags = if message.retained { RETAINED } else { 0 }
        | if message.redelivered { REDELIVERED } else { 0 };
    let body = [
        &(micros as i64).to_le_bytes()[..],
        &message.packet_id.to_le_bytes(),
        &[flags],
        &(topic.len() as u16).to_le_bytes(),
        topic,
        &message.payload,
    ]
    .concat();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
}

fn decode(body: &[u8], in_hand: &Gauge) -> Option<Message> {
    let micros = i64::from_le_bytes(body.get(0..8)?.try_into().ok()?);
    let packet_id = u16::from_le_bytes(body.get(8..10)?.try_into().ok()?);
    let flags = *body.get(10)?;
    let topic_len = usize::from(u16::from_le_bytes(body.get(11..13)?.try_into().ok()?));
    let topic = std::str::from_utf8(body.get(13..13 + topic_len)?)
        .ok()?
        .to_owned();
    let payload = body.get(13 + topic_len..)?;
    let received_at = UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).ok()?);
    let (retained, redelivered) = (flags & RETAINED != 0, flags & REDELIVERED != 0);
    Some(Message::new(
        topic,
        payload,
        received_at,
        packet_id,
        retained,
        redelivered,
        in_hand,
    ))
}

struct Segment {
    /// The sequence number of its first message.
    first: u64,
    path: PathBuf,
    bytes: u64,
}

impl Segment {
    /// Creates the file of the segment that starts at sequence number `first`.
    fn create(dir: &Path, first: u64) -> Result<(Segment, File), SpoolError> {
        let path = dir.join(format!("{first:020}.spool"));
        let file = durable::append(&path)?;
        durable::sync_dir(dir)?;
        let bytes = 0;
        Ok((Segment { first, path, bytes }, file))
    }

    /// Reads the segment's messages, which take `bytes`; true when a torn or corrupt record
    /// follows them.
    fn read(
        first: u64,
        path: PathBuf,
        in_hand: &Gauge,
    ) -> Result<(Segment, Vec<Message>, bool), SpoolError> {
        let mut reader = BufReader::new(File::open(&path).at(&path)?);
        let (mut messages, mut bytes) = (Vec::new(), 0);
        let torn = loop {
            let mut header = [0u8; 8];
            match reader.read_exact(&mut header) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break false,
                Err(e) => return Err(FileError::new(&path, e).into()),
            }
            let [len, crc] =
                [&header[..4], &header[4..]].map(|h| u32::from_le_bytes([h[0], h[1], h[2], h[3]]));
            let mut body = vec![0u8; len as usize];
            let complete = reader.read_exact(&mut body).is_ok() && crc32fast::hash(&body) == crc;
            match complete.then(|| decode(&body, in_hand)).flatten() {
                Some(message) => messages.push(message),
                None => break true,
            }
            bytes += 8 + u64::from(len);
        };
        Ok((Segment { first, path, bytes }, messages, torn))
    }

    /// Cuts the file to the records read.
    fn truncate(&self) -> Result<(), SpoolError> {
        let file = OpenOptions::new().write(true).open(&self.path);
        let truncated = file.and_then(|f| f.set_len(self.bytes).and_then(|()| f.sync_all()));
        Ok(truncated.at(&self.path)?)
    }
}

/// Which spooled sequence numbers are committed; deletes segments once they all are.
pub struct Cursor {
    state: Mutex<CursorState>,
    metrics: Arc<Metrics>,
}

struct CursorState {
    prefix: Prefix<Spooled>,
    /// Oldest first; the last is the one being appended to.
    segments: VecDeque<Segment>,
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
        while state.segments.len() > 1 && state.segments[1].first <= front {
            if let Some(segment) = state.segments.pop_front() {
                remove(&segment.path);
            }
        }
        self.metrics.spool_bytes.set(state.bytes() as i64);
    }

    /// After the writers have finished: when everything spooled has been committed, the
    /// remaining segments go too, so the next start replays nothing.
    pub fn close(&self) {
        let mut state = self.lock();
        if state.prefix.is_empty() {
            state.segments.drain(..).for_each(|s| remove(&s.path));
        }
    }
}

impl CursorState {
    fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }
}

fn remove(path: &Path) {
    if let Err(error) = fs::remove_file(path) {
        tracing::warn!(%error, path = %path.display(), "cannot delete a committed spool segment");
    }
}

/// The segments the last run left, their messages, and the next sequence number. Only the
/// last segment may end in a torn record; it is cut off.
fn load(dir: &Path, in_hand: &Gauge) -> Result<(VecDeque<Segment>, Vec<Message>, u64), SpoolError> {
    let mut found: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .at(dir)?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?;
            Some((name.strip_suffix(".spool")?.parse().ok()?, path))
        })
        .collect();
    found.sort();
    let (mut segments, mut messages) = (VecDeque::new(), Vec::new());
    let mut next = found.first().map_or(0, |f| f.0);
    let last = found.len().saturating_sub(1);
    for (i, (first, path)) in found.into_iter().enumerate() {
        let (segment, read, torn) = Segment::read(first, path, in_hand)?;
        let path = &segment.path;
        if torn && i != last {
            let index = read.len() as u64;
            return Err(SpoolError::Corrupt {
                path: path.clone(),
                index,
            });
        }
        if torn {
            tracing::warn!(path = %path.display(), valid = segment.bytes, "cutting a torn record off the spool");
            segment.truncate()?;
        }
        next = first + read.len() as u64;
        segments.push_back(segment);
        messages.extend(read);
    }
    Ok((segments, messages, next))
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    pub cursor: Arc<Cursor>,
    /// The last segment's file.
    file: File,
    replay: Vec<Message>,
}

impl Spool {
    /// Opens the directory and loads what the last run left, cutting off a torn tail.
    pub fn open(dir: &Path, max_bytes: u64, metrics: Arc<Metrics>) -> Result<Spool, SpoolError> {
        fs::create_dir_all(dir).at(dir)?;
        let (mut segments, mut replay, next) = load(dir, &metrics.bytes_in_hand)?;
        let mut prefix = Prefix::starting_at(next - replay.len() as u64);
        for message in &mut replay {
            message.claim = Some(Claim::Spool(prefix.push(Spooled)));
        }
        // Appends go to a new segment: the last one may end where a torn record was cut off.
        // An empty last segment has the new one's name, and is reopened as it.
        if segments.back().is_some_and(|s| s.bytes == 0) {
            segments.pop_back();
        }
        let (segment, file) = Segment::create(dir, next)?;
        segments.push_back(segment);
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
        group
            .iter()
            .for_each(|message| encode(message, &mut buffer));
        let cursor = self.cursor.clone();
        let mut state = cursor.lock();
        if state
            .segments
            .back()
            .is_some_and(|s| s.bytes >= segment_bytes(self.max_bytes))
        {
            self.new_segment(&mut state)?;
        }
        let Some(segment) = state.segments.back_mut() else {
            let error = io::Error::other("no open segment");
            return Err(FileError::new(&self.dir, error).into());
        };
        self.file.write_all(&buffer).at(&segment.path)?;
        self.file.sync_data().at(&segment.path)?;
        segment.bytes += buffer.len() as u64;
        let tokens = group.iter().map(|_| state.prefix.push(Spooled)).collect();
        cursor.metrics.spool_bytes.set(state.bytes() as i64);
        Ok(tokens)
    }

    /// Starts the segment that the next sequence number goes to.
    fn new_segment(&mut self, state: &mut CursorState) -> Result<(), SpoolError> {
        let (segment, file) = Segment::create(&self.dir, state.prefix.end())?;
        state.segments.push_back(segment);
        self.file = file;
        Ok(())
    }

    /// When everything spooled is committed, the segment being appended to is the only thing
    /// left holding space: start a new one so the old one can be deleted.
    fn rotate_if_committed(&mut self) -> Result<(), SpoolError> {
        {
            let cursor = self.cursor.clone();
            let mut state = cursor.lock();
            if !state.prefix.is_empty() || state.segments.back().is_none_or(|s| s.bytes == 0) {
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
