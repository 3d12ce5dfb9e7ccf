//! Import files: `customers`, `orders`, `returns`, `deliveries`, `tickets`, each as `.csv`
//! (a header row; columns matched by name in any order) or `.jsonl` (one JSON object a
//! line; lists as `a; b` or arrays). Pure: text in, rows and refusals out.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::rows::{Columns, Customer, Delivery, Order, Return, RowError, Ticket};

/// The kinds, in the order they import (a row's references come before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Customers,
    Orders,
    Returns,
    Deliveries,
    Tickets,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Customers, Kind::Orders, Kind::Returns, Kind::Deliveries, Kind::Tickets];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::Orders => "orders",
            Kind::Returns => "returns",
            Kind::Deliveries => "deliveries",
            Kind::Tickets => "tickets",
        }
    }

    /// `orders.csv` -> (orders, csv).
    pub fn of_file(name: &str) -> Option<(Kind, Format)> {
        let (stem, ext) = name.rsplit_once('.')?;
        let format = match ext {
            "csv" => Format::Csv,
            "jsonl" => Format::Jsonl,
            _ => return None,
        };
        Kind::ALL.into_iter().find(|k| k.name() == stem).map(|k| (k, format))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

/// A refused row: where it is and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub file: String,
    pub line: u64,
    pub field: Option<String>,
    pub reason: String,
}

/// A typed row and the line it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<T> {
    pub line: u64,
    pub row: T,
}

/// Everything one import read, typed, before the store checks references.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub customers: Vec<Line<Customer>>,
    pub orders: Vec<Line<Order>>,
    pub returns: Vec<Line<Return>>,
    pub deliveries: Vec<Line<Delivery>>,
    pub tickets: Vec<Line<Ticket>>,
    /// The file each kind came from, for the store's refusals.
    pub files: BTreeMap<Kind, String>,
    pub rejected: Vec<Rejected>,
}

/// A JSON value as column text: lists joined with `; `, null as empty.
pub(super) fn column_text(v: Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s,
        Value::Array(items) => items.into_iter().map(column_text).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}

/// Rows as (line, columns) or a refusal of the line.
fn records(text: &str, format: Format) -> Vec<(u64, Result<Columns, RowError>)> {
    match format {
        Format::Jsonl => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                let columns = match serde_json::from_str::<Value>(l) {
                    Ok(Value::Object(map)) => Ok(Columns::new(
                        map.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), column_text(v))).collect(),
                    )),
                    Ok(_) => Err(RowError::row("not a JSON object")),
                    Err(e) => Err(RowError::row(format!("not JSON: {e}"))),
                };
                (i as u64 + 1, columns)
            })
            .collect(),
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::Headers).from_reader(text.as_bytes());
            let headers: Vec<String> = match reader.headers() {
                Ok(h) => h.iter().map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase()).collect(),
                Err(e) => return vec![(1, Err(RowError::row(format!("unreadable header row: {e}"))))],
            };
            let mut seen = HashMap::new();
            if let Some(dup) = headers.iter().find(|h| seen.insert(h.as_str(), ()).is_some()) {
                return vec![(1, Err(RowError::field(dup, "the column appears twice in the header")))];
            }
            let mut out = Vec::new();
            let mut record = csv::StringRecord::new();
            loop {
                match reader.read_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => {
                        let line = record.position().map_or(0, |p| p.line());
                        let columns = headers.iter().cloned().zip(record.iter().map(String::from)).collect();
                        out.push((line, Ok(Columns::new(columns))));
                    }
                    Err(e) => {
                        let line = e.position().map_or(0, |p| p.line());
                        let reason = match e.kind() {
                            csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                                format!("{len} fields where the header has {expected_len}")
                            }
                            csv::ErrorKind::Utf8 { .. } => "not UTF-8".to_string(),
                            _ => format!("malformed CSV: {e}"),
                        };
                        out.push((line, Err(RowError::row(reason))));
                        // The reader can go on after a bad record; an I/O error cannot happen on text.
                        if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }) {
                            break;
                        }
                    }
                }
            }
            out
        }
    }
}

/// Reads one file into its typed rows, refusing bad rows and later duplicates of an id.
fn read<T>(
    file: &str,
    text: &str,
    format: Format,
    typed: impl Fn(Columns) -> Result<T, RowError>,
    key: impl Fn(&T) -> &str,
    rejected: &mut Vec<Rejected>,
) -> Vec<Line<T>> {
    let mut rows = Vec::new();
    let mut first: HashMap<String, u64> = HashMap::new();
    for (line, columns) in records(text, format) {
        let refuse = |e: RowError| Rejected { file: file.into(), line, field: e.field, reason: e.reason };
        match columns.and_then(&typed) {
            Ok(row) => match first.get(key(&row)) {
                Some(&earlier) => rejected.push(refuse(RowError::field(
                    "id",
                    format!("duplicate id {:?} (first on line {earlier})", key(&row)),
                ))),
                None => {
                    first.insert(key(&row).to_string(), line);
                    rows.push(Line { line, row });
                }
            },
            Err(e) => rejected.push(refuse(e)),
        }
    }
    rows
}

impl Batch {
    /// Adds one file's rows. `file` is its name (`orders.csv`); a name that is not one of
    /// the kinds is refused as a whole.
    pub fn add(&mut self, file: &str, text: &str) {
        let Some((kind, format)) = Kind::of_file(file) else {
            self.rejected.push(Rejected {
                file: file.into(),
                line: 0,
                field: None,
                reason: "not an import file (customers, orders, returns, deliveries or tickets, .csv or .jsonl)".into(),
            });
            return;
        };
        self.files.insert(kind, file.to_string());
        let r = &mut self.rejected;
        match kind {
            Kind::Customers => self.customers.extend(read(file, text, format, Customer::read, |c| &c.id, r)),
            Kind::Orders => self.orders.extend(read(file, text, format, Order::read, |o| &o.id, r)),
            Kind::Returns => self.returns.extend(read(file, text, format, Return::read, |x| &x.id, r)),
            Kind::Deliveries => self.deliveries.extend(read(file, text, format, Delivery::read, |d| &d.order_id, r)),
            Kind::Tickets => self.tickets.extend(read(file, text, format, Ticket::read, |t| &t.id, r)),
        }
    }

    /// Refuses a row the store found bad (a reference to nothing).
    pub fn refuse(&mut self, kind: Kind, line: u64, field: &str, reason: String) {
        let file = self.files.get(&kind).cloned().unwrap_or_else(|| kind.name().to_string());
        self.rejected.push(Rejected { file, line, field: Some(field.into()), reason });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_by_header_name_with_bad_rows_reported() {
        let mut b = Batch::default();
        b.add(
            "customers.csv",
            "timezone,phone,id,name,tier\n\
             Asia/Kolkata,+919812345678,C1,Asha,gold\n\
             Asia/Kathmandu,+9779812345678,C2,\"Ram, Jr\",\n\
             Europe/Nowhere,+447700900123,C3,Ann,\n\
             Asia/Kolkata,+919812345679,C1,Dup,\n\
             Asia/Kolkata,+919812345670\n",
        );
        let ids: Vec<&str> = b.customers.iter().map(|l| l.row.id.as_str()).collect();
        assert_eq!(ids, ["C1", "C2"]);
        assert_eq!(b.customers[1].row.name, "Ram, Jr");
        assert_eq!(b.customers[0].row.extra["tier"], "gold");
        let why: Vec<(u64, Option<&str>)> = b.rejected.iter().map(|r| (r.line, r.field.as_deref())).collect();
        assert_eq!(why, [(4, Some("timezone")), (5, Some("id")), (6, None)]);
        assert!(b.rejected[1].reason.contains("first on line 2"), "{}", b.rejected[1].reason);
        assert!(b.rejected[2].reason.contains("2 fields where the header has 5"), "{}", b.rejected[2].reason);
    }

    #[test]
    fn jsonl_with_arrays_and_garbage() {
        let mut b = Batch::default();
        b.add(
            "deliveries.jsonl",
            "{\"order_id\":\"O1\",\"status\":\"failed\",\"next_slots\":[\"Fri 10-13\",\"Sat 14-18\"],\"attempt\":2}\n\
             \n\
             [1,2]\n\
             {\"order_id\": \"O2\", \"status\"\n",
        );
        assert_eq!(b.deliveries.len(), 1);
        assert_eq!(b.deliveries[0].row.next_slots, ["Fri 10-13", "Sat 14-18"]);
        assert_eq!(b.deliveries[0].row.extra["attempt"], "2");
        let lines: Vec<u64> = b.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 4]);
        assert!(b.rejected[1].reason.starts_with("not JSON"));
    }

    #[test]
    fn unknown_files_and_bad_csv() {
        let mut b = Batch::default();
        b.add("payments.csv", "id\n1\n");
        b.add("tickets.csv", "id,id\nT1,T2\n");
        b.add("orders.csv", "id,customer_id\n\"O1,C1\n");
        assert_eq!(b.rejected.len(), 3, "{:?}", b.rejected);
        assert!(b.rejected[0].reason.starts_with("not an import file"));
        assert_eq!(b.rejected[1].field.as_deref(), Some("id"));
        assert!(b.orders.is_empty());
    }
}
