//! Files whose contents the shim answers for (spool segments, local dead letters): opened for
//! appending, their directory entries synced, and I/O errors that name the file.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct FileError {
    path: PathBuf,
    source: io::Error,
}

impl FileError {
    pub fn new(path: &Path, source: io::Error) -> FileError {
        let path = path.to_owned();
        FileError { path, source }
    }
}

/// Names the file in an I/O error.
pub trait At<T> {
    fn at(self, path: &Path) -> Result<T, FileError>;
}

impl<T> At<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, FileError> {
        self.map_err(|source| FileError::new(path, source))
    }
}

pub fn append(path: &Path) -> Result<File, FileError> {
    let mut options = OpenOptions::new();
    options.create(true).append(true).open(path).at(path)
}

/// Makes a new file's directory entry durable: without it, the file may be gone after a crash.
pub fn sync_dir(dir: &Path) -> Result<(), FileError> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}
