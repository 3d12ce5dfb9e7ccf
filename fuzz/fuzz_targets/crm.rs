//! Any bytes as any import file, or as an event: rows are read or refused with a line,
//! never a panic; every refusal names its file and every kept row a line that exists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voxline::campaign::crm::Batch;

const FILES: [&str; 10] = [
    "customers.csv",
    "customers.jsonl",
    "orders.csv",
    "orders.jsonl",
    "returns.csv",
    "returns.jsonl",
    "deliveries.csv",
    "deliveries.jsonl",
    "tickets.csv",
    "tickets.jsonl",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let Some(&file) = FILES.get(pick as usize % (FILES.len() + 1)) else {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
            let _ = voxline::campaign::crm::events::parse(&value);
        }
        return;
    };
    let mut batch = Batch::default();
    batch.add(file, &text);
    let lines = text.bytes().filter(|&b| b == b'\n' || b == b'\r').count() as u64 + 1;
    assert!(batch.rejected.iter().all(|r| r.file == file && r.line <= lines));
    let kept = batch.customers.len() + batch.orders.len() + batch.returns.len() + batch.deliveries.len() + batch.tickets.len();
    assert!(kept as u64 <= lines);
});
