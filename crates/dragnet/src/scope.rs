//! Which URLs belong in the crawl: the scope relative to the seeds, `--allow`/`--deny`
//! patterns, crawler-trap guards and the per-host page budget. Applied to discovered links
//! (dropped with a counted reason) and to redirect targets (the URL is skipped with it).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use dragnet_extract::{Scope, TrapGuard};
use regex::Regex;
use url::Url;

use crate::config::Config;
use crate::fetch::FailureKind;
use crate::request::host_key;

/// The crawl's admission rules.
#[derive(Debug)]
pub struct ScopeRules {
    scope: Scope,
    /// One representative seed per distinct scope key, so a crawl seeded from a 50,000-URL
    /// sitemap checks a handful of origins per link, not 50,000 seeds.
    anchors: Vec<Url>,
    allow: Vec<Regex>,
    deny: Vec<Regex>,
    traps: TrapGuard,
    max_per_host: Option<u64>,
    /// URLs admitted per host, for the budget. Only touched when a budget is set.
    admitted: Mutex<HashMap<String, u64>>,
}

impl ScopeRules {
    /// Rules for `config`, anchored at `seeds`.
    pub fn new(config: &Config, seeds: &[Url]) -> Self {
        let mut keys = HashSet::new();
        let anchors = seeds
            .iter()
            .filter(|seed| keys.insert(scope_key(config.scope, seed)))
            .cloned()
            .collect();
        Self {
            scope: config.scope,
            anchors,
            allow: config.allow.clone(),
            deny: config.deny.clone(),
            traps: config.traps,
            max_per_host: config.max_pages_per_host,
            admitted: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `url` may be crawled (scope, patterns, traps); the budget is not consulted.
    ///
    /// # Errors
    /// The skip reason.
    pub fn check(&self, url: &Url) -> Result<(), FailureKind> {
        if !self
            .anchors
            .iter()
            .any(|anchor| self.scope.allows(anchor, url))
        {
            return Err(FailureKind::OutOfScope);
        }
        let text = url.as_str();
        if self.deny.iter().any(|re| re.is_match(text))
            || (!self.allow.is_empty() && !self.allow.iter().any(|re| re.is_match(text)))
        {
            return Err(FailureKind::DeniedByPattern);
        }
        self.traps
            .check(url)
            .map_err(|reason| FailureKind::Trap(reason.label()))
    }

    /// [`ScopeRules::check`] plus the per-host budget, which this counts against. For
    /// discovered links, which may be duplicates: a duplicate spends budget too, erring on
    /// the side of fetching less.
    ///
    /// # Errors
    /// The drop reason's label.
    pub fn admit_link(&self, url: &Url) -> Result<(), String> {
        self.check(url).map_err(|kind| kind.label())?;
        if let Some(max) = self.max_per_host {
            let mut admitted = self.admitted.lock().unwrap_or_else(|p| p.into_inner());
            let count = admitted.entry(host_key(url)).or_default();
            if *count >= max {
                return Err("host_budget".to_owned());
            }
            *count += 1;
        }
        Ok(())
    }

    /// Counts seeds against their hosts' budgets.
    pub fn count_seeds(&self, seeds: &[Url]) {
        if self.max_per_host.is_some() {
            let mut admitted = self.admitted.lock().unwrap_or_else(|p| p.into_inner());
            for seed in seeds {
                *admitted.entry(host_key(seed)).or_default() += 1;
            }
        }
    }
}

/// Seeds with the same key have the same scope, so one of them stands for all.
fn scope_key(scope: Scope, seed: &Url) -> String {
    match scope {
        Scope::Any => String::new(),
        Scope::Prefix => {
            let path = seed.path();
            format!(
                "{}{}",
                seed.origin().ascii_serialization(),
                &path[..path.rfind('/').map_or(0, |i| i + 1)]
            )
        }
        _ => host_key(seed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn scope_patterns_traps_and_budget() {
        let mut config = Config::new(vec![url("http://a.test/wiki/List")]);
        config.deny = vec![Regex::new("/Special:").unwrap()];
        config.max_pages_per_host = Some(2);
        let seeds = config.seeds.clone();
        let rules = ScopeRules::new(&config, &seeds);
        rules.count_seeds(&seeds);
        assert_eq!(
            rules.check(&url("http://b.test/x")),
            Err(FailureKind::OutOfScope)
        );
        assert_eq!(
            rules.check(&url("http://a.test/wiki/Special:Random")),
            Err(FailureKind::DeniedByPattern)
        );
        assert_eq!(
            rules
                .check(&url("http://a.test/a/b/a/b/a/b/a/b/a/b"))
                .unwrap_err()
                .label(),
            "trap_repeated_path"
        );
        assert!(rules.admit_link(&url("http://a.test/wiki/China")).is_ok());
        assert_eq!(
            rules
                .admit_link(&url("http://a.test/wiki/India"))
                .unwrap_err(),
            "host_budget"
        );
    }

    #[test]
    fn allow_patterns_restrict_and_many_seeds_collapse() {
        let seeds: Vec<Url> = (0..1000)
            .map(|i| url(&format!("http://a.test/p/{i}")))
            .collect();
        let mut config = Config::new(seeds.clone());
        config.allow = vec![Regex::new(r"/p/\d+$").unwrap()];
        let rules = ScopeRules::new(&config, &seeds);
        assert_eq!(rules.anchors.len(), 1);
        assert!(rules.check(&url("http://a.test/p/5")).is_ok());
        assert!(rules.check(&url("http://a.test/q/5")).is_err());
    }
}
