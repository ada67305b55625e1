//! Saves each page's body in one folder as `<last path segment>.html` (the reference job's
//! layout). Names come from [`dragnet_extract::file_name`], which cannot produce a path
//! separator; this sink checks again before writing, and writes through a temporary file
//! and a rename so a crash never leaves half a page under the final name.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use dragnet_extract::{file_name, with_collision_suffix};
use url::Url;

use super::{PageRecord, Sink, SinkError};

const NAME: &str = "files";

/// Writes bodies of successful pages into a folder.
#[derive(Debug)]
pub struct FilesSink {
    dir: PathBuf,
    /// Saved name → the URL saved under it, to give a different URL with the same name a
    /// deterministic suffix instead of overwriting.
    names: HashMap<String, Url>,
}

impl FilesSink {
    /// A sink writing into `dir`, which must exist.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
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

    /// The name for `url`: the plain name if free (or already this URL's), else the
    /// suffixed one.
    fn claim_name(&mut self, url: &Url, is_html: bool) -> String {
        let plain = file_name(url, is_html);
        let name = match self.names.get(&plain) {
            Some(owner) if owner != url => with_collision_suffix(&plain, url),
            _ => plain,
        };
        // Belt and braces: the name must be a single normal path component.
        let mut components = Path::new(&name).components();
        let single = matches!(
            (components.next(), components.next()),
            (Some(Component::Normal(_)), None)
        );
        let name = if single && !name.starts_with('.') {
            name
        } else {
            with_collision_suffix("page", url)
        };
        self.names.insert(name.clone(), url.clone());
        name
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
        let name = self.claim_name(&record.url, record.is_html);
        let path = self.dir.join(&name);
        let temp = self.dir.join(format!(".{name}.partial"));
        let mut file = fs::File::create(&temp).map_err(|e| Self::io_error(&temp, e))?;
        file.write_all(body).map_err(|e| Self::io_error(&temp, e))?;
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
