//! A disk in memory that can lose power: what the durable log must survive, made
//! repeatable for tests.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::storage::{AppendFile, Storage};

/// Files whose bytes are durable only up to their last sync. [`Self::power_loss`]
/// throws away what was written after it, keeping a prefix of that part chosen by
/// the caller, as a disk that wrote some sectors and not others would. Creating,
/// renaming and removing files is durable at once (a simplification: the log
/// syncs its directories where that matters on a real disk).
#[derive(Debug, Clone, Default)]
pub struct SimulatedDisk {
    inner: Arc<Mutex<Disk>>,
}

#[derive(Debug, Default)]
struct Disk {
    files: BTreeMap<PathBuf, SimulatedFile>,
    dirs: BTreeSet<PathBuf>,
    /// When set, `sync` does nothing: what a log that skipped fsync would leave.
    syncs_ignored: bool,
    syncs: u64,
    /// Counts power losses: the simulated machine's boot.
    boots: u64,
}

#[derive(Debug, Default)]
struct SimulatedFile {
    bytes: Vec<u8>,
    synced_len: usize,
}

impl SimulatedDisk {
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops every file's unsynced bytes except the first `kept(path, unsynced)`
    /// of them (clamped to what there is).
    pub fn power_loss(&self, mut kept: impl FnMut(&Path, usize) -> usize) {
        let mut disk = self.lock();
        for (path, file) in &mut disk.files {
            let unsynced = file.bytes.len() - file.synced_len;
            let keep = kept(path, unsynced).min(unsynced);
            file.bytes.truncate(file.synced_len + keep);
            file.synced_len = file.bytes.len();
        }
        disk.boots += 1;
    }

    /// Makes `sync` a no-op from now on, for tests that show a check would catch a
    /// log that does not sync.
    pub fn ignore_syncs(&self) {
        self.lock().syncs_ignored = true;
    }

    /// How many syncs of files were asked for.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// A file's whole content, synced or not.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        self.lock().files.get(path).map(|file| file.bytes.clone())
    }

    /// Overwrites a file, durably: the damage a test wants recovery to find.
    pub fn replace(&self, path: &Path, bytes: Vec<u8>) {
        let synced_len = bytes.len();
        self.lock()
            .files
            .insert(path.to_owned(), SimulatedFile { bytes, synced_len });
    }

    /// Every file's path.
    pub fn files(&self) -> Vec<PathBuf> {
        self.lock().files.keys().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, Disk> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

impl Storage for SimulatedDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.lock();
        for ancestor in dir.ancestors() {
            disk.dirs.insert(ancestor.to_owned());
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let disk = self.lock();
        let files = disk.files.keys();
        let entries: BTreeSet<String> = files
            .chain(disk.dirs.iter())
            .filter(|path| path.parent() == Some(dir))
            .filter_map(|path| path.file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .collect();
        Ok(entries.into_iter().collect())
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.contents(path).ok_or_else(|| not_found(path))
    }

    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn AppendFile>> {
        let mut disk = self.lock();
        if !path.parent().is_some_and(|dir| disk.dirs.contains(dir)) {
            return Err(not_found(path));
        }
        disk.files.entry(path.to_owned()).or_default();
        Ok(Arc::new(SimulatedAppend {
            disk: self.clone(),
            path: path.to_owned(),
        }))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut disk = self.lock();
        let file = disk.files.get_mut(path).ok_or_else(|| not_found(path))?;
        file.bytes
            .truncate(usize::try_from(len).unwrap_or(usize::MAX));
        file.synced_len = file.bytes.len();
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.lock()
            .files
            .remove(path)
            .map(drop)
            .ok_or_else(|| not_found(path))
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.lock();
        disk.files.retain(|path, _| !path.starts_with(dir));
        disk.dirs.retain(|path| !path.starts_with(dir));
        Ok(())
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        if !path
            .parent()
            .is_some_and(|dir| self.lock().dirs.contains(dir))
        {
            return Err(not_found(path));
        }
        self.replace(path, bytes.to_vec());
        Ok(())
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn boot_id(&self) -> String {
        format!("simulated-boot-{}", self.lock().boots)
    }
}

#[derive(Debug)]
struct SimulatedAppend {
    disk: SimulatedDisk,
    path: PathBuf,
}

impl AppendFile for SimulatedAppend {
    fn append(&self, bytes: &[u8]) -> io::Result<()> {
        let mut disk = self.disk.lock();
        let file = disk
            .files
            .get_mut(&self.path)
            .ok_or_else(|| not_found(&self.path))?;
        file.bytes.extend_from_slice(bytes);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.syncs += 1;
        if disk.syncs_ignored {
            return Ok(());
        }
        if let Some(file) = disk.files.get_mut(&self.path) {
            file.synced_len = file.bytes.len();
        }
        Ok(())
    }
}
