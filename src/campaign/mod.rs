//! The campaign engine: the CRM data it decides on (`crm`); triggers, the calling policy,
//! retries, the dialer and the outbox join it.

pub mod crm;
