//! How a job's data is laid out in Redis: key names, fingerprints and queue entries.
//!
//! The key layout is in the crate docs.
//!
//! A queue entry is `fingerprint \t depth \t expiries \t url`: the URL as found (what gets
//! requested), its depth, and how many times a lease on it expired (a URL that kills its
//! workers is given up on after a few). The canonical key is not stored: every worker derives
//! it from the URL with the job's canonicaliser, and the fingerprint in the entry lets
//! `complete` check that a lease is presented for the URL it was issued for.

use dragnet::CrawlRequest;
use url::Url;
use xxhash_rust::xxh3::xxh3_64;

/// The seen-set is split into `2^SEEN_BUCKET_BITS` small SETs. Redis keeps a SET of at most
/// `set-max-intset-entries` (default 512) integers as a packed array of 8-byte integers, so up
/// to 2^16 × 512 ≈ 33 M URLs cost ~8 bytes each plus a fixed ~6 MB of key overhead; one big
/// SET would be a hash table at ~60 bytes per URL. Past that, buckets turn into hash tables one
/// by one (raise `set-max-intset-entries` to keep them packed).
const SEEN_BUCKET_BITS: u32 = 16;

/// The key prefix of a job: `dragnet:{job}:`.
pub(crate) fn prefix(job: &str) -> String {
    format!("dragnet:{{{job}}}:")
}

/// Job names become part of every key and of SCAN patterns, so only a plain alphabet is
/// allowed (no braces, which would break the hash tag, and no glob characters).
pub(crate) fn valid_job(job: &str) -> bool {
    !job.is_empty()
        && job.len() <= 100
        && job
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The 64-bit fingerprint of a canonical key, signed so Redis stores it as an integer.
/// Two keys share a fingerprint with probability ~n²/2^65 (about 3 % at a billion URLs); the
/// later one would be taken for a duplicate.
pub(crate) fn fingerprint(key: &str) -> i64 {
    // Reinterpreting the bits is the point: Redis integers are signed 64-bit.
    xxh3_64(key.as_bytes()) as i64
}

/// The seen-set bucket of a fingerprint (computed here: Lua numbers are doubles and cannot
/// hold 64-bit integers).
pub(crate) fn bucket(fp: i64) -> u64 {
    (fp as u64) >> (64 - SEEN_BUCKET_BITS)
}

/// A request as the Lua scripts take it: four arguments (bucket, fingerprint, host, entry).
pub(crate) fn push_args(args: &mut Vec<String>, key: &str, request: &CrawlRequest) {
    let fp = fingerprint(key);
    args.push(bucket(fp).to_string());
    args.push(fp.to_string());
    args.push(request.host_key());
    args.push(format!("{fp}\t{}\t0\t{}", request.depth, request.url));
}

/// A queue entry read back: the request and its fingerprint.
pub(crate) fn parse_entry(entry: &str) -> Option<CrawlRequest> {
    let mut fields = entry.splitn(4, '\t');
    let _fp = fields.next()?;
    let depth = fields.next()?.parse().ok()?;
    let _expiries = fields.next()?;
    let url = Url::parse(fields.next()?).ok()?;
    Some(CrawlRequest { url, depth })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let request = CrawlRequest {
            url: Url::parse("http://Example.com:8080/a b?q=1#f").expect("literal"),
            depth: 7,
        };
        let mut args = Vec::new();
        push_args(&mut args, "http://example.com:8080/a%20b?q=1", &request);
        assert_eq!(args.len(), 4);
        assert_eq!(args[2], "example.com:8080");
        assert_eq!(parse_entry(&args[3]), Some(request));
        let fp: i64 = args[1].parse().expect("integer");
        assert!(args[3].starts_with(&format!("{fp}\t")));
        assert!(args[0].parse::<u64>().expect("bucket") < 1 << SEEN_BUCKET_BITS);
    }

    #[test]
    fn job_names_are_checked() {
        assert!(valid_job("crawl-2026.01_a"));
        assert!(!valid_job(""));
        assert!(!valid_job("a}b"));
        assert!(!valid_job("a*"));
        assert_eq!(prefix("j"), "dragnet:{j}:");
    }
}
