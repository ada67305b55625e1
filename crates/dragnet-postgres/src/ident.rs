//! SQL identifiers from user input (table and field names): validated, then always quoted.

/// Longest identifier: PostgreSQL silently truncates longer ones (`NAMEDATALEN - 1`), which
/// could merge two columns into one.
pub const MAX_IDENTIFIER_LEN: usize = 63;

/// Columns the sink always writes, which a field may not take.
const RESERVED: &[&str] = &["url", "fetched_at"];

/// `name` as a quoted identifier: `"name"`, with `"` doubled. Case and every character are
/// kept; the quotes make keywords and punctuation harmless.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn check(kind: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("the {kind} name is empty"));
    }
    if name.len() > MAX_IDENTIFIER_LEN {
        return Err(format!(
            "the {kind} name {name:?} is longer than {MAX_IDENTIFIER_LEN} bytes"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("the {kind} name {name:?} has control characters"));
    }
    Ok(())
}

/// `table` or `schema.table`, checked and quoted.
pub(crate) fn qualified_table(table: &str) -> Result<String, String> {
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() > 2 {
        return Err(format!(
            "the table {table:?} should be `table` or `schema.table`"
        ));
    }
    for part in &parts {
        check("table", part)?;
    }
    Ok(parts
        .iter()
        .map(|p| quote_identifier(p))
        .collect::<Vec<_>>()
        .join("."))
}

/// Field names: each valid, none reserved, none twice.
pub(crate) fn check_fields(fields: &[String]) -> Result<(), String> {
    for (i, field) in fields.iter().enumerate() {
        check("field", field)?;
        if RESERVED.contains(&field.as_str()) {
            return Err(format!(
                "the field name {field:?} is one of the columns url, fetched_at"
            ));
        }
        if fields[..i].contains(field) {
            return Err(format!("the field name {field:?} is used twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_names_and_neutralises_quotes() {
        assert_eq!(quote_identifier("Population"), "\"Population\"");
        assert_eq!(
            quote_identifier("x\"; DROP TABLE t; --"),
            "\"x\"\"; DROP TABLE t; --\""
        );
        assert_eq!(qualified_table("s.t").unwrap(), "\"s\".\"t\"");
        assert!(qualified_table("s.").is_err());
        assert!(qualified_table(&"t".repeat(64)).is_err());
        assert!(
            check_fields(&["a".into(), "A".into()]).is_ok(),
            "case matters"
        );
        assert!(check_fields(&["fetched_at".into()]).is_err());
    }
}
