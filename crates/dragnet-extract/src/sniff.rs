//! Telling binary data from text in a body that claims to be HTML.
//!
//! Servers label images, archives and executables `text/html` (a default type, an error page
//! handler, a hostile site). Parsing them wastes the CPU pool and can only produce garbage
//! links. Browsers sniff such bodies (WHATWG MIME Sniffing, "binary data byte" and the
//! image, audio/video and archive signatures); this does the same on the first bytes.

/// Bytes looked at, the WHATWG resource header length.
pub const BINARY_SNIFF_LIMIT: usize = 1445;

/// Signatures of common binary formats at offset 0, with the name reported.
const MAGIC: &[(&[u8], &str)] = &[
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"\xFF\xD8\xFF", "jpeg"),
    (b"%PDF-", "pdf"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"\x1F\x8B\x08", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xFD7zXZ\x00", "xz"),
    (b"7z\xBC\xAF\x27\x1C", "7z"),
    (b"Rar!\x1A\x07", "rar"),
    (b"\x7FELF", "elf"),
    (b"MZ", "exe"),
    (b"\x00asm", "wasm"),
    (b"OggS\x00", "ogg"),
    (b"ID3", "mp3"),
    (b"fLaC", "flac"),
    (b"\x1A\x45\xDF\xA3", "webm"),
    (b"wOFF", "woff"),
    (b"wOF2", "woff2"),
    (b"\x00\x00\x01\x00", "ico"),
    (b"BM", "bmp"),
];

/// What binary format `head` (the first bytes of a body) looks like, or `None` for text.
///
/// A known signature names the format (`png`, `pdf`, `zip`, ...); otherwise a WHATWG
/// "binary data byte" (a control character other than tab, newline, form feed, carriage
/// return and escape, NUL included) in the first [`BINARY_SNIFF_LIMIT`] bytes means
/// `binary`. A UTF-16 or UTF-8 byte order mark means text (UTF-16 text is full of NULs).
/// Short all-letter signatures (`MZ`, `BM`, `ID3`, `BZh`) only count when a binary byte
/// follows, so a page starting with the text "BMW" stays text.
pub fn sniff_binary(head: &[u8]) -> Option<&'static str> {
    let head = &head[..head.len().min(BINARY_SNIFF_LIMIT)];
    if head.starts_with(b"\xFE\xFF")
        || head.starts_with(b"\xFF\xFE")
        || head.starts_with(b"\xEF\xBB\xBF")
    {
        return None;
    }
    let has_binary_byte = head.iter().any(|&b| is_binary_data_byte(b));
    for (magic, name) in MAGIC {
        if head.starts_with(magic) && (has_binary_byte || !is_short_text(magic)) {
            return Some(name);
        }
    }
    // RIFF containers (WebP, WAV, AVI) and ISO media (MP4, MOV) carry their type at an offset.
    if head.len() >= 12 && head.starts_with(b"RIFF") {
        return Some(match &head[8..12] {
            b"WEBP" => "webp",
            b"WAVE" => "wav",
            b"AVI " => "avi",
            _ => "riff",
        });
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return Some("mp4");
    }
    has_binary_byte.then_some("binary")
}

fn is_short_text(magic: &[u8]) -> bool {
    magic.len() <= 3 && magic.iter().all(u8::is_ascii_alphanumeric)
}

/// WHATWG: 0x00–0x08, 0x0B, 0x0E–0x1A, 0x1C–0x1F.
fn is_binary_data_byte(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_binary_bytes_are_binary() {
        assert_eq!(sniff_binary(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("png"));
        assert_eq!(sniff_binary(b"%PDF-1.7\n"), Some("pdf"));
        assert_eq!(sniff_binary(b"\x1F\x8B\x08\x00\x00"), Some("gzip"));
        assert_eq!(sniff_binary(b"RIFF\0\0\0\0WEBPVP8 "), Some("webp"));
        assert_eq!(sniff_binary(b"\0\0\0\x18ftypmp42"), Some("mp4"));
        assert_eq!(sniff_binary(b"MZ\x90\0\x03"), Some("exe"));
        assert_eq!(sniff_binary(b"<html>\0</html>"), Some("binary"));
        assert_eq!(sniff_binary(&[0x80, 0x01, 0xFF, 0x10]), Some("binary"));
    }

    #[test]
    fn text_is_not_binary() {
        for text in [
            &b"<!doctype html><p>hi</p>"[..],
            b"",
            b"MZ is a nice name for a band\n",
            b"BMW <b>cars</b>",
            b"ID3 tags explained",
            b"\xEF\xBB\xBF<html>",
            b"\xFF\xFE<\0h\0t\0m\0l\0>\0",
            b"tab\there\r\nform\x0cfeed \x1b[0m escape",
            "Côte d'Ivoire — UTF-8".as_bytes(),
        ] {
            assert_eq!(sniff_binary(text), None, "{text:?}");
        }
        // Only the first bytes count: a NUL far into a page does not make it binary.
        let mut late = vec![b'a'; BINARY_SNIFF_LIMIT];
        late.push(0);
        assert_eq!(sniff_binary(&late), None);
    }
}
