//! Call-core tests on a virtual clock with deterministic engine doubles: no models,
//! no sleeps, no wall-clock reads.

mod answering;
mod driver;
mod harness;
mod turns;
