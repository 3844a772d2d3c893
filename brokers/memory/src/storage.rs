//! The file operations the durable log needs, behind a trait so tests can run the
//! same log on a [`crate::SimulatedDisk`] that loses what was never synced.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

/// Where the durable log keeps its files. Paths are absolute or relative to the
/// process's working directory. Creating or removing a file counts as durable once
/// [`Storage::sync_dir`] of its directory returns.
pub trait Storage: Send + Sync + fmt::Debug {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the entries of `dir`; empty if it does not exist.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// The whole file; `ErrorKind::NotFound` if there is none.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// `path` opened for appending, created empty if missing.
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn AppendFile>>;
    /// Cuts `path` to `len` bytes, durably.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Replaces `path` with `bytes` so that a crash leaves the old or the new
    /// content, never a mix: write a temporary file, sync it, rename, sync the
    /// directory.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// This boot of the machine, so a restart after a power loss can be told from
    /// a restart of the process. Empty where the system does not say (then a
    /// power loss cannot be detected).
    fn boot_id(&self) -> String;
}

/// A file the log appends to. Shared, so a commit can sync it without holding the
/// broker's lock while appends go on.
pub trait AppendFile: Send + Sync + fmt::Debug {
    /// Appends `bytes` in one write.
    fn append(&self, bytes: &[u8]) -> io::Result<()>;
    /// Returns once everything appended so far would survive a power loss.
    fn sync(&self) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiskStorage;

impl Storage for DiskStorage {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        match fs::read_dir(dir) {
            Ok(entries) => entries
                .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
                .collect(),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(err) => Err(err),
        }
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn AppendFile>> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Arc::new(DiskFile(file)))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        match fs::remove_dir_all(dir) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let temporary = path.with_extension("tmp");
        {
            let mut file = File::create(&temporary)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        fs::rename(&temporary, path)?;
        match path.parent() {
            Some(dir) => self.sync_dir(dir),
            None => Ok(()),
        }
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn boot_id(&self) -> String {
        fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|id| id.trim().to_owned())
            .unwrap_or_default()
    }
}

#[derive(Debug)]
struct DiskFile(File);

impl AppendFile for DiskFile {
    fn append(&self, bytes: &[u8]) -> io::Result<()> {
        // Opened with O_APPEND: every write lands at the end, whoever else writes.
        (&self.0).write_all(bytes)
    }

    fn sync(&self) -> io::Result<()> {
        // The data and the length; the name was made durable when the file was
        // created (the log syncs the directory then).
        self.0.sync_data()
    }
}
