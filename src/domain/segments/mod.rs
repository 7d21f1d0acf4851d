//! Segments: customer groups defined by a condition over customer facts. A segment's
//! condition is compiled to SQL ([`crate::domain::conditions::sql`]), so a group is counted
//! and listed with one statement over the customers table, never a customer at a time.

pub mod preview;
