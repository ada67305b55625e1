//! Saves each page's body in one folder as `<last path segment>.html` (the reference job's
//! layout), or in a `wget -x` tree (the mirror layout). Names come from
//! [`dragnet_extract::file_name`] and [`dragnet_extract::mirror_path`], which cannot produce
//! a path separator; this sink checks again before writing.
//!
//! # Naming rule of the mirror layout
//! A URL path is a file, but `/feed` (saved as the file `feed`) and `/feed/atom` (which needs
//! a folder `feed`) both exist on ordinary sites. The folder wins: the file moves into it as
//! `index` plus its extension ([`dragnet_extract::folder_index_name`]), so `/feed` ends up
//! as `feed/index` and `/a.html` as `a.html/index.html`, as if their URLs had ended in `/`.
//! The result is the same in either order of arrival and across a resume, because the rule
//! reads the folder as it is on disk, not this run's memory. (wget deletes the file to make
//! room for the folder; wget2 fails the second download: both lose a page.)
//!
//! # What is never followed
//! The output folder may hold what someone else put there. A symbolic link where this sink
//! would write a file or enter a folder is refused: that page is not saved, a warning names
//! it and the summary counts it (`outputs_refused_by_reason`), and the crawl goes on. Nothing
//! is ever written through a link, so nothing lands outside the folder. Bodies are written to
//! a temporary file with a random name, created exclusively (it cannot be a planted link or
//! someone else's file), then renamed over the final name, so a crash never leaves half a
//! page under the final name.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use dragnet_extract::{file_name, folder_index_name, mirror_path, with_collision_suffix};
use url::Url;

use super::{PageRecord, Sink, SinkError};
use crate::fetch::Body;
use crate::stats::Stats;

const NAME: &str = "files";

/// How saved pages are laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// The tutorial's: every page in one folder as `<last path segment>.html`.
    #[default]
    Flat,
    /// Like `wget -x`: `host[_port]/path/.../<segment>.html`; a file whose name is also
    /// needed as a folder is saved inside it as `index` plus its extension.
    Mirror,
}

/// Writes bodies of successful pages into a folder.
#[derive(Debug)]
pub struct FilesSink {
    dir: PathBuf,
    layout: Layout,
    /// Skip bodies already saved under another URL (`--dedup-content`).
    skip_duplicates: bool,
    /// Saved path → the URL saved under it, to give a different URL with the same name a
    /// deterministic suffix instead of overwriting.
    names: HashMap<PathBuf, Url>,
    /// Where refused pages are counted, when the sink runs in a crawl.
    stats: Option<Arc<Stats>>,
}

/// Why one page was not saved, short of a failing disk.
enum Refusal {
    /// The label counted in the summary, and the message for people.
    Refused(&'static str, String),
    /// The disk failed: the sink stops.
    Io(SinkError),
}

impl FilesSink {
    /// A sink writing into `dir`, which must exist.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::with_layout(dir, Layout::Flat, false)
    }

    /// A sink writing into `dir` with `layout`; `skip_duplicates` leaves out bodies already
    /// saved for another URL.
    pub fn with_layout(dir: impl Into<PathBuf>, layout: Layout, skip_duplicates: bool) -> Self {
        Self {
            dir: dir.into(),
            layout,
            skip_duplicates,
            names: HashMap::new(),
            stats: None,
        }
    }

    /// Counts refused pages in `stats` (the crawl's summary).
    pub(crate) fn counting_in(mut self, stats: Arc<Stats>) -> Self {
        self.stats = Some(stats);
        self
    }

    fn io_error(path: &Path, source: io::Error) -> Refusal {
        Refusal::Io(SinkError::Io {
            sink: NAME,
            path: path.to_owned(),
            source,
        })
    }

    /// Where `url` would be saved, relative to the folder, before looking at the disk.
    fn planned_path(&self, url: &Url, is_html: bool) -> Vec<String> {
        let parts = match self.layout {
            Layout::Flat => vec![file_name(url, is_html)],
            Layout::Mirror => mirror_path(url, is_html),
        };
        // Belt and braces: every component must be a single normal path component.
        let safe = parts.iter().all(|part| {
            let mut components = Path::new(part).components();
            matches!(
                (components.next(), components.next()),
                (Some(Component::Normal(_)), None)
            ) && !part.starts_with('.')
        });
        if safe {
            parts
        } else {
            vec![with_collision_suffix("page", url)]
        }
    }

    /// Walks (and makes) the folders of `parts`, moving a file that stands where a folder
    /// is needed into that folder, and returns the file to write. Refuses links.
    fn prepare(&mut self, parts: &[String], url: &Url) -> Result<PathBuf, Refusal> {
        let (file, folders) = parts
            .split_last()
            .ok_or_else(|| Refusal::Refused("unsafe_path", "empty path".into()))?;
        let mut at = self.dir.clone();
        for folder in folders {
            at.push(folder);
            match fs::symlink_metadata(&at) {
                Ok(meta) if meta.file_type().is_symlink() => return Err(link_refusal(&at)),
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => self.move_into_namesake_folder(&at)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&at).map_err(|e| Self::io_error(&at, e))?;
                }
                Err(e) => return Err(Self::io_error(&at, e)),
            }
        }
        let mut target = at.join(file);
        if kind_of(&target)? == Kind::Folder {
            target = at.join(file).join(folder_index_name(file));
        }
        let relative = target.strip_prefix(&self.dir).unwrap_or(&target).to_owned();
        let relative = match self.names.get(&relative) {
            Some(owner) if owner != url => {
                let name = target
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                target.set_file_name(with_collision_suffix(&name, url));
                target.strip_prefix(&self.dir).unwrap_or(&target).to_owned()
            }
            _ => relative,
        };
        if kind_of(&target)? == Kind::Folder {
            return Err(Refusal::Refused(
                "name_taken",
                format!("{} is a folder", target.display()),
            ));
        }
        self.names.insert(relative, url.clone());
        Ok(target)
    }

    /// `folder` is a file but a folder of that name is needed: the file becomes
    /// `folder/index<ext>` (see the module docs), and keeps its claim on the new name.
    fn move_into_namesake_folder(&mut self, folder: &Path) -> Result<(), Refusal> {
        let name = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let aside = folder.with_file_name(format!(".{name}.{}.moving", random_suffix()));
        fs::rename(folder, &aside).map_err(|e| Self::io_error(folder, e))?;
        fs::create_dir(folder).map_err(|e| Self::io_error(folder, e))?;
        let inside = folder.join(folder_index_name(&name));
        fs::rename(&aside, &inside).map_err(|e| Self::io_error(&inside, e))?;
        let relative = |p: &Path| p.strip_prefix(&self.dir).unwrap_or(p).to_owned();
        if let Some(owner) = self.names.remove(&relative(folder)) {
            self.names.insert(relative(&inside), owner);
        }
        Ok(())
    }

    fn save(&mut self, record: &PageRecord, body: &Body) -> Result<(), Refusal> {
        let parts = self.planned_path(&record.url, record.is_html);
        let path = self.prepare(&parts, &record.url)?;
        write_atomically(&path, body)
    }
}

#[derive(PartialEq, Eq)]
enum Kind {
    Missing,
    File,
    Folder,
}

/// What is at `path`, refusing a link (to anywhere: even a link inside the folder could be
/// changed later to point outside).
fn kind_of(path: &Path) -> Result<Kind, Refusal> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(link_refusal(path)),
        Ok(meta) if meta.is_dir() => Ok(Kind::Folder),
        Ok(_) => Ok(Kind::File),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Kind::Missing),
        Err(e) => Err(FilesSink::io_error(path, e)),
    }
}

fn link_refusal(path: &Path) -> Refusal {
    Refusal::Refused(
        "symlink_in_output",
        format!(
            "{} is a symbolic link; dragnet never writes through one",
            path.display()
        ),
    )
}

/// 64 random bits as hex: a temporary name nobody can guess and plant in advance.
fn random_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Writes `body` to a new, exclusively created temporary file beside `path`, then renames it
/// over `path` (a rename replaces a link itself, never its target).
fn write_atomically(path: &Path, body: &Body) -> Result<(), Refusal> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}.partial", random_suffix()));
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut file| body.write_to(&mut file));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(FilesSink::io_error(&temp, e));
    }
    fs::rename(&temp, path).map_err(|e| {
        let _ = fs::remove_file(&temp);
        FilesSink::io_error(path, e)
    })
}

impl Sink for FilesSink {
    fn name(&self) -> &'static str {
        NAME
    }

    fn write(&mut self, record: &PageRecord) -> Result<(), SinkError> {
        let Some(body) = record.body.as_ref().filter(|_| record.is_ok()) else {
            return Ok(());
        };
        if self.skip_duplicates && record.duplicate {
            return Ok(());
        }
        match self.save(record, body) {
            Ok(()) => Ok(()),
            Err(Refusal::Io(error)) => Err(error),
            Err(Refusal::Refused(label, message)) => {
                tracing::warn!(message = "Page not saved.", url = %record.url, reason = label, detail = %message);
                if let Some(stats) = &self.stats {
                    stats.record_output_refused(label);
                }
                Ok(())
            }
        }
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::tests::record;

    #[test]
    fn saves_by_last_segment_and_suffixes_collisions() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FilesSink::new(dir.path());
        sink.write(&record("http://a.test/wiki/China", Some(b"one")))
            .unwrap();
        sink.write(&record("http://b.test/other/China", Some(b"two")))
            .unwrap();
        sink.write(&record("http://a.test/wiki/Gone", None))
            .unwrap();
        sink.finish().unwrap();
        assert_eq!(fs::read(dir.path().join("China.html")).unwrap(), b"one");
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "failed pages are not saved: {names:?}");
        assert!(
            names[1].starts_with("China~") && names[1].ends_with(".html"),
            "{names:?}"
        );
        // The same URL again overwrites its own file rather than taking a new name.
        sink.write(&record("http://a.test/wiki/China", Some(b"three")))
            .unwrap();
        assert_eq!(fs::read(dir.path().join("China.html")).unwrap(), b"three");
    }

    #[test]
    fn hostile_names_stay_inside_the_folder() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        fs::create_dir(&dir).unwrap();
        let mut sink = FilesSink::new(&dir);
        for url in [
            "http://a.test/wiki/..%2F..%2Fetc%2Fpasswd",
            "http://a.test/wiki/%2e%2e",
            "http://a.test/",
            "http://a.test/a//",
            "http://a.test/%00nul",
        ] {
            sink.write(&record(url, Some(b"x"))).unwrap();
        }
        assert_eq!(
            fs::read_dir(root.path()).unwrap().count(),
            1,
            "nothing written beside the folder"
        );
        for entry in fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(!name.contains('/') && !name.starts_with('.'), "{name}");
        }
    }

    #[test]
    fn mirror_layout_and_duplicate_skipping() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FilesSink::with_layout(dir.path(), Layout::Mirror, true);
        sink.write(&record("http://a.test:8080/wiki/China", Some(b"one")))
            .unwrap();
        sink.write(&record("http://a.test:8080/", Some(b"root")))
            .unwrap();
        let mut copy = record("http://a.test:8080/wiki/Copy", Some(b"one"));
        copy.duplicate = true;
        sink.write(&copy).unwrap();
        assert_eq!(
            fs::read(dir.path().join("a.test_8080/wiki/China.html")).unwrap(),
            b"one"
        );
        assert_eq!(
            fs::read(dir.path().join("a.test_8080/index.html")).unwrap(),
            b"root"
        );
        assert!(
            !dir.path().join("a.test_8080/wiki/Copy.html").exists(),
            "duplicates are skipped"
        );
    }

    fn saved_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(at) = stack.pop() {
            for entry in fs::read_dir(&at).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let relative = path.strip_prefix(dir).unwrap().display().to_string();
                    out.push((relative, fs::read(&path).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    fn feed(url: &str, body: &'static [u8]) -> PageRecord {
        let mut record = record(url, Some(body));
        record.is_html = false;
        record
    }

    #[test]
    fn a_file_and_a_folder_of_the_same_name_both_save_in_either_order() {
        let expected = vec![
            ("a.test/feed/atom".to_owned(), b"atom".to_vec()),
            ("a.test/feed/index".to_owned(), b"rss".to_vec()),
        ];
        for file_first in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let mut sink = FilesSink::with_layout(dir.path(), Layout::Mirror, false);
            let mut records = vec![
                feed("http://a.test/feed", b"rss"),
                feed("http://a.test/feed/atom", b"atom"),
            ];
            if !file_first {
                records.reverse();
            }
            for record in &records {
                sink.write(record).unwrap();
            }
            assert_eq!(
                saved_files(dir.path()),
                expected,
                "file first: {file_first}"
            );
        }
        // Across a resume: a new sink (no memory of the first) finds `feed` as a file on disk.
        let dir = tempfile::tempdir().unwrap();
        FilesSink::with_layout(dir.path(), Layout::Mirror, false)
            .write(&feed("http://a.test/feed", b"rss"))
            .unwrap();
        FilesSink::with_layout(dir.path(), Layout::Mirror, false)
            .write(&feed("http://a.test/feed/atom", b"atom"))
            .unwrap();
        assert_eq!(saved_files(dir.path()), expected, "across a resume");
    }

    #[test]
    fn a_moved_file_keeps_its_name_against_a_later_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FilesSink::with_layout(dir.path(), Layout::Mirror, false);
        sink.write(&feed("http://a.test/feed", b"rss")).unwrap();
        sink.write(&feed("http://a.test/feed/", b"slash")).unwrap();
        let saved = saved_files(dir.path());
        assert_eq!(saved.len(), 2, "{saved:?}");
        assert_eq!(saved[0], ("a.test/feed/index".to_owned(), b"rss".to_vec()));
        assert!(saved[1].0.starts_with("a.test/feed/index~"), "{saved:?}");
    }

    #[cfg(unix)]
    #[test]
    fn planted_links_are_refused_and_nothing_is_written_outside() {
        use std::os::unix::fs::symlink;
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let outside = root.path().join("outside");
        fs::create_dir_all(out.join("a.test")).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("victim"), b"precious").unwrap();
        // A link as a file name (flat and mirror) and as a folder of the mirror tree.
        symlink(outside.join("victim"), out.join("China.html")).unwrap();
        symlink(outside.join("victim"), out.join("a.test/x.html")).unwrap();
        symlink(&outside, out.join("a.test/wiki")).unwrap();

        let mut flat = FilesSink::new(&out);
        flat.write(&record("http://a.test/China", Some(b"evil")))
            .unwrap();
        flat.write(&record("http://a.test/Fine", Some(b"fine")))
            .unwrap();
        let mut mirror = FilesSink::with_layout(&out, Layout::Mirror, false);
        mirror
            .write(&record("http://a.test/x", Some(b"evil")))
            .unwrap();
        mirror
            .write(&record("http://a.test/wiki/Page", Some(b"evil")))
            .unwrap();
        mirror
            .write(&record("http://a.test/wiki/Page/deeper", Some(b"evil")))
            .unwrap();

        assert_eq!(fs::read(outside.join("victim")).unwrap(), b"precious");
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            1,
            "nothing new outside"
        );
        assert_eq!(fs::read(out.join("Fine.html")).unwrap(), b"fine");
        assert!(
            fs::symlink_metadata(out.join("China.html"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // No temporary file is left behind either.
        let hidden = fs::read_dir(&out)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count();
        assert_eq!(hidden, 0);
    }

    #[test]
    fn refusals_are_counted_by_reason() {
        let dir = tempfile::tempdir().unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/nonexistent/target", dir.path().join("Gone.html")).unwrap();
        let stats = Arc::new(Stats::new(1, crate::gate::Gate::new(1, 1)));
        let mut sink = FilesSink::new(dir.path()).counting_in(Arc::clone(&stats));
        sink.write(&record("http://a.test/Gone", Some(b"x")))
            .unwrap();
        #[cfg(unix)]
        assert_eq!(stats.outputs_refused().get("symlink_in_output"), Some(&1));
    }

    #[test]
    fn temporary_names_are_random_and_never_reuse_a_planted_file() {
        let dir = tempfile::tempdir().unwrap();
        // The old, predictable temporary name: a file planted there is left alone.
        fs::write(dir.path().join(".China.html.partial"), b"planted").unwrap();
        let mut sink = FilesSink::new(dir.path());
        sink.write(&record("http://a.test/China", Some(b"one")))
            .unwrap();
        assert_eq!(fs::read(dir.path().join("China.html")).unwrap(), b"one");
        assert_eq!(
            fs::read(dir.path().join(".China.html.partial")).unwrap(),
            b"planted"
        );
        let a = random_suffix();
        let b = random_suffix();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn an_unwritable_folder_is_a_clear_error() {
        let mut sink = FilesSink::new("/nonexistent/dragnet-test");
        let err = sink
            .write(&record("http://a.test/x", Some(b"x")))
            .unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/dragnet-test"),
            "{err}"
        );
    }
}
