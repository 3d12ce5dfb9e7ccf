//! The campaign engine, sans-IO like the call core: the CRM data it decides on (`crm`),
//! what makes a call due (`triggers`), when a customer may be called (`window`) and the
//! one calling policy for every flow (`policy`). The scheduler, dialer and outbox join
//! them.

pub mod context;
pub mod crm;
pub mod outbox;
pub mod policy;
pub mod retry;
pub mod schedule;
pub mod triggers;
pub mod window;
