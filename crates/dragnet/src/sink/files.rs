//! Saves each page's body in one folder as `<last path segment>.html` (the reference job's
//! layout). Names come from [`dragnet_extract::file_name`], which cannot produce a path
//! separator; this sink checks again before writing, and writes through a temporary file
//! and a rename so a crash never leaves half a page under the final name.

use std::collections::HashMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use dragnet_extract::{file_name, mirror_path, with_collision_suffix};
use url::Url;

use super::{PageRecord, Sink, SinkError};

const NAME: &str = "files";

/// How saved pages are laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// The tutorial's: every page in one folder as `<last path segment>.html`.
    #[default]
    Flat,
    /// Like `wget -x`: `host[_port]/path/.../<segment>.html`.
    Mirror,
}

/// Writes bodies of successful pages into a folder.
#[derive(Debug)]
pub struct FilesSink {
    dir: PathBuf,
    layout: Layout,
    /// Skip bodies already saved under another URL (`--dedup-content`).
    skip_duplicates: bool,
    /// Saved name → the URL saved under it, to give a different URL with the same name a
    /// deterministic suffix instead of overwriting.
    names: HashMap<String, Url>,
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
        }
    }

    fn io_error(path: &Path, source: std::io::Error) -> SinkError {
        SinkError::Io {
            sink: NAME,
            path: path.to_owned(),
            source,
        }
    }

    /// Where `url` is saved, relative to the folder: the plain name if free (or already this
    /// URL's), else the suffixed one.
    fn claim_path(&mut self, url: &Url, is_html: bool) -> PathBuf {
        let mut parts = match self.layout {
            Layout::Flat => vec![file_name(url, is_html)],
            Layout::Mirror => mirror_path(url, is_html),
        };
        let key = |parts: &[String]| parts.join("/");
        if let Some(owner) = self.names.get(&key(&parts)) {
            if owner != url {
                let last = parts.len() - 1;
                parts[last] = with_collision_suffix(&parts[last], url);
            }
        }
        // Belt and braces: every component must be a single normal path component.
        let safe = parts.iter().all(|part| {
            let mut components = Path::new(part).components();
            matches!(
                (components.next(), components.next()),
                (Some(Component::Normal(_)), None)
            ) && !part.starts_with('.')
        });
        if !safe {
            parts = vec![with_collision_suffix("page", url)];
        }
        self.names.insert(key(&parts), url.clone());
        parts.iter().collect()
    }
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
        let relative = self.claim_path(&record.url, record.is_html);
        let path = self.dir.join(&relative);
        let parent = path.parent().unwrap_or(&self.dir).to_owned();
        if parent != self.dir {
            fs::create_dir_all(&parent).map_err(|e| Self::io_error(&parent, e))?;
        }
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = parent.join(format!(".{file_name}.partial"));
        let mut file = fs::File::create(&temp).map_err(|e| Self::io_error(&temp, e))?;
        body.write_to(&mut file)
            .map_err(|e| Self::io_error(&temp, e))?;
        drop(file);
        fs::rename(&temp, &path).map_err(|e| Self::io_error(&path, e))
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
