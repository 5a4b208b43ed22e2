//! The reference state machine (property 10).
