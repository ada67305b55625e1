#![no_main]
use dragnet_extract::{Robots, RobotsStatus, product_token, robots_url};
use libfuzzer_sys::fuzz_target;
use url::Url;
fuzz_target!(|data: &[u8]| {
    // body \xff path \xff agent
    let mut parts = data.splitn(3, |&b| b == 0xff);
    let body = parts.next().unwrap_or_default();
    let path = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let agent = String::from_utf8_lossy(parts.next().unwrap_or(b"dragnet/1.0")).into_owned();
    let robots = Robots::parse(body);
    let _ = robots.allowed_path(&agent, &path);
    let _ = robots.allowed_path("*", &path);
    let _ = robots.crawl_delay(&agent);
    let _ = robots.sitemaps();
    let _ = product_token(&agent);
    let base = Url::parse("https://h.example/").unwrap();
    if let Ok(u) = base.join(&path) {
        let _ = robots.allowed(&agent, &u);
        let r = robots_url(&u);
        let _ = r.as_str();
    }
    let st = RobotsStatus::from_http(200, body);
    let _ = st.allowed_path(&agent, &path);
    let _ = RobotsStatus::Unreachable.allowed_path(&agent, &path);
});
