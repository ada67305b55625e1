//! The outputs beyond saved pages and the pages log: WARC archives and extracted items
//! (JSONL, CSV or PostgreSQL). Built here because the PostgreSQL sink lives in its own crate.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use dragnet::Config;
use dragnet::sink::{ItemsCsv, ItemsJsonl, Sink, WarcSink};
use dragnet_extract::ItemRules;
use dragnet_postgres::PostgresItems;

use crate::args::OutputArgs;
use crate::settings::parse_size;

/// Reads the item rules into `config` (they run in the same parse as link following).
pub(crate) fn apply_items(config: &mut Config, output: &OutputArgs) -> Result<()> {
    if output.fields.is_empty() {
        if output.item.is_some() || output.items.is_some() {
            bail!("--item and --items need at least one --extract NAME=CSS");
        }
        return Ok(());
    }
    let fields: Vec<&str> = output.fields.iter().map(String::as_str).collect();
    let rules = ItemRules::parse(output.item.as_deref(), &fields).context("--item/--extract")?;
    config.items = Some(rules);
    Ok(())
}

/// Opens the WARC and items outputs. `worker` names this process's files when several
/// workers share a job (each writes its own; a PostgreSQL table is shared).
pub(crate) fn open(
    config: &Config,
    output: &OutputArgs,
    worker: Option<&str>,
) -> Result<Vec<Box<dyn Sink>>> {
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if let Some(target) = &output.warc {
        let max = parse_size(&output.warc_max_size).context("--warc-max-size")?;
        let sink = if is_warc_file(target) {
            WarcSink::create(per_worker(target, worker))
        } else {
            std::fs::create_dir_all(target)
                .with_context(|| format!("cannot create {}", target.display()))?;
            WarcSink::rotating(target, worker.unwrap_or("dragnet"), max)
        }
        .with_context(|| format!("cannot write WARC to {}", target.display()))?;
        sinks.push(Box::new(sink.with_info_field(
            "software",
            concat!("dragnet/", env!("CARGO_PKG_VERSION")),
        )));
    }
    if let Some(target) = &output.items {
        let Some(rules) = &config.items else {
            bail!("--items needs at least one --extract NAME=CSS");
        };
        let names = rules.field_names();
        let sink: Box<dyn Sink> = if target.starts_with("postgres://")
            || target.starts_with("postgresql://")
        {
            Box::new(
                PostgresItems::connect(target, &output.items_table, names).with_context(|| {
                    format!(
                        "cannot write items to PostgreSQL table {:?}",
                        output.items_table
                    )
                })?,
            )
        } else {
            let path = per_worker(Path::new(target), worker);
            if target.ends_with(".csv") {
                Box::new(
                    ItemsCsv::create(&path, names)
                        .with_context(|| format!("cannot write {}", path.display()))?,
                )
            } else {
                Box::new(
                    ItemsJsonl::create(&path)
                        .with_context(|| format!("cannot write {}", path.display()))?,
                )
            }
        };
        sinks.push(sink);
    }
    Ok(sinks)
}

fn is_warc_file(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".warc") || name.ends_with(".warc.gz")
}

/// `items.csv` → `items-WORKER.csv` (before the first dot of the name, so `.warc.gz` stays whole).
fn per_worker(path: &Path, worker: Option<&str>) -> PathBuf {
    let Some(worker) = worker else {
        return path.to_owned();
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (stem, ext) = name
        .split_once('.')
        .map_or((name.as_str(), ""), |(s, e)| (s, e));
    let dotted = if ext.is_empty() {
        String::new()
    } else {
        format!(".{ext}")
    };
    path.with_file_name(format!("{stem}-{worker}{dotted}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_file_names() {
        assert_eq!(
            per_worker(Path::new("out/a.warc.gz"), Some("w1")),
            PathBuf::from("out/a-w1.warc.gz")
        );
        assert_eq!(
            per_worker(Path::new("items.csv"), None),
            PathBuf::from("items.csv")
        );
        assert_eq!(
            per_worker(Path::new("items"), Some("w")),
            PathBuf::from("items-w")
        );
    }
}
