//! CRM data in: the five import kinds as typed rows (`rows`), their field values
//! (`fields`) and the import files (`files`). Pure: the store writes what these read.

pub mod events;
pub mod fields;
pub mod files;
pub mod rows;

pub use files::{Batch, Format, Kind, Line, Rejected};
pub use rows::{Columns, Customer, Delivery, Order, Return, RowError, Ticket};

/// Reads every import file in `dir` (`customers.csv`, `orders.jsonl`, ...); other files
/// are left alone. A file that cannot be read is refused as a whole.
pub fn read_dir(dir: &std::path::Path) -> std::io::Result<Batch> {
    let mut batch = Batch::default();
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| Kind::of_file(n).is_some())
        .collect();
    names.sort();
    for name in names {
        match std::fs::read(dir.join(&name)).map(String::from_utf8) {
            Ok(Ok(text)) => batch.add(&name, &text),
            Ok(Err(_)) => {
                batch.rejected.push(Rejected { file: name, line: 0, field: None, reason: "not UTF-8".into() })
            }
            Err(e) => batch.rejected.push(Rejected { file: name, line: 0, field: None, reason: e.to_string() }),
        }
    }
    Ok(batch)
}
