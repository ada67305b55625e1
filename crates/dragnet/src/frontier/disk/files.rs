//! Checks of the raw store files, before SQLite opens them.
//!
//! SQLite pages carry no checksums, and SQLite treats a write-ahead log (WAL) that breaks off
//! as a torn write: it silently keeps the part before the break. That is right after a crash,
//! where only the unfinished (never acknowledged) tail can be torn, but wrong when the files
//! were cut or overwritten afterwards: acknowledged completions would vanish without a word.
//! These checks tell the two apart where the file layout allows:
//!
//! - WAL header garbled while the log holds frames: SQLite would drop every frame.
//! - A frame fails its checksum and a later frame of the same generation (same salts) is a
//!   commit frame: commits after the break were acknowledged and would be dropped. A torn
//!   crash write cannot do this, because commits are fsynced in order.
//! - Main file shorter than its header says, or not a whole number of pages, while the WAL
//!   holds no commits that could supply the missing pages.
//!
//! A WAL that merely ends early (cut mid-frame, or mid-transaction) is what a crash leaves:
//! SQLite rolls back to the last whole commit, a consistent earlier state; we log a warning.
//! Layouts: <https://www.sqlite.org/fileformat2.html> §1.3 (header) and §4 (WAL).

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::Path;

/// SQLite's WAL header size and per-frame header size.
const WAL_HEADER: usize = 32;
const FRAME_HEADER: usize = 24;
/// The WAL format version SQLite has written since 3.7.0.
const WAL_VERSION: u32 = 3_007_000;

/// What the raw files say, when they are sound.
#[derive(Debug, Default)]
pub(super) struct FileReport {
    /// The WAL ends in a partial frame (a torn or cut tail): SQLite drops it.
    pub(super) wal_tail_dropped: bool,
}

/// Checks `db` and its `-wal` file. `Err` is a description of the damage, for
/// [`super::damaged`].
pub(super) fn check(db: &Path) -> Result<FileReport, String> {
    let header = read_db_header(db)?;
    let wal_path = db.with_file_name(format!(
        "{}-wal",
        db.file_name().and_then(|n| n.to_str()).unwrap_or_default()
    ));
    let wal = check_wal(&wal_path, header.as_ref().map(|h| h.page_size))?;
    if let Some(header) = header {
        // Pages missing from the main file are fine while the WAL can still supply them
        // (a checkpoint was cut short); with no commits in the WAL, nothing can.
        if !wal.has_commits {
            header.check_size()?;
        }
    }
    Ok(FileReport {
        wal_tail_dropped: wal.partial_tail,
    })
}

struct DbHeader {
    len: u64,
    page_size: usize,
    /// The page count in the header, when SQLite marks it valid.
    pages: Option<u64>,
}

impl DbHeader {
    fn check_size(&self) -> Result<(), String> {
        if self.len % self.page_size as u64 != 0 {
            return Err(format!(
                "its main file was cut mid-page: {} bytes is not a whole number of {}-byte pages",
                self.len, self.page_size
            ));
        }
        if let Some(pages) = self.pages {
            let have = self.len / self.page_size as u64;
            if have < pages {
                return Err(format!(
                    "its main file was cut short: {have} of {pages} pages are left"
                ));
            }
        }
        Ok(())
    }
}

/// Reads the 100-byte database header. `Ok(None)`: no main file yet, or an empty one (a new
/// store keeps everything in the WAL until the first checkpoint).
fn read_db_header(db: &Path) -> Result<Option<DbHeader>, String> {
    let mut file = match File::open(db) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("its main file cannot be read: {e}")),
    };
    let len = file
        .metadata()
        .map_err(|e| format!("its main file cannot be read: {e}"))?
        .len();
    if len == 0 {
        return Ok(None);
    }
    let mut buf = [0u8; 100];
    if len < buf.len() as u64 {
        return Err(format!(
            "its main file was cut to {len} bytes, shorter than its header"
        ));
    }
    file.read_exact(&mut buf)
        .map_err(|e| format!("its main file cannot be read: {e}"))?;
    if &buf[..16] != b"SQLite format 3\0" {
        return Err("its main file is not an SQLite database (bad header)".into());
    }
    let page_size = match u16::from_be_bytes([buf[16], buf[17]]) {
        1 => 65_536,
        n if n >= 512 && n.is_power_of_two() => usize::from(n),
        n => return Err(format!("its main file's header is garbled (page size {n})")),
    };
    // The in-header page count is valid only when the change counter (offset 24) equals
    // the version-valid-for number (offset 92) and the count is non-zero.
    let pages = u64::from(be32(&buf[28..32]));
    let valid = buf[24..28] == buf[92..96] && pages > 0;
    Ok(Some(DbHeader {
        len,
        page_size,
        pages: valid.then_some(pages),
    }))
}

#[derive(Default)]
struct WalReport {
    has_commits: bool,
    partial_tail: bool,
}

fn check_wal(path: &Path, db_page_size: Option<usize>) -> Result<WalReport, String> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(WalReport::default()),
        Err(e) => return Err(format!("its write-ahead log cannot be read: {e}")),
    };
    let len = file
        .metadata()
        .map_err(|e| format!("its write-ahead log cannot be read: {e}"))?
        .len();
    if len == 0 {
        return Ok(WalReport::default());
    }
    // SQLite writes the 32-byte header in one write, so a crash cannot leave less of it.
    if len < WAL_HEADER as u64 {
        return Err(format!(
            "its write-ahead log was cut to {len} bytes, shorter than its header"
        ));
    }
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut head = [0u8; WAL_HEADER];
    read(&mut reader, &mut head)?;
    let Some(wal) = WalHeader::parse(&head) else {
        // Unreadable header: SQLite would ignore the whole log. Harmless only if the log
        // holds no frame at all.
        let page_size = db_page_size.unwrap_or(4096);
        if len >= (WAL_HEADER + FRAME_HEADER + page_size) as u64 {
            return Err(format!(
                "its write-ahead log's header is garbled, so the {len}-byte log would be ignored"
            ));
        }
        return Ok(WalReport::default());
    };
    let frame_len = FRAME_HEADER + wal.page_size;
    let frames = (len - WAL_HEADER as u64) / frame_len as u64;
    let mut report = WalReport {
        partial_tail: (len - WAL_HEADER as u64) % frame_len as u64 != 0,
        ..WalReport::default()
    };
    let mut frame = vec![0u8; frame_len];
    let mut sum = wal.checksum;
    let mut broken_at = None;
    for index in 0..frames {
        read(&mut reader, &mut frame)?;
        let same_generation = frame[8..16] == wal.salts;
        let commit = be32(&frame[4..8]) != 0;
        match broken_at {
            None => {
                let next = checksum(wal.big_endian, sum, &frame[..8]);
                let next = checksum(wal.big_endian, next, &frame[FRAME_HEADER..]);
                let stored = (be32(&frame[16..20]), be32(&frame[20..24]));
                if same_generation && stored == next && be32(&frame[..4]) != 0 {
                    sum = next;
                    report.has_commits |= commit;
                } else {
                    broken_at = Some(index);
                }
            }
            Some(at) if same_generation && commit => {
                return Err(format!(
                    "its write-ahead log is garbled at frame {at}, before later commits"
                ));
            }
            Some(_) => {}
        }
    }
    Ok(report)
}

struct WalHeader {
    big_endian: bool,
    page_size: usize,
    salts: [u8; 8],
    checksum: (u32, u32),
}

impl WalHeader {
    fn parse(head: &[u8; WAL_HEADER]) -> Option<Self> {
        let big_endian = match be32(&head[0..4]) {
            0x377f_0682 => false,
            0x377f_0683 => true,
            _ => return None,
        };
        let page_size = match be32(&head[8..12]) {
            1 => 65_536,
            n if (512..=65_536).contains(&n) && n.is_power_of_two() => n as usize,
            _ => return None,
        };
        let checksum = (be32(&head[24..28]), be32(&head[28..32]));
        let valid = be32(&head[4..8]) == WAL_VERSION
            && self::checksum(big_endian, (0, 0), &head[..24]) == checksum;
        valid.then(|| Self {
            big_endian,
            page_size,
            salts: [
                head[16], head[17], head[18], head[19], head[20], head[21], head[22], head[23],
            ],
            checksum,
        })
    }
}

/// SQLite's WAL checksum (fileformat2 §4.3): a Fletcher-like sum over 32-bit words in the
/// byte order the magic number names. `data.len()` is a multiple of 8.
fn checksum(big_endian: bool, (mut s0, mut s1): (u32, u32), data: &[u8]) -> (u32, u32) {
    let word = |b: &[u8]| {
        let b = [b[0], b[1], b[2], b[3]];
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    for pair in data.chunks_exact(8) {
        s0 = s0.wrapping_add(word(&pair[..4])).wrapping_add(s1);
        s1 = s1.wrapping_add(word(&pair[4..])).wrapping_add(s0);
    }
    (s0, s1)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn read(reader: &mut impl Read, buf: &mut [u8]) -> Result<(), String> {
    reader
        .read_exact(buf)
        .map_err(|e| format!("its write-ahead log cannot be read: {e}"))
}
