//! Prompt templates: `{order.amount|rupees}` reads the call context (or `slots.*`) and
//! speaks it naturally.

use std::collections::BTreeMap;

use serde_json::Value;

use super::speak;

/// A `{path|filter}` reference in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub path: String,
    pub filter: Option<String>,
}

const FILTERS: [&str; 7] = ["rupees", "date", "digits", "window", "items", "lower", "when"];

/// Parses a template into its references; errors name the problem.
pub fn references(template: &str) -> Result<Vec<Reference>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').ok_or_else(|| format!("unclosed '{{' in {template:?}"))? + open;
        let inner = &rest[open + 1..close];
        let (path, filter) = match inner.split_once('|') {
            Some((p, f)) => (p.trim(), Some(f.trim().to_string())),
            None => (inner.trim(), None),
        };
        if path.is_empty() || !path.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_') {
            return Err(format!("bad reference {{{inner}}}"));
        }
        if let Some(f) = &filter {
            if !FILTERS.contains(&f.as_str()) {
                return Err(format!("unknown filter {f:?} (known: {})", FILTERS.join(", ")));
            }
        }
        out.push(Reference { path: path.into(), filter });
        rest = &rest[close + 1..];
    }
    Ok(out)
}

pub(crate) fn lookup<'a>(ctx: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(ctx, |v, key| match (v, key.parse::<usize>()) {
        (Value::Array(items), Ok(i)) => items.get(i),
        _ => v.get(key),
    })
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(" and "),
        Value::Object(o) => o.get("name").map(plain).unwrap_or_default(),
        Value::Null => String::new(),
    }
}

fn items(v: &Value) -> String {
    let Some(list) = v.as_array() else { return plain(v) };
    let spoken: Vec<String> = list
        .iter()
        .map(|i| {
            let name = i.get("name").map(plain).unwrap_or_else(|| plain(i));
            match i.get("qty").and_then(Value::as_u64) {
                Some(q) if q > 1 => format!("{} {name}", speak::number_words(q)),
                _ => name,
            }
        })
        .collect();
    match spoken.len() {
        0 => String::new(),
        1 => spoken[0].clone(),
        n => format!("{} and {}", spoken[..n - 1].join(", "), spoken[n - 1]),
    }
}

/// Renders with the context and the call's slots; a missing value is an error naming it.
pub fn render(template: &str, ctx: &Value, slots: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    for r in references(template)? {
        let open = rest.find('{').expect("reference found above");
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').expect("closed") + open;
        rest = &rest[close + 1..];
        let value = match r.path.strip_prefix("slots.") {
            Some(slot) => slots.get(slot).map(|s| Value::String(s.clone())),
            None => lookup(ctx, &r.path).cloned(),
        }
        .filter(|v| !v.is_null())
        .ok_or_else(|| format!("missing {}", r.path))?;
        let text = match r.filter.as_deref() {
            Some("rupees") => speak::rupees(&plain(&value)).ok_or_else(|| format!("{} is not an amount", r.path))?,
            Some("date") => {
                let dates: Vec<Value> = value.as_array().cloned().unwrap_or_else(|| vec![value.clone()]);
                let spoken = dates
                    .iter()
                    .map(|d| speak::date(&plain(d)))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| format!("{} is not a YYYY-MM-DD date", r.path))?;
                spoken.join(" or ")
            }
            Some("digits") => speak::digits(&plain(&value)),
            Some("window") => {
                speak::window(&plain(&value)).ok_or_else(|| format!("{} is not an HH:MM-HH:MM window", r.path))?
            }
            Some("items") => items(&value),
            Some("when") => {
                let today = lookup(ctx, "call.now")
                    .and_then(Value::as_str)
                    .and_then(|n| chrono::DateTime::parse_from_rfc3339(n).ok())
                    .map(|n| n.date_naive());
                speak::when(&plain(&value), today).ok_or_else(|| format!("{} is not an RFC 3339 time", r.path))?
            }
            Some("lower") => plain(&value).to_lowercase(),
            _ => plain(&value),
        };
        out.push_str(&text);
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_context_and_slots() {
        let ctx = serde_json::json!({"customer": {"name": "Priya"}, "order": {"id": "ORD-7", "amount": "1499", "items": [{"name": "running shoes", "qty": 1}, {"name": "socks", "qty": 2}]}});
        let mut slots = BTreeMap::new();
        slots.insert("date".to_string(), "2026-11-28".to_string());
        let t = "Hi {customer.name}, order {order.id|digits}: {order.items|items} for {order.amount|rupees}, on {slots.date|date}.";
        assert_eq!(
            render(t, &ctx, &slots).unwrap(),
            "Hi Priya, order O R D, seven: running shoes and two socks for one thousand four hundred ninety-nine rupees, on Saturday, November twenty-eighth."
        );
        assert_eq!(render("{order.address}", &ctx, &slots).unwrap_err(), "missing order.address");
        assert!(references("{x|shout}").is_err());
        assert!(references("oops {x").is_err());
    }
}
